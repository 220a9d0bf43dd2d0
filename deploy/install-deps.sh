#!/usr/bin/env bash
# Installs every Debian package that building and testing Agora needs.
# Idempotent: only missing packages are installed, and apt-get update runs
# only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libprotobuf-c-dev protobuf-c-compiler
  libevent-dev libjansson-dev libcurl4-openssl-dev uuid-dev libssl-dev
  zlib1g-dev  # the master registry is deflated (master/registry.c)
  # ZooKeeper: the multi-threaded C client (common/zk.c hands its callbacks
  # to the loop) and the server (+ Java) that the HA tests start themselves.
  libzookeeper-mt-dev zookeeper
  libcmocka-dev uthash-dev
  python3-pytest python3-pytest-timeout python3-requests python3-marathon
  procps curl
  dpkg-dev  # dpkg-shlibdeps: the Depends of the .deb packages (--target package)
  openssl  # the openssl tool: tests/system/test_tls.py makes its CA and certificates
)
# Browser tests of the web UIs (tests/ui, tests/system/test_ui_*.py):
# Debian's chromium, driven by playwright-core from npm (installed below
# into tests/ui; it never downloads a browser of its own). Some machines
# carry a nodejs that bundles npm: Debian's npm only where none is found.
if [ "${AGORA_WITH_BROWSER:-1}" = 1 ]; then
  PKGS+=(chromium fonts-dejavu-core nodejs)
  if ! command -v npm >/dev/null 2>&1; then PKGS+=(npm); fi
fi
# Docker tasks: the engine, and busybox-static for the tests' image.
if [ "${AGORA_WITH_DOCKER:-1}" = 1 ]; then PKGS+=(docker.io busybox-static); fi
# HAProxy: pacer-lb and its system test (opt out with AGORA_WITH_HAPROXY=0).
if [ "${AGORA_WITH_HAPROXY:-1}" = 1 ]; then PKGS+=(haproxy); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The browser tests' npm packages, exactly as locked in
# tests/ui/package-lock.json (node_modules is never committed).
UI_TESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/ui"
if [ "${AGORA_WITH_BROWSER:-1}" = 1 ] && [ ! -d "$UI_TESTS/node_modules/playwright-core" ]; then
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces; playwright-core
  # downloads nothing at install anyway.
  (cd "$UI_TESTS" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
