#!/usr/bin/env bash
# Quickstart: build Agora, bring up a standalone cluster (one master, three
# slaves) on 127.0.0.1, run the agora-batch example framework on it, and
# leave the cluster running.
#
#   deploy/quickstart.sh          install, build, start, run the demo
#   deploy/quickstart.sh stop     stop the cluster (and its tasks)
#
# State, logs and pids live in deploy/.quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/deploy/.quickstart
MASTER_PORT=${AGORA_QUICKSTART_PORT:-5050}
TASKS=${AGORA_QUICKSTART_TASKS:-50}

. deploy/lib.sh

stop() {
  [ -d "$RUN" ] || { echo "no quickstart cluster in $RUN"; return 0; }
  stop_pids "$RUN"/*.pid
  echo "quickstart cluster stopped"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi

build_agora
stop >/dev/null
mkdir -p "$RUN"

rm -f "$RUN"/*.port
setsid build/bin/agora-master --ip=127.0.0.1 --port="$MASTER_PORT" \
  --port_file="$RUN/master.port" --work_dir="$RUN/master" \
  >"$RUN/master.log" 2>&1 </dev/null &
echo $! >"$RUN/master.pid"
port=$(wait_port "$RUN/master.port")
start_slaves "127.0.0.1:$port"

echo "running $TASKS tasks with agora-batch..."
build/bin/agora-batch --master="127.0.0.1:$port" --tasks="$TASKS" \
  --cmd='echo hello from $MESOS_TASK_ID' --cpus=0.1 --mem=32

# Docker tasks too when a Docker engine answers (the slaves found it at
# start); the image is pulled if absent, so this needs a reachable registry
# or a local image (AGORA_QUICKSTART_DOCKER_IMAGE).
if docker info >/dev/null 2>&1; then
  image=${AGORA_QUICKSTART_DOCKER_IMAGE:-busybox:latest}
  echo "running 3 Docker tasks ($image) with agora-batch --docker_image..."
  build/bin/agora-batch --master="127.0.0.1:$port" --tasks=3 --name=agora-batch-docker \
    --docker_image="$image" --cmd='echo hello from container $MESOS_CONTAINER_ID' \
    --cpus=0.1 --mem=32 --timeout=5mins \
    || echo "the Docker demo failed (no registry? set AGORA_QUICKSTART_DOCKER_IMAGE)"
fi

cat <<MSG

Agora is running: master on 127.0.0.1:$port with 3 slaves.
  state:  curl http://127.0.0.1:$port/master/state
  logs:   $RUN/*.log
  stop:   deploy/quickstart.sh stop
MSG
