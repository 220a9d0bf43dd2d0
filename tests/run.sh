#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, builds
# warning-free (-Werror), runs the unit tests under ASan/UBSan, runs each
# fuzz target briefly, then the system tests against the real binaries.
#
#   tests/run.sh               everything
#   tests/run.sh -k batch      extra arguments go to pytest
#   tests/run.sh --sanitize    the system tests against the ASan+UBSan build
#                              (build-asan) too: every daemon the tests start
#                              is sanitized, and a test whose daemon logged a
#                              sanitizer report fails (about twice as slow)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-2}
SYSTEM_BUILD="$ROOT/build"
if [ "${1:-}" = "--sanitize" ]; then
  shift
  SYSTEM_BUILD="$ROOT/build-asan"
  # Reports go to the daemons' logs (the harness reads them); leaks too,
  # at the SIGTERM every test ends its daemons with.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:log_path=stderr}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
fi

bash deploy/install-deps.sh

step() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)"; }

step "build (-Werror)"
cmake -S . -B build -DAGORA_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"

step "unit tests (ASan + UBSan)"
cmake -S . -B build-asan -DAGORA_WERROR=ON -DAGORA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$JOBS"

# 13 targets at 10 s: about 2.5 minutes. Each starts from its committed
# seed corpus and dictionary (tests/fuzz/README.md); new inputs go to
# build-fuzz/corpus-<target>, never into the committed one.
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
step "fuzz targets (${FUZZ_SECONDS}s each)"
CC=clang cmake -S . -B build-fuzz -DAGORA_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$JOBS" --target $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  f=build-fuzz/fuzz/$name
  mkdir -p "build-fuzz/corpus-$name"
  dirs=("build-fuzz/corpus-$name")
  [ -d "tests/fuzz/corpus/$name" ] && dirs+=("tests/fuzz/corpus/$name")
  opts=(-max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 -artifact_prefix="build-fuzz/$name-")
  [ -f "tests/fuzz/dict/$name.dict" ] && opts+=(-dict="tests/fuzz/dict/$name.dict")
  "$f" "${opts[@]}" "${dirs[@]}" 2>"build-fuzz/$name.log" \
    || { tail -50 "build-fuzz/$name.log"; exit 1; }
  echo "$name: $(grep -a -o 'cov: [0-9]* ft: [0-9]*' "build-fuzz/$name.log" | tail -1), no crash"
done

step "system tests"
# test_package.py installs the .deb packages into this machine and purges
# them again: only as root (CI's throwaway machines; set it to 0 to skip).
if [ "$(id -u)" = 0 ]; then export AGORA_TEST_SYSTEM_INSTALL=${AGORA_TEST_SYSTEM_INSTALL:-1}; fi
AGORA_BUILD_DIR="$SYSTEM_BUILD" /usr/bin/python3 -m pytest -v -rs --durations=25 tests/system "$@"
