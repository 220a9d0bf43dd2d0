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
)
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
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
