#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, builds
# warning-free (-Werror), runs the unit tests under ASan/UBSan, runs each
# fuzz target briefly, then the system tests against the real binaries.
#
#   tests/run.sh               everything
#   tests/run.sh -k batch      extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-2}

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

step "fuzz targets (${FUZZ_SECONDS:-20}s each)"
CC=clang cmake -S . -B build-fuzz -DAGORA_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$JOBS" --target $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
for f in build-fuzz/fuzz/fuzz_*; do
  corpus="tests/fuzz/corpus/$(basename "$f")"
  mkdir -p "build-fuzz/corpus-$(basename "$f")"
  dirs=("build-fuzz/corpus-$(basename "$f")")
  [ -d "$corpus" ] && dirs+=("$corpus")
  "$f" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=1024 "${dirs[@]}" 2>build-fuzz/$(basename "$f").log \
    || { tail -50 build-fuzz/$(basename "$f").log; exit 1; }
  echo "$(basename "$f"): $(grep -c '' build-fuzz/$(basename "$f").log) log lines, no crash"
done

step "system tests"
# test_package.py installs the .deb packages into this machine and purges
# them again: only as root (CI's throwaway machines; set it to 0 to skip).
if [ "$(id -u)" = 0 ]; then export AGORA_TEST_SYSTEM_INSTALL=${AGORA_TEST_SYSTEM_INSTALL:-1}; fi
AGORA_BUILD_DIR="$ROOT/build" /usr/bin/python3 -m pytest -v -rs tests/system "$@"
