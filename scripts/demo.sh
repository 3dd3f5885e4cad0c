#!/usr/bin/env bash
# The main job on the built-in example remotes, no accounts needed: generates a small Milvus-like backup in
# ./mbx-demo/a, transfers it to ./mbx-demo/b with verification, then shows that a second run has nothing to do.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release --quiet
MBX=$ROOT/target/release/mbx
rm -rf mbx-demo
SRC=mbx-demo/a/backup/my_backup
for seg in 1001 1002 1003; do
  for field in 0 1 100 101; do
    d=$SRC/binlogs/insert_log/44/45/$seg/$seg/$field
    mkdir -p "$d"
    head -c $((seg * 37 + field * 1000)) /dev/urandom > "$d/$((seg * 10 + field))"
  done
done
mkdir -p $SRC/binlogs/insert_log/44/45/1003/1003/102 $SRC/meta
head -c $((48 << 20)) /dev/urandom > $SRC/binlogs/insert_log/44/45/1003/1003/102/9999   # a multipart object
echo '{"name":"my_backup"}' > $SRC/meta/backup_meta.json
echo "== mbx remotes (built-in example: local_a and local_b are folders under ./mbx-demo)"
# The other example remotes read unset variables (${MINIO_SECRET_KEY}...), so `mbx remotes` exits 2 here.
{ "$MBX" remotes 2>/dev/null || true; } | grep '^local_'
echo "== mbx transfer local_a:backup/my_backup local_b:backup/ --verify"
"$MBX" transfer local_a:backup/my_backup local_b:backup/ --verify
echo "== again: everything is already there"
"$MBX" transfer local_a:backup/my_backup local_b:backup/
diff -r mbx-demo/a/backup/my_backup mbx-demo/b/backup/my_backup -x .mbx && echo "== identical; manifest at mbx-demo/b/backup/my_backup/.mbx/manifest.json"
