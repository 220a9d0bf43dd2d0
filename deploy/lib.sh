# Shell helpers shared by deploy/quickstart.sh and deploy/ha-example.sh.
# Source it after setting RUN (the folder of pid files, logs and ports).

# stop_pids FILE...: end each process named by a pid file, in the order
# given, waiting (bounded) for it to exit so its ports are free again.
stop_pids() {
  local f pid
  for f in "$@"; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
}

# wait_port FILE: wait (bounded) for a daemon to write the port it bound
# (--port_file), then print it.
wait_port() {
  for _ in $(seq 100); do
    if [ -s "$1" ]; then cat "$1"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

# build_agora: install what is missing and build into build/.
build_agora() {
  bash deploy/install-deps.sh
  cmake -S . -B build >/dev/null
  cmake --build build -j2 >/dev/null
}

# start_slaves MASTER [FLAG...]: three slaves (slave1..3) following MASTER
# (HOST:PORT or zk://...), each with its own port range, pid and log, and
# the extra flags given.
start_slaves() {
  local i master=$1
  shift
  for i in 1 2 3; do
    setsid build/bin/agora-slave --master="$master" --port=0 "$@" \
      --port_file="$RUN/slave$i.port" --work_dir="$RUN/slave$i" \
      --resources="cpus:2;mem:2048;disk:4096;ports:[3${i}000-3${i}999]" --hostname="slave$i" \
      --docker_publish_ip=127.0.0.1 \
      >"$RUN/slave$i.log" 2>&1 </dev/null &
    echo $! >"$RUN/slave$i.pid"
    wait_port "$RUN/slave$i.port" >/dev/null
  done
}

# local_busybox_image NAME: a Docker image made here from Debian's
# busybox-static (no registry needed), with /www/index.html for httpd.
local_busybox_image() {
  local root
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  [ -x /bin/busybox ] || { echo "busybox-static is not installed" >&2; return 1; }
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/www" "$root/etc" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
  echo "hello from agora" >"$root/www/index.html"
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$1" >/dev/null
  rm -rf "$root"
}

# json_get EXPR: read JSON on stdin and print the Python expression EXPR
# of it (j is the document), e.g. json_get 'j["app"]["tasksHealthy"]'.
json_get() {
  /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}
