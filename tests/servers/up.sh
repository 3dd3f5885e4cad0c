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
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${1:?state dir}
BASE=${MBX_TEST_PORT_BASE:-19200}
mkdir -p "$STATE"; STATE=$(cd "$STATE" && pwd)
OUT=$STATE/remotes.toml
t0=$(date +%s)
# Installs first, in parallel: the cargo build of s3s-fs is the long one.
"$HERE/s3s-fs.sh" s3a "$BASE" "$STATE/s3a" mbx > "$STATE/s3a.toml" &
p1=$!
"$HERE/moto.sh" moto $((BASE + 2)) "$STATE/moto" mbx > "$STATE/moto.toml" &
p2=$!
"$HERE/azurite.sh" azure $((BASE + 3)) "$STATE/azure" mbx > "$STATE/azure.toml" &
p3=$!
"$HERE/fake-gcs.sh" gcs $((BASE + 4)) "$STATE/gcs" mbx > "$STATE/gcs.toml" &
p4=$!
fail=0
for p in $p1 $p2 $p3 $p4; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || { echo "up.sh: a server failed to start (see above)" >&2; exit 1; }
"$HERE/s3s-fs.sh" s3b $((BASE + 1)) "$STATE/s3b" mbx > "$STATE/s3b.toml"
mkdir -p "$STATE/local"
{
  echo "# written by tests/servers/up.sh; servers on 127.0.0.1"
  for f in s3a s3b moto azure gcs; do cat "$STATE/$f.toml"; echo; done
  printf '[remotes.local]\ntype = "fs"\nroot = "%s"\n' "$STATE/local"
} > "$OUT"
echo "storage servers up in $(( $(date +%s) - t0 ))s; remotes in $OUT" >&2
