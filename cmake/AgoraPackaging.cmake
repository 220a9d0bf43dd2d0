# What `cmake --install` puts where, and the Debian packages that
# `cmake --build build --target package` makes of it (CPack, DEB generator,
# one package per install component):
#
#   agora                    agora-master, agora-slave, agora-pacer,
#                            agora-batch, the `agora` CLI; their systemd
#                            units; /etc/default/agora-{master,slave,pacer}
#                            and the examples of /etc/agora (conffiles)
#   agora-pacer-lb           agora-pacer-lb, its unit and
#                            /etc/default/agora-pacer-lb; Recommends haproxy
#   libagora-scheduler1      libagora-scheduler.so.1 (component sched,
#                            frameworks/scheduler/CMakeLists.txt)
#   libagora-scheduler-dev   headers, the .so link, libagora-scheduler.a,
#                            the .pc files, the CMake package (sched_dev)
#
# A plain `cmake --install build [--prefix DIR]` installs the SDK alone,
# relocatable (tests/system/test_sdk.py moves it). Everything here is
# EXCLUDE_FROM_ALL: installed by a component install only (CPack's, or
# `cmake --install build --component agora`), since the units name their
# programs by absolute path and the /etc files are outside any prefix.
# docs/operations.md describes the packages for operators.
include(GNUInstallDirs)

set(AGORA_DEPLOY ${CMAKE_SOURCE_DIR}/deploy)

# Programs. The CLI (cli/) and Pacer are installed when this tree has them.
set(AGORA_PROGRAMS agora-master agora-slave agora-pacer agora-batch agora)
foreach(prog ${AGORA_PROGRAMS})
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agora
      EXCLUDE_FROM_ALL)
  endif()
endforeach()
install(TARGETS agora-pacer-lb RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT pacer_lb
  EXCLUDE_FROM_ALL)

