#!/usr/bin/env bash
# HA example on one machine: a 3-node ZooKeeper ensemble (Debian's zookeeper
# package), three masters elected through it and three slaves that follow
# the leader, all on 127.0.0.1, then agora-batch through zk://, and three
# Pacer instances in a quorum (state and leader latch in ZooKeeper) with a
# sample app. For trying failover by hand (kill a leader and watch another
# take over).
#
#   deploy/ha-example.sh          install, build, start, run the demo
#   deploy/ha-example.sh secure   the same with TLS, authentication and ACLs
#                                 everywhere (README "Security"): a CA and
#                                 certificates, credentials and ACLs made in
#                                 deploy/.ha/secure/ and every daemon and
#                                 client configured with them
#   deploy/ha-example.sh stop     stop everything (ZooKeeper included)
#
# Ports: ZooKeeper clients 2181-2183 (quorum 2888-2890, election 3888-3890),
# masters 5050-5052, Pacer 8080-8082 (AGORA_HA_PACER_PORT), slaves any free port (AGORA_HA_{ZK,MASTER,QUORUM,
# ELECTION}_PORT move the ranges). State, logs, pids: deploy/.ha/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/deploy/.ha
ZK_BASE=${AGORA_HA_ZK_PORT:-2181}
MASTER_BASE=${AGORA_HA_MASTER_PORT:-5050}
QUORUM_BASE=${AGORA_HA_QUORUM_PORT:-2888}
ELECTION_BASE=${AGORA_HA_ELECTION_PORT:-3888}
ZK_HOSTS="127.0.0.1:$ZK_BASE,127.0.0.1:$((ZK_BASE + 1)),127.0.0.1:$((ZK_BASE + 2))"
ZK_URL="zk://$ZK_HOSTS/agora"
PACER_BASE=${AGORA_HA_PACER_PORT:-8080}
PACER_ZK="zk://$ZK_HOSTS/pacer"

. deploy/lib.sh

