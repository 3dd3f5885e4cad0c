#!/usr/bin/env bash
# usage: azurite.sh NAME PORT DATADIR [CONTAINER]
# Azurite's blob service (npm azurite 3.35.0) on 127.0.0.1:PORT; creates CONTAINER (default mbx) and prints a
# TOML remote section with Azurite's well-known development account.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/common.sh"
NAME=${1:?name}; PORT=${2:?port}; DATA=${3:?datadir}; CONTAINER=${4:-mbx}
VER=3.35.0
DIR=$TOOLS/azurite-$VER
BIN=$DIR/node_modules/.bin/azurite-blob
if [ ! -x "$BIN" ]; then
  mkdir -p "$DIR"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "azurite@$VER" >&2
fi
[ "${MBX_INSTALL_ONLY:-0}" = 1 ] && exit 0   # CI installs everything while it compiles
check_port_free "$PORT"
mkdir -p "$DATA"; DATA=$(cd "$DATA" && pwd)
PIDF=$DATA/azurite.pid
# --skipApiVersionCheck: OpenDAL may send a newer x-ms-version than this Azurite knows.
nohup "$BIN" --blobHost 127.0.0.1 --blobPort "$PORT" --location "$DATA" \
  --skipApiVersionCheck --loose --disableProductStyleUrl > "$DATA/azurite.log" 2>&1 &
echo $! > "$PIDF"
wait_http "http://127.0.0.1:$PORT/devstoreaccount1?comp=list" 60 "$PIDF"
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
python3 - "$PORT" "$CONTAINER" "$ACCOUNT" "$KEY" <<'PY'
import base64, hmac, hashlib, sys, urllib.request, urllib.error
from email.utils import formatdate
port, container, account, key = sys.argv[1:5]
date = formatdate(usegmt=True); ver = "2021-08-06"
path = f"/{account}/{container}"
sts = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + f"x-ms-date:{date}\nx-ms-version:{ver}\n" + f"/{account}{path}\nrestype:container"
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"http://127.0.0.1:{port}{path}?restype=container", method="PUT",
    headers={"x-ms-date": date, "x-ms-version": ver, "Authorization": f"SharedKey {account}:{sig}", "Content-Length": "0"})
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    if e.code != 409: sys.exit(f"create container failed: {e.code} {e.read()[:300]!r}")
PY
cat <<OUT
[remotes.$NAME]
type = "azblob"
endpoint = "http://127.0.0.1:$PORT/$ACCOUNT"
container = "$CONTAINER"
account_name = "$ACCOUNT"
account_key = "$KEY"
OUT
