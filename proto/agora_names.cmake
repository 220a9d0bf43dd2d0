# Turns protoc-c's mesos.pb-c.{h,c} (IN_DIR) into the ones Agora builds and
# installs (OUT_DIR): the header gains, ahead of the generated text, one
# #define per external symbol that moves it into the agora_ namespace
# (mesos__v1__offer__unpack -> agora_mesos__v1__offer__unpack). Every user
# of the header, Agora's own code as a framework's, keeps writing the
# protoc-c names, while libagora-scheduler exports only agora_* symbols and
# never collides with another copy of the Mesos protobuf-c code in the same
# program. The .c file is copied unchanged (it includes "mesos.pb-c.h", so
# it must sit beside the renamed header).
#
#   cmake -DIN_DIR=... -DOUT_DIR=... -P agora_names.cmake
file(READ ${IN_DIR}/mesos.pb-c.h text)
# Everything lower-case that starts with mesos__v1__ is a function, a
# descriptor or a default value (types and enum values are upper-case).
string(REGEX MATCHALL "mesos__v1__[a-z0-9_]+" names "${text}")
list(REMOVE_DUPLICATES names)
list(SORT names)
set(out "/* agora/mesos.pb-c.h: the Mesos v1 messages (proto/mesos.proto, compiled by
 * protoc-c) that agora/scheduler.h uses. Generated at build time and
 * installed with libagora-scheduler. The functions and descriptors below
 * keep their protoc-c names in source code; these macros give them
 * agora_-prefixed link names, which are the ones libagora-scheduler exports. */
#ifndef AGORA_MESOS_PB_C_NAMES
#define AGORA_MESOS_PB_C_NAMES
")
foreach(n ${names})
  string(APPEND out "#define ${n} agora_${n}\n")
endforeach()
string(APPEND out "#endif
/* A framework built with -fvisibility=hidden still links these from the
 * shared library. */
#pragma GCC visibility push(default)
")
string(APPEND out "${text}")
string(APPEND out "#pragma GCC visibility pop\n")
# Only rewrite when different, so a re-run does not rebuild everything.
set(old "")
if(EXISTS ${OUT_DIR}/mesos.pb-c.h)
  file(READ ${OUT_DIR}/mesos.pb-c.h old)
endif()
if(NOT old STREQUAL out)
  file(WRITE ${OUT_DIR}/mesos.pb-c.h "${out}")
endif()
configure_file(${IN_DIR}/mesos.pb-c.c ${OUT_DIR}/mesos.pb-c.c COPYONLY)
