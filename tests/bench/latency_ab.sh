#!/usr/bin/env bash
# latency_ab.sh BASE_BIN NEW_BIN RUNS [SCENARIO...]: issue 14's latency
# figures, two agora-master builds run alternately (BASE_BIN: before the
# change, e.g. a6c3f98 with only the periodic --allocation_interval pass;
# NEW_BIN: after it), one fresh master per run, side by side in one sitting,
# both loaded by NEW_BIN's agora-bench. A scenario is SLAVES/FRAMEWORKS/TASKS/TASK_DURATION; defaults are
# the issue's two (1000/10/20000/100ms and 10000/100/500000/0secs). Prints
# one line per run: scenario, run, which master, then agora-bench's JSON line.
# OWN_BENCH=1: each side is loaded by its own build's agora-bench (for a
# change of the slave protocol, whose emulated slaves are in the bench).
set -euo pipefail
BASE=$1
NEW=$2
RUNS=${3:-3}
shift 3 || true
SCEN=("$@")
[ ${#SCEN[@]} -gt 0 ] || SCEN=(1000/10/20000/100ms 10000/100/500000/0secs)
RUN=$(mktemp -d /tmp/agora-latency.XXXXXX)
mpid=
cleanup() { [ -n "$mpid" ] && kill "$mpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$RUN"; }
trap cleanup EXIT
for s in "${SCEN[@]}"; do
  IFS=/ read -r slaves fws tasks dur <<<"$s"
  for r in $(seq "$RUNS"); do
    for which in base new; do
      if [ $which = base ]; then BIN=$BASE; else BIN=$NEW; fi
      rm -rf "$RUN/m"; rm -f "$RUN/port"
      "$BIN/agora-master" --ip=127.0.0.1 --port=0 --port_file="$RUN/port" --work_dir="$RUN/m" >"$RUN/master.log" 2>&1 &
      mpid=$!
      for _ in $(seq 200); do [ -s "$RUN/port" ] && break; sleep 0.05; done
      BENCH=$NEW/agora-bench
      [ "${OWN_BENCH:-0}" = 1 ] && BENCH=$BIN/agora-bench
      line=$("$BENCH" --master="127.0.0.1:$(cat "$RUN/port")" --master_pid="$mpid" \
        --slaves="$slaves" --frameworks="$fws" --tasks="$tasks" --task_duration="$dur" | tail -1)
      echo "$s run=$r master=$which $line"
      kill "$mpid"; wait "$mpid" 2>/dev/null || true; mpid=
    done
  done
done