# systemd units: ExecStart names the bindir of the prefix installed to,
# known only at install time (/usr for the .deb, /usr/local by hand), so
# the units are filled in then, into the build tree, and installed from
# there. systemd reads units from /usr/lib and /usr/local/lib alike.
set(AGORA_UNIT_DIR ${CMAKE_BINARY_DIR}/systemd)
function(agora_install_unit name component)
  set(in ${AGORA_DEPLOY}/systemd/${name}.service.in)
  set(out ${AGORA_UNIT_DIR}/${component}/${name}.service)
  install(CODE "
    set(AGORA_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    configure_file(\"${in}\" \"${out}\" @ONLY)"
    COMPONENT ${component} EXCLUDE_FROM_ALL)
  install(FILES ${out} DESTINATION lib/systemd/system COMPONENT ${component} EXCLUDE_FROM_ALL)
  # The environment file the unit reads, a conffile of the package.
  install(FILES ${AGORA_DEPLOY}/systemd/${name}.default DESTINATION /etc/default
    RENAME ${name} COMPONENT ${component} EXCLUDE_FROM_ALL)
  set_property(GLOBAL APPEND PROPERTY AGORA_CONFFILES_${component} /etc/default/${name})
endfunction()
agora_install_unit(agora-master agora)
agora_install_unit(agora-slave agora)
agora_install_unit(agora-pacer agora)
agora_install_unit(agora-pacer-lb pacer_lb)

# Example configuration: the formats of the files the flags name.
set(AGORA_ETC_EXAMPLES ${AGORA_DEPLOY}/etc/agora/credentials.example
  ${AGORA_DEPLOY}/etc/agora/acls.json.example ${AGORA_DEPLOY}/systemd/zoo.cfg.example)
install(FILES ${AGORA_ETC_EXAMPLES} DESTINATION /etc/agora COMPONENT agora EXCLUDE_FROM_ALL)
foreach(f ${AGORA_ETC_EXAMPLES})
  get_filename_component(base ${f} NAME)
  set_property(GLOBAL APPEND PROPERTY AGORA_CONFFILES_agora /etc/agora/${base})
endforeach()

install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/operations.md
  ${CMAKE_SOURCE_DIR}/docs/security.md
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/agora COMPONENT agora EXCLUDE_FROM_ALL)
# Every package carries the licence as /usr/share/doc/<package>/copyright.
foreach(comp_pkg agora:agora pacer_lb:agora-pacer-lb sched:libagora-scheduler1
                 sched_dev:libagora-scheduler-dev)
  string(REPLACE ":" ";" comp_pkg ${comp_pkg})
  list(GET comp_pkg 0 comp)
  list(GET comp_pkg 1 pkg)
  install(FILES ${CMAKE_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${pkg}
    RENAME copyright COMPONENT ${comp} EXCLUDE_FROM_ALL)
endforeach()

# ------------------------------------------------------------------ CPack
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME agora)
set(CPACK_PACKAGE_VENDOR "Agora")
set(CPACK_PACKAGE_CONTACT "Agora maintainers <maintainers@agora.invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/packages)
set(CPACK_COMPONENTS_ALL agora pacer_lb sched sched_dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://agora.invalid/")
# Depends from the ELF files' NEEDED entries (dpkg-shlibdeps, package
# dpkg-dev): libevent, jansson, libcurl, protobuf-c, libzookeeper-mt,
# OpenSSL, zlib, libuuid, at the versions this machine built against.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Binaries and libraries stripped; their debug information goes into
# <package>-dbgsym .ddeb files beside them, as Debian's own packages do.
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
# Maintainer scripts are installed 0755 and conffiles 0644, whatever the
# checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# A shlibs file for libagora-scheduler1, so frameworks packaged against it
# get their Depends from dpkg-shlibdeps too.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# Packages that depend on libagora-scheduler1 get a versioned Depends.
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_AGORA_PACKAGE_NAME agora)
set(CPACK_DEBIAN_AGORA_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_AGORA_PACKAGE_DEPENDS "adduser")
# ZooKeeper for an HA quorum, Docker for Docker tasks.
set(CPACK_DEBIAN_AGORA_PACKAGE_SUGGESTS "zookeeper, docker.io")
set(CPACK_DEBIAN_AGORA_DESCRIPTION
  "Agora cluster manager: master, slave, Pacer and the agora CLI\n\
A two-level resource-offer cluster manager in the style of Apache Mesos:\n\
agora-master (ZooKeeper-elected, Mesos v1 scheduler and operator APIs, web\n\
UI), agora-slave (process and Docker tasks, checkpointing and recovery),\n\
agora-pacer (Marathon-compatible long-running services, web UI at /ui),\n\
agora-batch (an example batch framework) and the agora command line, with\n\
systemd units and their /etc/default files.")

set(CPACK_DEBIAN_PACER_LB_PACKAGE_NAME agora-pacer-lb)
set(CPACK_DEBIAN_PACER_LB_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACER_LB_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACER_LB_PACKAGE_RECOMMENDS "haproxy (>= 2.4)")
set(CPACK_DEBIAN_PACER_LB_DESCRIPTION
  "HAProxy configured from Pacer or Marathon apps\n\
agora-pacer-lb follows Pacer's (or Marathon's) apps and keeps an HAProxy\n\
routing every app's service port to its healthy tasks, through HAProxy's\n\
runtime API where it can and validated seamless reloads where it must.")

set(CPACK_DEBIAN_SCHED_PACKAGE_NAME libagora-scheduler1)
set(CPACK_DEBIAN_SCHED_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_SCHED_DESCRIPTION
  "C scheduler library of Agora frameworks\n\
libagora-scheduler speaks the Mesos v1 scheduler HTTP API (JSON or\n\
protobuf over RecordIO) to an Agora master, standalone or through ZooKeeper.")

set(CPACK_DEBIAN_SCHED_DEV_PACKAGE_NAME libagora-scheduler-dev)
set(CPACK_DEBIAN_SCHED_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_SCHED_DEV_DEPENDS sched)
# agora-scheduler.pc requires these modules (pkg-config reads them even
# for a shared link), and the static library links against them.
set(CPACK_DEBIAN_SCHED_DEV_PACKAGE_DEPENDS
  "libprotobuf-c-dev, libevent-dev, libjansson-dev, libssl-dev, libzookeeper-mt-dev")
# A framework's tests with the test kit (include/agora/testkit.h) run
# agora-master and agora-slave from the PATH.
set(CPACK_DEBIAN_SCHED_DEV_PACKAGE_SUGGESTS "agora")
set(CPACK_DEBIAN_SCHED_DEV_DESCRIPTION
  "C scheduler library of Agora frameworks (development files)\n\
Headers (include/agora/scheduler.h, agora/mesos.pb-c.h), the static\n\
library, agora-scheduler.pc, agora-scheduler-static.pc and the CMake\n\
package AgoraScheduler (find_package(AgoraScheduler 1)).")

# Maintainer scripts (deploy/debian/) and conffiles of the daemons' packages.
foreach(comp agora pacer_lb)
  string(TOUPPER ${comp} COMP)
  get_property(conffiles GLOBAL PROPERTY AGORA_CONFFILES_${comp})
  string(REPLACE ";" "\n" conffiles "${conffiles}")
  file(WRITE ${CMAKE_BINARY_DIR}/debian/${comp}/conffiles "${conffiles}\n")
  set(CPACK_DEBIAN_${COMP}_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/debian/${comp}/conffiles
    ${AGORA_DEPLOY}/debian/postinst ${AGORA_DEPLOY}/debian/prerm ${AGORA_DEPLOY}/debian/postrm)
endforeach()

include(CPack)
