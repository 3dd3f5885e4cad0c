#!/usr/bin/env bash
# usage: up.sh STATE_DIR
# Installs (first time) and starts the storage servers the integration tests use, each on 127.0.0.1, and
# writes STATE_DIR/remotes.toml naming them:
#   s3a, s3b  two s3s-fs instances (S3)          ports BASE, BASE+1
#   moto      moto's S3 server (awkward keys)    port  BASE+2
#   azure     Azurite blob                       port  BASE+3
#   gcs       fake-gcs-server                    port  BASE+4
#   local     a folder (fs)
# BASE is $MBX_TEST_PORT_BASE (default 19200). Stop them with stop.sh STATE_DIR.
# With MBX_TEST_MILVUS=1 it also starts two real Milvus 2.3.5 (milvus.sh), each keeping its data in its own
# bucket on s3a / s3b, adds remotes milvus_a / milvus_b, and writes STATE_DIR/milvus.env (for scripts/test.sh):
#   milvus-a  gRPC $MBX_TEST_MILVUS_A_PORT (default 19530), storage s3a bucket milvus-a, rootPath files
#   milvus-b  gRPC $MBX_TEST_MILVUS_B_PORT (default 19560), storage s3b bucket milvus-b, rootPath files
# Each Milvus uses 12 ports from its gRPC port up.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${1:?state dir}
BASE=${MBX_TEST_PORT_BASE:-19200}
MILVUS=${MBX_TEST_MILVUS:-0}
MA_PORT=${MBX_TEST_MILVUS_A_PORT:-19530}
MB_PORT=${MBX_TEST_MILVUS_B_PORT:-19560}
mkdir -p "$STATE"; STATE=$(cd "$STATE" && pwd)
OUT=$STATE/remotes.toml
t0=$(date +%s)
# Milvus keeps its own data in a bucket that must exist before it starts; on s3s-fs a bucket is a folder.
A_BUCKETS=(mbx); B_BUCKETS=(mbx); pids=()
if [ "$MILVUS" = 1 ]; then
  A_BUCKETS+=(milvus-a); B_BUCKETS+=(milvus-b)
  "$HERE/milvus-setup.sh" > "$STATE/milvus-python" &   # pip install, overlaps the other installs
  pids+=($!)
fi
# Installs first, in parallel: the cargo build of s3s-fs is the long one.
"$HERE/s3s-fs.sh" s3a "$BASE" "$STATE/s3a" "${A_BUCKETS[@]}" > "$STATE/s3a.toml" &
pids+=($!)
"$HERE/moto.sh" moto $((BASE + 2)) "$STATE/moto" mbx > "$STATE/moto.toml" &
pids+=($!)
"$HERE/azurite.sh" azure $((BASE + 3)) "$STATE/azure" mbx > "$STATE/azure.toml" &
pids+=($!)
"$HERE/fake-gcs.sh" gcs $((BASE + 4)) "$STATE/gcs" mbx > "$STATE/gcs.toml" &
pids+=($!)
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || { echo "up.sh: a server failed to start (see above)" >&2; exit 1; }
"$HERE/s3s-fs.sh" s3b $((BASE + 1)) "$STATE/s3b" "${B_BUCKETS[@]}" > "$STATE/s3b.toml"
mkdir -p "$STATE/local"
{
  echo "# written by tests/servers/up.sh; servers on 127.0.0.1"
  for f in s3a s3b moto azure gcs; do cat "$STATE/$f.toml"; echo; done
  printf '[remotes.local]\ntype = "fs"\nroot = "%s"\n' "$STATE/local"
} > "$OUT"
if [ "$MILVUS" = 1 ]; then
  # Both in parallel: each takes ~5 s to serve gRPC here, mostly its own start-up, not CPU.
  "$HERE/milvus.sh" milvus-a "$MA_PORT" "127.0.0.1:$BASE" milvus-a files mbxaccess mbxsecret "$STATE" &
  m1=$!
  "$HERE/milvus.sh" milvus-b "$MB_PORT" "127.0.0.1:$((BASE + 1))" milvus-b files mbxaccess mbxsecret "$STATE" &
  m2=$!
  fail=0
  wait "$m1" || fail=1
  wait "$m2" || fail=1
  [ "$fail" = 0 ] || { echo "up.sh: a Milvus failed to start (see above)" >&2; exit 1; }
  for x in a:$BASE:$MA_PORT b:$((BASE + 1)):$MB_PORT; do
    IFS=: read -r n s3port gport <<< "$x"
    cat >> "$OUT" <<TOML

[remotes.milvus_$n]
type = "minio"
endpoint = "http://127.0.0.1:$s3port"
bucket = "milvus-$n"
access_key_id = "mbxaccess"
secret_access_key = "mbxsecret"

[remotes.milvus_$n.milvus]
address = "127.0.0.1:$gport"
management_address = "http://127.0.0.1:$((gport + 10))"
root_path = "files"
backup_root = "backup"
TOML
  done
  printf 'MBX_TEST_MILVUS_PYTHON=%s\nMBX_TEST_MILVUS_A=127.0.0.1:%s\nMBX_TEST_MILVUS_B=127.0.0.1:%s\n' \
    "$(cat "$STATE/milvus-python")" "$MA_PORT" "$MB_PORT" > "$STATE/milvus.env"
fi
echo "test servers up in $(( $(date +%s) - t0 ))s; remotes in $OUT" >&2
