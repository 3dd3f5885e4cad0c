#!/usr/bin/env bash
# Throughput and peak memory of `mbx transfer` between two real S3 servers, against rclone measured in the
# same run on the same data (this machine is shared and noisy: compare the ratios, not the absolute numbers).
#
# usage: benches/transfer.sh [DATASET] [ROUNDS]
#   DATASET  mixed (default): a Milvus-like backup, ~3.5 GiB: 20 objects of 64-256 MiB and 3000 of 1-512 KiB,
#            laid out as backup/my_backup/binlogs/insert_log/C/P/S/S/F/L plus meta/*.json
#            big:   4 objects of 1 GiB
#            small: ~1 GiB in ~5000 objects of 1 KiB to 1 MiB
#   ROUNDS   interleaved rounds per tool (default 1)
# Needs: rclone (Debian package), /usr/bin/time (Debian package `time`). Servers: s3s-fs from tests/servers/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATASET=${1:-mixed}; ROUNDS=${2:-1}
WORK=${MBX_BENCH_DIR:-/tmp/mbx-bench}
BASE=${MBX_BENCH_PORT_BASE:-19400}
# rclone's S3 SDK fails on this machine's AWS_CA_BUNDLE (a custom CA for HTTPS); everything here is plain HTTP.
unset AWS_CA_BUNDLE
command -v rclone >/dev/null || { echo "rclone missing: apt-get install rclone" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install time" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
MBX=$ROOT/target/release/mbx
"$ROOT/tests/servers/stop.sh" "$WORK/servers" 2>/dev/null || true
rm -rf "$WORK"; mkdir -p "$WORK/servers" "$WORK/data"
trap '"$ROOT/tests/servers/stop.sh" "$WORK/servers"' EXIT
"$ROOT/tests/servers/s3s-fs.sh" bench_a "$BASE" "$WORK/servers/a" mbx > "$WORK/a.toml"
"$ROOT/tests/servers/s3s-fs.sh" bench_b $((BASE + 1)) "$WORK/servers/b" mbx > "$WORK/b.toml"
{ cat "$WORK/a.toml" "$WORK/b.toml"; printf '[remotes.data]\ntype = "fs"\nroot = "%s"\n' "$WORK/data"; } > "$WORK/remotes.toml"
cat > "$WORK/rclone.conf" <<CONF
[a]
type = s3
provider = Other
endpoint = http://127.0.0.1:$BASE
access_key_id = mbxaccess
secret_access_key = mbxsecret
region = us-east-1
force_path_style = true
[b]
type = s3
provider = Other
endpoint = http://127.0.0.1:$((BASE + 1))
access_key_id = mbxaccess
secret_access_key = mbxsecret
region = us-east-1
force_path_style = true
CONF

# Data: random bytes, generated once.
python3 - "$WORK/data" "$DATASET" <<'PY'
import os, random, sys
root, kind = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
def put(rel, size):
    p = os.path.join(root, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20); f.write(os.urandom(n)); left -= n
b = "backup/my_backup/"
if kind == "big":
    for i in range(4): put(f"{b}big/{i}", 1 << 30)
elif kind == "small":
    for i in range(5000): put(f"{b}{i%7}/{i%11}/{i%13}/{i}", rnd.randint(1 << 10, 1 << 20) // 2 * 2 if i % 2 else rnd.randint(1 << 10, 300 << 10))
else:
    for i in range(20): put(f"{b}binlogs/insert_log/1/2/{10+i}/{10+i}/101/{i}", rnd.randint(64 << 20, 256 << 20))
    for i in range(3000): put(f"{b}binlogs/insert_log/1/2/{100+i%40}/{100+i%40}/{i%5}/{i}", rnd.randint(1 << 10, 512 << 10))
    for m in ("backup_meta", "collection_meta", "partition_meta", "segment_meta", "full_meta"): put(f"{b}meta/{m}.json", 2000)
PY
SIZE=$(du -sb "$WORK/data" | cut -f1); COUNT=$(find "$WORK/data" -type f | wc -l)
echo "dataset $DATASET: $COUNT objects, $((SIZE >> 20)) MiB"
"$MBX" --config "$WORK/remotes.toml" -q transfer data:backup/my_backup bench_a:backup/

# run NAME CMD... : time one command, print MiB/s, peak RSS and CPU seconds
run() {
  local name=$1; shift
  local t0 t1 secs
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$WORK/time.out" "$@" > "$WORK/$name.log" 2>&1 || { echo "$name failed:"; tail "$WORK/$name.log"; return 1; }
  t1=$(date +%s.%N)
  secs=$(python3 -c "print(f'{$t1-$t0:.2f}')")
  read -r rss usr sys < "$WORK/time.out"
  python3 -c "print(f'%-22s %8.1f MiB/s  %6.1f s  peak RSS %5d MiB  CPU %6.1f s' % ('$name', $SIZE/1048576/$secs, $secs, $rss//1024, $usr+$sys))" | tee -a "$WORK/results.txt"
}
clear_b() { rclone --config "$WORK/rclone.conf" purge b:mbx/backup >/dev/null 2>&1 || true; rm -rf "$HOME/.local/state/mbx-bench"; }
for r in $(seq 1 "$ROUNDS"); do
  clear_b
  MBX_STATE_DIR=$HOME/.local/state/mbx-bench run "mbx" "$MBX" --config "$WORK/remotes.toml" -q transfer bench_a:backup/my_backup bench_b:backup/
  run "mbx-verify" "$MBX" --config "$WORK/remotes.toml" -q verify bench_b:backup/my_backup
  MBX_STATE_DIR=$HOME/.local/state/mbx-bench run "mbx-rerun" "$MBX" --config "$WORK/remotes.toml" -q transfer bench_a:backup/my_backup bench_b:backup/
  clear_b
  run "rclone-default" rclone --config "$WORK/rclone.conf" copy a:mbx/backup/my_backup b:mbx/backup/my_backup
  run "rclone-check-download" rclone --config "$WORK/rclone.conf" check --download a:mbx/backup/my_backup b:mbx/backup/my_backup
  run "rclone-rerun" rclone --config "$WORK/rclone.conf" copy a:mbx/backup/my_backup b:mbx/backup/my_backup
  clear_b
  run "rclone-tuned" rclone --config "$WORK/rclone.conf" copy --transfers 16 --checkers 32 --s3-upload-concurrency 4 \
    --s3-chunk-size 16M --multi-thread-streams 4 a:mbx/backup/my_backup b:mbx/backup/my_backup
done
echo "results in $WORK/results.txt"
