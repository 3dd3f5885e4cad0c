#!/usr/bin/env bash
# usage: s3s-fs.sh NAME PORT DATADIR [BUCKET...]
# Installs s3s-fs 0.14.1 (crates.io; the newest whose rust-version fits rustc 1.95) on first use, starts it on
# 127.0.0.1:PORT serving DATADIR/root, creates the buckets (a bucket is a folder), and prints a TOML remote
# section [remotes.NAME] for the first bucket.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/common.sh"
NAME=${1:?name}; PORT=${2:?port}; DATA=${3:?datadir}; shift 3
BUCKETS=("${@:-mbx}")
VER=0.14.1
ROOT=$TOOLS/s3s-fs-$VER
BIN=$ROOT/bin/s3s-fs
if [ ! -x "$BIN" ]; then
  cargo install s3s-fs --version "$VER" --features binary --locked --root "$ROOT" >&2
fi
[ "${MBX_INSTALL_ONLY:-0}" = 1 ] && exit 0   # CI installs everything while it compiles
check_port_free "$PORT"
mkdir -p "$DATA/root"; DATA=$(cd "$DATA" && pwd)
for b in "${BUCKETS[@]}"; do mkdir -p "$DATA/root/$b"; done
PIDF=$DATA/s3s-fs.pid
RUST_LOG=warn nohup "$BIN" --host 127.0.0.1 --port "$PORT" \
  --access-key mbxaccess --secret-key mbxsecret "$DATA/root" > "$DATA/s3s-fs.log" 2>&1 &
echo $! > "$PIDF"
wait_http "http://127.0.0.1:$PORT/" 60 "$PIDF"
cat <<OUT
[remotes.$NAME]
type = "minio"
endpoint = "http://127.0.0.1:$PORT"
bucket = "${BUCKETS[0]}"
access_key_id = "mbxaccess"
secret_access_key = "mbxsecret"
OUT
