#!/usr/bin/env bash
# usage: moto.sh NAME PORT DATADIR [BUCKET...]
# moto's S3 server (PyPI moto 5.2.5), in memory. Slow for large ranged reads, but it stores any key exactly,
# up to 1024 bytes: the awkward-key tests use it. Prints a TOML remote section.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/common.sh"
NAME=${1:?name}; PORT=${2:?port}; DATA=${3:?datadir}; shift 3
BUCKETS=("${@:-mbx}")
VENV=$TOOLS/moto-5.2.5
if [ ! -x "$VENV/bin/moto_server" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'moto[s3]==5.2.5' flask flask-cors >&2
fi
[ "${MBX_INSTALL_ONLY:-0}" = 1 ] && exit 0   # CI installs everything while it compiles
check_port_free "$PORT"
mkdir -p "$DATA"; DATA=$(cd "$DATA" && pwd)
PIDF=$DATA/moto.pid
nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > "$DATA/moto.log" 2>&1 &
echo $! > "$PIDF"
wait_http "http://127.0.0.1:$PORT/moto-api/" 60 "$PIDF"
for b in "${BUCKETS[@]}"; do
  curl -sf -X PUT "http://127.0.0.1:$PORT/$b" -o /dev/null || die "create bucket $b failed"
done
cat <<OUT
[remotes.$NAME]
type = "minio"
endpoint = "http://127.0.0.1:$PORT"
bucket = "${BUCKETS[0]}"
access_key_id = "test"
secret_access_key = "test"
OUT
