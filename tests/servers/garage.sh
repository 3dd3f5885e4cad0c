#!/usr/bin/env bash
# usage: garage.sh NAME PORT DATADIR [BUCKET]
# Installs Garage 2.5.0 (crates.io, AGPL-3.0; used only as an external server for the benchmarks) on first use,
# with sqlite metadata only (~20 min of cargo build on 2 cores), starts a single node with S3 on 127.0.0.1:PORT
# (RPC on PORT+1, admin on PORT+2) serving DATADIR, creates a key and BUCKET (default mbx), and prints a TOML
# remote section [remotes.NAME]. Stop it with stop.sh DATADIR (pid file DATADIR/garage.pid).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/common.sh"
NAME=${1:?name}; PORT=${2:?port}; DATA=${3:?datadir}; BUCKET=${4:-mbx}
VER=2.5.0
ROOT=$TOOLS/garage-$VER
BIN=$ROOT/bin/garage
if [ ! -x "$BIN" ]; then
  cargo install garage --version "$VER" --locked --no-default-features --features bundled-libs,sqlite \
    --root "$ROOT" >&2
fi
[ "${MBX_INSTALL_ONLY:-0}" = 1 ] && exit 0
for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do check_port_free "$p"; done
mkdir -p "$DATA/meta" "$DATA/data"; DATA=$(cd "$DATA" && pwd)
PIDF=$DATA/garage.pid
# Fixed test credentials (Garage wants a GK-prefixed key id); the server listens on loopback only.
AK=GKbe9c0a5e1d2f3b4c5d6e7f80
SK=mbxgaragetestsecret0000000000000000000000000000000000000000000000
# No fsync and no compression: the benchmark measures the copy, not the disk's flush or zstd.
cat > "$DATA/garage.toml" <<TOML
metadata_dir = "$DATA/meta"
data_dir = "$DATA/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$((PORT + 1))"
rpc_public_addr = "127.0.0.1:$((PORT + 1))"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$PORT"

[admin]
api_bind_addr = "127.0.0.1:$((PORT + 2))"
TOML
chmod 600 "$DATA/garage.toml"
GARAGE_DEFAULT_ACCESS_KEY=$AK GARAGE_DEFAULT_SECRET_KEY=$SK GARAGE_DEFAULT_BUCKET=$BUCKET \
  RUST_LOG=garage=warn nohup "$BIN" -c "$DATA/garage.toml" server --single-node --default-bucket \
  > "$DATA/garage.log" 2>&1 &
echo $! > "$PIDF"
wait_http "http://127.0.0.1:$((PORT + 2))/health" 120 "$PIDF"
# /health answers before the bucket is usable: wait (bounded) until the S3 API knows it (403: exists, unsigned).
ready=0
for _ in $(seq 1 150); do
  code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$PORT/$BUCKET/" || true)
  if [ "$code" = 403 ] || [ "$code" = 200 ]; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || die "garage on port $PORT: bucket $BUCKET not ready after 30 s (log: $DATA/garage.log)"
cat <<OUT
[remotes.$NAME]
type = "s3"
endpoint = "http://127.0.0.1:$PORT"
bucket = "$BUCKET"
region = "garage"
access_key_id = "$AK"
secret_access_key = "$SK"
OUT
