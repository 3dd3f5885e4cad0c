#!/usr/bin/env bash
# usage: milvus.sh NAME GRPC_PORT S3_HOST:PORT BUCKET ROOT_PATH AK SK STATE_DIR
# Starts one real Milvus 2.3.5 standalone (see milvus-setup.sh) on 127.0.0.1:GRPC_PORT with its storage in
# BUCKET/ROOT_PATH on an S3 server (plain http, path-style). Create the bucket first (up.sh does): Milvus
# 2.3.5 would create a missing one itself, but a test should not depend on that.
# Uses ports GRPC_PORT..GRPC_PORT+11 (layout in milvus_config.py); /healthz on GRPC_PORT+10.
# Writes STATE_DIR/NAME/milvus.pid (stop.sh STATE_DIR stops it); logs in STATE_DIR/NAME/logs/.
# Waits at most $MILVUS_START_TIMEOUT s (default 180) for /healthz and a gRPC get_server_version.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/common.sh"
[ $# -eq 8 ] || die "usage: milvus.sh NAME GRPC_PORT S3_HOST:PORT BUCKET ROOT_PATH AK SK STATE_DIR"
NAME=$1; PORT=$2; EP=$3; BUCKET=$4; ROOTP=$5; AK=$6; SK=$7; STATE=$8
TIMEOUT=${MILVUS_START_TIMEOUT:-180}
HPORT=$((PORT + 10))
PY=$("$HERE/milvus-setup.sh")
BIN=$TOOLS/milvus-2.3.5-bin
for ((p = PORT; p <= PORT + 11; p++)); do check_port_free "$p"; done
mkdir -p "$STATE"; STATE=$(cd "$STATE" && pwd)
DIR=$STATE/$NAME; PIDF=$DIR/milvus.pid; LOG=$DIR/logs/stdout.log
"$PY" "$HERE/milvus_config.py" "$DIR" "$PORT" "$EP" "$BUCKET" "$ROOTP" "$AK" "$SK" >/dev/null
cp "$("$PY" -c 'import milvus, os; print(os.path.dirname(milvus.__file__))')/data/glog.conf" "$DIR/configs/"
t0=$(date +%s.%N)
(
  cd "$DIR"   # the C++ side (glog) writes relative to the cwd
  export DEPLOY_MODE=STANDALONE METRICS_PORT=$HPORT MILVUSCONF=$DIR/configs \
         LD_LIBRARY_PATH=$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # setsid: its own session, so a Ctrl-C aimed at the test run does not kill it before stop.sh can.
  # When not a group leader, setsid execs in place, so $! is Milvus's own pid.
  # --alias: Milvus locks a pid file in the hard-coded /run/milvus (/tmp/milvus if not writable), named
  # standalone.pid without an alias, which two instances would share and the first to exit would delete.
  setsid "$BIN/milvus" run standalone --alias "$NAME-$PORT" > "$LOG" 2> "$DIR/logs/stderr.log" < /dev/null &
  echo $! > "$PIDF"
)
PID=$(cat "$PIDF")
died() {
  echo "milvus $NAME (pid $PID) $1; tail of $LOG and stderr.log:" >&2
  tail -n 30 "$LOG" >&2 || true
  tail -n 10 "$DIR/logs/stderr.log" >&2 || true
  # A Milvus that cannot reach its storage hangs rather than dies: do not leave it behind.
  if kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"; sleep 5; kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -f "$PIDF"
  echo "milvus $NAME: FAILED ($1); full logs in $DIR/logs" >&2
  exit 1
}
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
  kill -0 "$PID" 2>/dev/null || died "died during startup"
  # /healthz says OK a moment before the proxy serves gRPC, so also ask for the version over gRPC.
  if curl -sf --max-time 2 "http://127.0.0.1:$HPORT/healthz" 2>/dev/null | grep -q OK &&
     timeout 20 "$PY" - "$PORT" 2>/dev/null <<'PYEOF'
import sys
from pymilvus import connections, utility
connections.connect(host="127.0.0.1", port=sys.argv[1], timeout=5)
utility.get_server_version(timeout=5)
PYEOF
  then break; fi
  [ "$(date +%s)" -lt "$deadline" ] || died "not ready after ${TIMEOUT}s"
  sleep 0.5
done
echo "milvus $NAME up: pid $PID grpc 127.0.0.1:$PORT storage http://$EP/$BUCKET/$ROOTP" \
     "in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s" >&2
