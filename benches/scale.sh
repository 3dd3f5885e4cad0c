#!/usr/bin/env bash
# The engine at scale: copy time, no-op re-run time and peak RSS of `mbx transfer` on a Milvus-like tree of many
# small objects, against `rclone copy` on the same tree in the same run (this machine is shared and noisy:
# compare the ratios, not the seconds).
#
# usage: benches/scale.sh [--objects N] [--pairs LIST] [--rounds R]
#   --objects N   objects in the tree (default 100000), 64 B to 4 KiB each, laid out as
#                 binlogs/insert_log/C/P/S/F/L; generated once and kept in $MBX_BENCH_DIR/datasets/scale-N
#   --pairs LIST  comma-separated, of fs-fs (local folder to local folder), fs-s3 (local folder to an S3
#                 server), s3-s3 (one S3 server to another); default fs-fs
#   --rounds R    interleaved rounds; each figure is the best of its rounds (default 1)
# Environment:
#   MBX_BIN              the mbx binary (default: cargo build --release, then target/release/mbx)
#   MBX_BENCH_DIR        work folder (default /tmp/mbx-scale)
#   MBX_BENCH_SERVER     s3s-fs (default) or garage, for the S3 pairs (tests/servers/*.sh)
#   MBX_BENCH_PORT_BASE  first server port (default 19800)
# Output: a markdown table on stdout (and in $WORK/results.md). Every copy starts on an empty destination and must
# leave exactly the tree's object count there, counted on disk (fs) or through S3 (`rclone size`); mbx's copies
# are checked with `mbx verify`. Needs rclone and /usr/bin/time (Debian packages), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=100000; PAIRS=fs-fs; ROUNDS=1
while [ $# -gt 0 ]; do
  case $1 in
    --objects) N=${2:?--objects N}; shift 2 ;;
    --pairs) PAIRS=${2:?--pairs LIST}; shift 2 ;;
    --rounds) ROUNDS=${2:?--rounds R}; shift 2 ;;
    *) echo "usage: $0 [--objects N] [--pairs fs-fs,fs-s3,s3-s3] [--rounds R]" >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "--objects: a positive integer, not '$N'" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "--rounds: a positive integer, not '$ROUNDS'" >&2; exit 2; }
for p in ${PAIRS//,/ }; do
  case $p in fs-fs | fs-s3 | s3-s3) ;; *) echo "--pairs: fs-fs, fs-s3 or s3-s3, not '$p'" >&2; exit 2 ;; esac