stop() {
  [ -d "$RUN" ] || { echo "no HA example in $RUN"; return 0; }
  # Pacer's app first (its tasks would outlive the slaves), through any
  # live instance; then Pacer, slaves and masters (a leader closes its
  # session), ZooKeeper last.
  local f c=(curl -sf) sch=http
  if [ -f "$RUN/secure/ca.pem" ]; then # started with "secure"
    c=(curl -sf --cacert "$RUN/secure/ca.pem" -u "ops:$(cat "$RUN/secure/ops.secret")")
    sch=https
  fi
  for f in "$RUN"/pacer*.port; do
    [ -s "$f" ] || continue
    if "${c[@]}" -X DELETE "$sch://127.0.0.1:$(cat "$f")/v2/apps/sleeper?force=true" >/dev/null 2>&1; then
      for _ in $(seq 50); do
        [ "$("${c[@]}" "$sch://127.0.0.1:$(cat "$f")/v2/deployments" 2>/dev/null || echo '[]')" = "[]" ] && break
        sleep 0.2
      done
      break
    fi
  done
  stop_pids "$RUN"/pacer*.pid "$RUN"/slave*.pid "$RUN"/master*.pid "$RUN"/zk*.pid
  echo "HA example stopped"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
SECURE=0
[ "${1:-}" = secure ] && SECURE=1

# secure_setup: the CA, one certificate for 127.0.0.1 that every daemon
# serves, the credentials file of every principal, the ACLs. Sets the
# flag arrays each daemon and client gets.
secure_setup() {
  local S=$RUN/secure
  mkdir -p "$S"
  (cd "$S"
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
     -keyout ca.key -out ca.pem -subj /CN=agora-example-ca 2>/dev/null
   openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
     -keyout node.key -out node.csr -subj /CN=127.0.0.1 2>/dev/null
   echo "subjectAltName=IP:127.0.0.1,DNS:localhost" >node.ext
   openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
     -extfile node.ext -out node.pem 2>/dev/null
   chmod 600 ./*.key)
  local p
  for p in agent pacer batch ops alice; do
    openssl rand -hex 16 >"$S/$p.secret"
  done
  # The master's and slaves' --credentials / --http_credentials: everyone.
  {
    echo '{"credentials": ['
    for p in agent pacer batch ops alice; do
      echo "  {\"principal\": \"$p\", \"secret\": \"$(cat "$S/$p.secret")\"}$([ $p = alice ] || echo ,)"
    done
    echo ']}'
  } >"$S/credentials.json"
  echo "{\"principal\": \"agent\", \"secret\": \"$(cat "$S/agent.secret")\"}" >"$S/agent.json"
  chmod 600 "$S"/*.secret "$S"/*.json
  # Master: only pacer and batch may register and run tasks; ops sees and
  # tears down everything and reads every sandbox; nothing else is allowed.
  cat >"$S/acls.json" <<JSON
{"permissive": false,
 "register_frameworks": [{"principals": {"values": ["pacer", "batch"]}, "roles": {"type": "ANY"}}],
 "run_tasks": [{"principals": {"values": ["pacer", "batch"]}, "users": {"type": "ANY"}}],
 "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}],
 "view_frameworks": [{"principals": {"values": ["ops", "agent", "pacer", "batch"]}, "users": {"type": "ANY"}}],
 "view_tasks": [{"principals": {"values": ["ops", "agent", "pacer", "batch"]}, "users": {"type": "ANY"}}],
 "view_containers": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
 "access_sandboxes": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]}
JSON
  # Pacer: ops changes every app, alice those under /team-a only.
  cat >"$S/pacer-acls.json" <<JSON
{"permissive": false,
 "change_apps": [{"principals": {"values": ["ops"]}, "app_ids": {"type": "ANY"}},
                 {"principals": {"values": ["alice"]}, "app_ids": {"values": ["/team-a"]}}]}
JSON
  TLS=(--ssl_cert="$S/node.pem" --ssl_key="$S/node.key" --ssl_ca="$S/ca.pem")
  MASTER_SEC=("${TLS[@]}" --credentials="$S/credentials.json" --acls="$S/acls.json"
              --authenticate_agents --authenticate_frameworks --authenticate_http_readonly)
  SLAVE_SEC=("${TLS[@]}" --credential="$S/agent.json" --http_credentials="$S/credentials.json"
             --authenticate_http_readonly --acls="$S/acls.json")
  BATCH_SEC=(--ssl_ca="$S/ca.pem" --principal=batch --secret="$(cat "$S/batch.secret")")
  PACER_SEC=("${TLS[@]}" --mesos_authentication_principal=pacer
             --mesos_authentication_secret_file="$S/pacer.secret" --acls="$S/pacer-acls.json"
             --http_credentials="ops:$(cat "$S/ops.secret"),alice:$(cat "$S/alice.secret")")
  CURL=(curl --cacert "$S/ca.pem")
  OPS=(-u "ops:$(cat "$S/ops.secret")")
  SCHEME=https
}
TLS=() MASTER_SEC=() SLAVE_SEC=() BATCH_SEC=() PACER_SEC=() CURL=(curl) OPS=() SCHEME=http

build_agora
stop >/dev/null
mkdir -p "$RUN"
rm -rf "$RUN/secure"
if [ $SECURE = 1 ]; then secure_setup; fi

# ZooKeeper: tickTime 500ms, so sessions may be as short as 1s.
servers=""
for i in 1 2 3; do
  servers+="server.$i=127.0.0.1:$((QUORUM_BASE + i - 1)):$((ELECTION_BASE + i - 1))"$'\n'
done
for i in 1 2 3; do
  d="$RUN/zk$i"
  mkdir -p "$d/data"
  echo "$i" >"$d/data/myid"
  cat >"$d/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=4
dataDir=$d/data
clientPort=$((ZK_BASE + i - 1))
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,stat,cons
$servers
CFG
  setsid java -Xmx128m -cp /usr/share/java/zookeeper.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
    >"$RUN/zk$i.log" 2>&1 </dev/null &
  echo $! >"$RUN/zk$i.pid"
done
echo -n "waiting for the ZooKeeper quorum"
for _ in $(seq 120); do
  modes=$(for i in 0 1 2; do
    { exec 3<>/dev/tcp/127.0.0.1/$((ZK_BASE + i)) && printf srvr >&3 && cat <&3; } 2>/dev/null \
      | sed -n 's/^Mode: //p' || true
  done)
  if [ "$(echo "$modes" | grep -c .)" = 3 ]; then break; fi
  echo -n .; sleep 0.5
done
echo " $(echo $modes)"

rm -f "$RUN"/*.port
for i in 0 1 2; do
  setsid build/bin/agora-master --ip=127.0.0.1 --port=$((MASTER_BASE + i)) \
    --port_file="$RUN/master$i.port" --work_dir="$RUN/master$i" \
    --zk="$ZK_URL" --zk_session_timeout=5secs "${MASTER_SEC[@]}" \
    >"$RUN/master$i.log" 2>&1 </dev/null &
  echo $! >"$RUN/master$i.pid"
  wait_port "$RUN/master$i.port" >/dev/null
done
start_slaves "$ZK_URL" "${SLAVE_SEC[@]}"

leader=""
for _ in $(seq 100); do
  leader=$("${CURL[@]}" -s -o /dev/null -w '%{redirect_url}' "$SCHEME://127.0.0.1:$MASTER_BASE/master/redirect" || true)
  [ -n "$leader" ] && break
  sleep 0.1
done
leader=${leader#*://}; echo "leading master: ${leader%/}"

echo "running 20 tasks with agora-batch through $ZK_URL..."
build/bin/agora-batch --master="$ZK_URL" --tasks=20 "${BATCH_SEC[@]}" \
  --cmd='echo hello from $MESOS_TASK_ID' --cpus=0.1 --mem=32

for i in 0 1 2; do
  setsid build/bin/agora-pacer --master="$ZK_URL" --zk="$PACER_ZK" --zk_session_timeout=5secs \
    --ip=127.0.0.1 --http_port=$((PACER_BASE + i)) --port_file="$RUN/pacer$i.port" \
    --work_dir="$RUN/pacer$i" "${PACER_SEC[@]}" >"$RUN/pacer$i.log" 2>&1 </dev/null &
  echo $! >"$RUN/pacer$i.pid"
  wait_port "$RUN/pacer$i.port" >/dev/null
done
P=$SCHEME://127.0.0.1:$PACER_BASE
for _ in $(seq 100); do
  "${CURL[@]}" -sf "${OPS[@]}" "$P/v2/info" | json_get 'j["frameworkId"]' 2>/dev/null | grep -q . && break
  sleep 0.2
done
echo "Pacer leader: $("${CURL[@]}" -sf "${OPS[@]}" "$P/v2/leader" | json_get 'j["leader"]')"
"${CURL[@]}" -sf "${OPS[@]}" -X PUT -H 'Content-Type: application/json' "$P/v2/apps/sleeper" \
  -d '{"cmd": "sleep 100000", "cpus": 0.1, "mem": 16, "instances": 3, "portDefinitions": []}' \
  >/dev/null && echo "deployed /sleeper (3 instances) through Pacer instance 0"

if [ $SECURE = 1 ]; then
  S=$RUN/secure
  echo "alice may change apps under /team-a only:"
  A=(-u "alice:$(cat "$S/alice.secret")" -H 'Content-Type: application/json')
  echo "  PUT /v2/apps/team-a/web: $("${CURL[@]}" -s -o /dev/null -w '%{http_code}' "${A[@]}" -X PUT \
    "$P/v2/apps/team-a/web" -d '{"cmd": "sleep 100000", "cpus": 0.1, "mem": 16, "instances": 0}')"
  echo "  PUT /v2/apps/sleeper:    $("${CURL[@]}" -s -o /dev/null -w '%{http_code}' "${A[@]}" -X PUT \
    "$P/v2/apps/sleeper" -d '{"instances": 1}')"
  echo "plain HTTP to a master: $(curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$MASTER_BASE/health" || true) (no answer: TLS only)"
  echo "the master's state without credentials: $("${CURL[@]}" -s -o /dev/null -w '%{http_code}' \
    "https://127.0.0.1:$MASTER_BASE/master/state")"
  cat <<MSG

Secure Agora HA is running (TLS, authentication and ACLs; CA, credentials and
ACLs in $S):
  state:    curl --cacert $S/ca.pem -u ops:\$(cat $S/ops.secret) \\
              https://127.0.0.1:$MASTER_BASE/master/state
  pacer:    curl --cacert $S/ca.pem -u ops:\$(cat $S/ops.secret) $P/v2/apps
  cli:      build/bin/agora --master=https://127.0.0.1:$MASTER_BASE --ssl_ca=$S/ca.pem \\
              --principal=ops --secret_file=$S/ops.secret cluster
  logs:     $RUN/*.log
  stop:     deploy/ha-example.sh stop
MSG
  exit 0
fi

cat <<MSG

Agora HA is running: masters on 127.0.0.1:$MASTER_BASE-$((MASTER_BASE + 2)), 3 slaves,
ZooKeeper on $ZK_HOSTS, Pacer on 127.0.0.1:$PACER_BASE-$((PACER_BASE + 2)) (any
instance answers; standbys proxy to the leader).
  leader:   curl -si http://127.0.0.1:$MASTER_BASE/master/redirect | grep Location
  failover: kill -9 \$(cat $RUN/master<N>.pid) of the leader; another leads within
            the session timeout (5s); kill -TERM hands over at once
  pacer:    curl $P/v2/leader; kill -9 the leader's pid ($RUN/pacer<N>.pid):
            another instance leads after the session timeout, /sleeper keeps running
  logs:     $RUN/*.log
  stop:     deploy/ha-example.sh stop
MSG
