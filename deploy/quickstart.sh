#!/usr/bin/env bash
# Quickstart: build Agora, bring up a standalone cluster (one master, three
# slaves) on 127.0.0.1, run the agora-batch example framework on it, start
# Pacer and deploy a sample long-running app (a Docker web app behind a
# health check when Docker answers, a process web app otherwise), start
# pacer-lb so that the app answers on its service port through HAProxy, and
# leave it all running.
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
PACER_PORT=${AGORA_QUICKSTART_PACER_PORT:-8080}

. deploy/lib.sh

stop() {
  [ -d "$RUN" ] || { echo "no quickstart cluster in $RUN"; return 0; }
  # Pacer's apps run until deleted (tasks outlive their slaves' restarts):
  # delete them first so that no task or container is left behind.
  if [ -s "$RUN/pacer.port" ] && [ -e "$RUN/pacer.pid" ] && kill -0 "$(cat "$RUN/pacer.pid")" 2>/dev/null; then
    local P=http://127.0.0.1:$(cat "$RUN/pacer.port")
    curl -sf -X DELETE "$P/v2/apps/hello?force=true" >/dev/null 2>&1 || true
    for _ in $(seq 50); do
      [ "$(curl -sf "$P/v2/deployments" 2>/dev/null || echo '[]')" = "[]" ] && break
      sleep 0.2
    done
  fi
  stop_pids "$RUN"/pacer.pid "$RUN"/*.pid
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
# start). Without AGORA_QUICKSTART_DOCKER_IMAGE the image is built here
# from busybox-static, so no registry is needed.
image=${AGORA_QUICKSTART_DOCKER_IMAGE:-agora-quickstart-busybox:latest}
docker=0
if docker info >/dev/null 2>&1 && local_busybox_image "$image"; then
  docker=1
  echo "running 3 Docker tasks ($image) with agora-batch --docker_image..."
  build/bin/agora-batch --master="127.0.0.1:$port" --tasks=3 --name=agora-batch-docker \
    --docker_image="$image" --cmd='echo hello from container $MESOS_CONTAINER_ID' \
    --cpus=0.1 --mem=32 --timeout=5mins \
    || echo "the Docker demo failed (no registry? set AGORA_QUICKSTART_DOCKER_IMAGE)"
fi

# Pacer, and one long-running app behind a health check.
setsid build/bin/agora-pacer --master="127.0.0.1:$port" --ip=127.0.0.1 --http_port="$PACER_PORT" \
  --port_file="$RUN/pacer.port" --work_dir="$RUN/pacer" \
  >"$RUN/pacer.log" 2>&1 </dev/null &
echo $! >"$RUN/pacer.pid"
pacer=$(wait_port "$RUN/pacer.port")
P=http://127.0.0.1:$pacer
if [ "$docker" = 1 ]; then
  app='{"id": "/hello", "instances": 2, "cpus": 0.1, "mem": 32,
        "cmd": "exec httpd -f -v -p 80 -h /www",
        "container": {"type": "DOCKER", "docker": {"image": "'"$image"'"},
                      "portMappings": [{"containerPort": 80, "hostPort": 0}]},
        "networks": [{"mode": "container/bridge"}],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/index.html", "portIndex": 0,
                          "intervalSeconds": 2, "gracePeriodSeconds": 30, "delaySeconds": 0}]}'
  kind="a Docker web app ($image, BRIDGE)"
else
  app='{"id": "/hello", "instances": 2, "cpus": 0.1, "mem": 32,
        "cmd": "exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1",
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                          "intervalSeconds": 2, "gracePeriodSeconds": 30, "delaySeconds": 0}]}'
  kind="a process web app (python3 -m http.server)"
fi
echo "deploying /hello on Pacer: $kind..."
curl -sf -X PUT -H 'Content-Type: application/json' -d "$app" "$P/v2/apps/hello" >/dev/null
healthy=0
for _ in $(seq 120); do
  healthy=$(curl -sf "$P/v2/apps/hello" | json_get 'j["app"]["tasksHealthy"]' || echo 0)
  [ "$healthy" = 2 ] && break
  sleep 0.5
done
[ "$healthy" = 2 ] || { echo "/hello did not become healthy; see $RUN/pacer.log" >&2; exit 1; }
hp=$(curl -sf "$P/v2/apps/hello/tasks" | json_get 'j["tasks"][0]["ports"][0]')
curl -sf "http://127.0.0.1:$hp/" >/dev/null || { echo "/hello does not answer on 127.0.0.1:$hp" >&2; exit 1; }

# pacer-lb: HAProxy routing /hello's service port to its instances (it
# starts HAProxy itself; the frontends bind 127.0.0.1 only).
lb_line="  (no HAProxy: install haproxy for pacer-lb)"
if [ -x /usr/sbin/haproxy ]; then
  setsid build/bin/agora-pacer-lb --marathon="$P" --work_dir="$RUN/lb" --bind=127.0.0.1 \
    --ip=127.0.0.1 --port=0 --port_file="$RUN/lb.port" \
    >"$RUN/lb.log" 2>&1 </dev/null &
  echo $! >"$RUN/lb.pid"
  lb=$(wait_port "$RUN/lb.port")
  sp=$(curl -sf "$P/v2/apps/hello" | json_get '[p.get("servicePort", p.get("port")) for p in (j["app"].get("portDefinitions") or j["app"]["container"]["portMappings"])][0]')
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$sp/" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -sf "http://127.0.0.1:$sp/" >/dev/null \
    || { echo "/hello does not answer through HAProxy on 127.0.0.1:$sp; see $RUN/lb.log" >&2; exit 1; }
  lb_line="  through HAProxy (pacer-lb): http://127.0.0.1:$sp/   (pacer-lb status: http://127.0.0.1:$lb/status, HAProxy stats: http://127.0.0.1:9090/haproxy?stats)"
fi

cat <<MSG

Agora is running: master on 127.0.0.1:$port with 3 slaves, Pacer on $P.
  web UI:   http://127.0.0.1:$port/
  Pacer UI: $P/ui/
  state:    curl http://127.0.0.1:$port/master/state
  apps:     curl $P/v2/apps
  /hello:   2 healthy instances; one answers on http://127.0.0.1:$hp/
$lb_line
  events:   curl -H 'Accept: text/event-stream' $P/v2/events
  logs:     $RUN/*.log
  stop:     deploy/quickstart.sh stop
MSG