done
# rclone's S3 SDK fails on this machine's AWS_CA_BUNDLE (a custom CA for HTTPS); everything here is plain HTTP.
unset AWS_CA_BUNDLE
command -v rclone >/dev/null || { echo "rclone missing: apt-get install rclone" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install time" >&2; exit 1; }
WORK=${MBX_BENCH_DIR:-/tmp/mbx-scale}
SERVER=${MBX_BENCH_SERVER:-s3s-fs}
BASE=${MBX_BENCH_PORT_BASE:-19800}
if [ -n "${MBX_BIN:-}" ]; then MBX=$MBX_BIN; else
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"; MBX=$ROOT/target/release/mbx
fi
die() { echo "FATAL: $*" >&2; exit 1; }
DATA=$WORK/datasets/scale-$N
mkdir -p "$WORK/datasets"
find "$WORK" -mindepth 1 -maxdepth 1 ! -name datasets -exec rm -rf {} +
mkdir -p "$WORK/logs" "$WORK/servers"
if [ ! -d "$DATA" ]; then
  echo "generating $N objects in $DATA" >&2
  python3 - "$DATA.tmp" "$N" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
n = seg = 0
while n < count:
    coll, part, s = 1000 + seg // 2000, 2000 + (seg // 100) % 20, 400000 + seg
    for field in (0, 1, 100, 101, 102):
        d = os.path.join(root, "binlogs", "insert_log", str(coll), str(part), str(s), str(field))
        os.makedirs(d, exist_ok=True)
        for _ in range(4):
            if n >= count:
                break
            with open(os.path.join(d, str(500000 + n)), "wb") as f:
                f.write(rng.randbytes(rng.randint(64, 4096)))
            n += 1
    seg += 1
PY
  mv "$DATA.tmp" "$DATA"
fi
S3=false; [[ $PAIRS == *s3* ]] && S3=true
if $S3; then
  trap '"$ROOT/tests/servers/stop.sh" "$WORK/servers"' EXIT
  "$ROOT/tests/servers/$SERVER.sh" a "$BASE" "$WORK/servers/a" mbx > "$WORK/a.toml"
  "$ROOT/tests/servers/$SERVER.sh" b "$((BASE + 10))" "$WORK/servers/b" mbx > "$WORK/b.toml"
fi
option() { sed -n "s/^$2 = \"\(.*\)\"$/\1/p" "$WORK/$1.toml"; }
{
  printf '[remotes.data]\ntype = "fs"\nroot = "%s"\n' "$DATA"
  printf '[remotes.fsdst]\ntype = "fs"\nroot = "%s"\n' "$WORK/fsdst"
  if $S3; then cat "$WORK/a.toml" "$WORK/b.toml"; fi
} > "$WORK/remotes.toml"
{
  if $S3; then
    for x in a b; do
      printf '[%s]\ntype = s3\nprovider = Other\nendpoint = %s\naccess_key_id = %s\nsecret_access_key = %s\n' \
        "$x" "$(option $x endpoint)" "$(option $x access_key_id)" "$(option $x secret_access_key)"
      printf 'region = %s\nforce_path_style = true\n' "$(option $x region | grep . || echo us-east-1)"
    done
  fi
} > "$WORK/rclone.conf"
chmod 600 "$WORK/rclone.conf"
export MBX_STATE_DIR=$WORK/state MBX_NO_FOREIGN_REMOTES=1
MBXC=("$MBX" --config "$WORK/remotes.toml" --quiet)
RC=(rclone --config "$WORK/rclone.conf" --transfers 16 --checkers 32)
BUCKET_A=$( $S3 && option a bucket || true ); BUCKET_B=$( $S3 && option b bucket || true )
# Seed server A with the tree once (for s3-s3), with mbx, so its manifest is there as a backup's would be.
if [[ $PAIRS == *s3-s3* ]]; then
  "${MBXC[@]}" transfer data: a:tree/ > "$WORK/logs/seed.log" 2>&1 || die "seeding server A (log: $WORK/logs/seed.log)"
fi
empty() { # empty DST-KIND: the destination of the next copy is made empty, and checked so
  case $1 in
    fs) rm -rf "$WORK/fsdst"; mkdir -p "$WORK/fsdst"; rm -rf "$MBX_STATE_DIR"; sync ;;
    s3) "$ROOT/tests/servers/stop.sh" "$WORK/servers/b" >/dev/null 2>&1 || true; rm -rf "$WORK/servers/b" "$MBX_STATE_DIR"
        "$ROOT/tests/servers/$SERVER.sh" b "$((BASE + 10))" "$WORK/servers/b" mbx > /dev/null
        [ "$("${MBXC[@]}" ls -r b: | wc -l)" = 0 ] || die "server B is not empty" ;;
  esac
}
count() { # count DST-KIND PATH: objects there, mbx's .mbx/ aside
  local dir
  case $1 in
    fs) dir=$WORK/fsdst/$2 ;;
    # s3s-fs keeps each object as a file: counted on disk (rclone's listing of s3s-fs, without --fast-list,
    # asks folder by folder and takes minutes at 100,000 objects). Garage: through S3.
    s3) if [ "$SERVER" = s3s-fs ]; then dir=$WORK/servers/b/root/$BUCKET_B/$2; else
          rclone --config "$WORK/rclone.conf" size --fast-list --json --exclude '.mbx/**' "b:$BUCKET_B/$2/" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; return
        fi ;;
  esac
  [ -d "$dir" ] || { echo 0; return; }
  find "$dir" -name .mbx -prune -o -type f -print | wc -l
}
RESULTS=$WORK/results.jsonl
timed() { # timed PAIR TOOL WHAT cmd...: runs it, appends seconds and peak RSS
  local pair=$1 tool=$2 what=$3; shift 3
  local log="$WORK/logs/$pair-$tool-$what.log"
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$@" > "$log" 2>&1 || die "$pair $tool $what failed (log: $log)"
  read -r secs rss user sys < "$WORK/time"
  echo "$pair $tool $what: ${secs}s, ${rss} KiB" >&2
  printf '{"pair":"%s","tool":"%s","what":"%s","seconds":%s,"rss_kib":%s,"cpu":%s}\n' \
    "$pair" "$tool" "$what" "$secs" "$rss" "$(python3 -c "print($user + $sys)")" >> "$RESULTS"
}
for round in $(seq 1 "$ROUNDS"); do
  for pair in ${PAIRS//,/ }; do
    case $pair in
      fs-fs) mbx_src=data: mbx_dst=fsdst:copy/ rc_src=$DATA rc_dst="$WORK/fsdst/copy" kind=fs ;;
      # rclone's S3 paths end in `/`: without it rclone first HEADs the path as an object (see transfer.sh).
      fs-s3) mbx_src=data: mbx_dst=b:copy/ rc_src=$DATA rc_dst="b:$BUCKET_B/copy/" kind=s3 ;;
      # `a:tree` into `b:copy/` lands at b:copy/tree/ (like cp -r): rclone is given that same place.
      s3-s3) mbx_src=a:tree mbx_dst=b:copy/ rc_src="a:$BUCKET_A/tree/" rc_dst="b:$BUCKET_B/copy/tree/" kind=s3 ;;
    esac
    mbx_tree=$mbx_dst; [ "$pair" = s3-s3 ] && mbx_tree=b:copy/tree
    empty $kind
    timed "$pair" mbx copy "${MBXC[@]}" transfer "$mbx_src" "$mbx_dst"
    [ "$(count $kind copy)" = "$N" ] || die "$pair: mbx left $(count $kind copy) objects, not $N"
    timed "$pair" mbx noop "${MBXC[@]}" transfer "$mbx_src" "$mbx_dst"
    "${MBXC[@]}" verify "${mbx_tree}" > "$WORK/logs/$pair-verify.log" 2>&1 || die "$pair: mbx verify failed"
    empty $kind
    timed "$pair" rclone copy "${RC[@]}" copy --exclude '.mbx/**' "$rc_src" "$rc_dst"
    [ "$(count $kind copy)" = "$N" ] || die "$pair: rclone left $(count $kind copy) objects, not $N"
    timed "$pair" rclone noop "${RC[@]}" copy --exclude '.mbx/**' "$rc_src" "$rc_dst"
  done
done
python3 - "$RESULTS" "$N" "$ROUNDS" <<'PY' | tee "$WORK/results.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n, rounds = int(sys.argv[2]), sys.argv[3]
best = {}
for r in rows:
    k = (r["pair"], r["tool"], r["what"])
    if k not in best or r["seconds"] < best[k]["seconds"]:
        best[k] = r
print(f"{n:,} objects of 64 B-4 KiB, best of {rounds} round(s)\n")
print("| pair | what | mbx s | rclone s | mbx ÷ rclone time | mbx peak RSS MiB | rclone peak RSS MiB | mbx CPU s | rclone CPU s |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for pair in dict.fromkeys(r["pair"] for r in rows):
    for what in ("copy", "noop"):
        m, c = best.get((pair, "mbx", what)), best.get((pair, "rclone", what))
        if not (m and c):
            continue
        print(f"| {pair} | {'copy' if what == 'copy' else 're-run, nothing to copy'} | {m['seconds']:.2f} | {c['seconds']:.2f} | "
              f"{m['seconds'] / c['seconds']:.2f} | {m['rss_kib'] / 1024:.0f} | {c['rss_kib'] / 1024:.0f} | {m['cpu']:.1f} | {c['cpu']:.1f} |")
PY
