#!/usr/bin/env bash
# keepalive.sh BIN_DIR [TASKS]: one real cluster on 127.0.0.1 (agora-master,
# 3 agora-slaves, isolation none) and agora-batch --tasks=TASKS --cmd=true;
# prints "tasks/s accepts" where accepts counts the connections the master
# accepted while the batch ran (strace --seccomp-bpf stops on accept4 only,
# so the master runs at full speed otherwise). Used for the "HTTP
# keep-alive" figures in tests/bench/README.md, run alternately on the
# binaries before and after the pool.
set -euo pipefail
BIN=$1
TASKS=${2:-2000}
RUN=$(mktemp -d /tmp/agora-keepalive.XXXXXX)
pids=()
cleanup() {
  local p
  # strace leaves its tracee running when killed: end the master first.
  for p in $(ps -o pid= --ppid "${pids[0]}" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }

strace --seccomp-bpf -f -qq -e trace=accept4,accept -e signal=none -o "$RUN/accepts" \
  "$BIN/agora-master" --ip=127.0.0.1 --port=0 --port_file="$RUN/master.port" \
  --work_dir="$RUN/master" >"$RUN/master.log" 2>&1 &
pids+=($!)
wait_file "$RUN/master.port"
port=$(cat "$RUN/master.port")
for i in 1 2 3; do
  "$BIN/agora-slave" --master="127.0.0.1:$port" --port=0 --port_file="$RUN/slave$i.port" \
    --work_dir="$RUN/slave$i" --isolation=none --hostname="slave$i" \
    --resources="cpus:8;mem:8192;disk:4096;ports:[3${i}000-3${i}999]" >"$RUN/slave$i.log" 2>&1 &
  pids+=($!)
  wait_file "$RUN/slave$i.port"
done
sleep 1 # the slaves register
before=$(grep -cE 'accept4?\(.*\) = [0-9]+$' "$RUN/accepts" || true)
out=$("$BIN/agora-batch" --master="127.0.0.1:$port" --tasks="$TASKS" --cmd=true --cpus=0.01 \
  --mem=1 --timeout=300secs)
after=$(grep -cE 'accept4?\(.*\) = [0-9]+$' "$RUN/accepts" || true)
rate=$(echo "$out" | sed -n 's/.*(\([0-9.]*\) tasks\/s).*/\1/p')
echo "$rate $((after - before))"
