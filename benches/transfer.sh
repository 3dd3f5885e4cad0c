#!/usr/bin/env bash
# Throughput, peak memory and CPU of `mbx transfer` between two real S3 servers, against rclone (defaults, tuned),
# the manual two-hop copy through a local disk, and the limits of the servers themselves (read A alone, write B
# alone), all measured in the same run on the same data. This machine is shared and noisy: compare the ratios, not
# the absolute numbers.
#
# usage: benches/transfer.sh [DATASET...] [--rounds N]
#   DATASET  big:   4 objects of 1 GiB
#            small: ~1 GiB in ~5000 objects of 1 KiB to 1 MiB, in a tree four levels deep
#            mixed: a Milvus-like backup, ~3.5 GiB: 20 objects of 64-256 MiB and 3000 of 1-512 KiB, laid out as
#                   backup/my_backup/binlogs/insert_log/C/P/S/S/F/L plus meta/*.json
#            default: all three
#   --rounds N  interleaved rounds (round 1 runs every tool once, then round 2, ...; default 3)
# Environment:
#   MBX_BIN              the mbx binary to measure (default: cargo build --release, then target/release/mbx)
#   MBX_BENCH_SCALE      multiplies object sizes and counts (default 1.0; e.g. 0.01 for a quick trial run)
#   MBX_BENCH_DIR        work folder (default /tmp/mbx-bench); wiped at start except for datasets/, where the
#                        generated datasets are kept across runs, one folder per dataset name and scale
#   MBX_BENCH_SERVER     garage (default: Garage 2.5.0, the fastest real S3 server here; its first use builds it
#                        with cargo, ~20 min on 2 cores) or s3s-fs (s3s-fs 0.14.1, the fallback)
#   MBX_BENCH_PORT_BASE  server A listens on this port, server B 10 ports higher (default 19400)
#   MBX_BENCH_UNITS      only these units, space-separated (default: all, see UNITS below), e.g.
#                        "fs_mbx fs_cp fs_cp_sync" for the pipeline alone
#   MBX_BENCH_PIN_A, MBX_BENCH_PIN_B, MBX_BENCH_PIN_COPIER
#                        core lists (taskset -c) for server A, server B and every timed command, so that each
#                        has cores of its own (benches/pinned.sh sets them on a 16-core machine); default unpinned
#   MBX_BASE_BIN         an earlier mbx build, measured as a peer of MBX_BIN by the units `mbx_base` and
#                        `fs_mbx_base` (e.g. the last commit's), so that a change is judged in one run
#   MBX_BENCH_TIME       the `time` binary that measures peak RSS and CPU (default /usr/bin/time)
#   MBX_BENCH_LINK       a shaped link between the copier and each server (benches/shaped-link, a tokio proxy
#                        built here on first use): `region` (40 ms round trip, 200 Mbit/s each way),
#                        `continent` (100 ms, 1 Gbit/s) or RTT_MS:MBIT; default none (loopback). Every tool then
#                        reaches A and B through it (seeding and emptying go around it), the unit `link_check`
#                        measures what the link itself carries with the servers behind it (8 parallel curl
#                        streams each way), and the tables gain a "% of link" column.
# Output: a markdown table per dataset plus ratio lines, on stdout and in $WORK/results.md (progress, one line per
# timed command, on stderr); the raw figures of every round in $WORK/results.jsonl, from which
# `benches/report.py $WORK/results.jsonl` prints the tables again. Every command's output is in $WORK/logs/.
# Each copy starts on an empty destination (checked, on disk and through S3) and must leave exactly the dataset's
# objects and bytes there; the benchmark stops at the first command that fails or copies too little.
# Needs: rclone (Debian package), /usr/bin/time (Debian package `time`), python3. Servers: tests/servers/garage.sh
# or s3s-fs.sh. A server is emptied by wiping its data (Garage: stopped, wiped and started again; s3s-fs: its
# files removed), and the destination is counted through S3 by `rclone size` (Garage) or on disk (s3s-fs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATASETS=(); ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=${2:?--rounds N}; shift 2 ;;
    --rounds=*) ROUNDS=${1#--rounds=}; shift ;;
    big | small | mixed) DATASETS+=("$1"); shift ;;
    *) echo "usage: $0 [big|small|mixed ...] [--rounds N]" >&2; exit 2 ;;
  esac
done
[ ${#DATASETS[@]} -gt 0 ] || DATASETS=(big small mixed)
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "--rounds: a positive integer, not '$ROUNDS'" >&2; exit 2; }
SCALE=$(python3 -c "import sys; s = float(sys.argv[1]); assert s > 0; print(repr(s))" "${MBX_BENCH_SCALE:-1.0}" 2>/dev/null) \
  || { echo "MBX_BENCH_SCALE: a positive number, not '${MBX_BENCH_SCALE:-}'" >&2; exit 2; }
WORK=${MBX_BENCH_DIR:-/tmp/mbx-bench}
BASE=${MBX_BENCH_PORT_BASE:-19400}
SERVER=${MBX_BENCH_SERVER:-garage}
case $SERVER in garage | s3s-fs) ;; *) echo "MBX_BENCH_SERVER: garage or s3s-fs, not '$SERVER'" >&2; exit 2 ;; esac
# rclone's S3 SDK fails on this machine's AWS_CA_BUNDLE (a custom CA for HTTPS); everything here is plain HTTP.
unset AWS_CA_BUNDLE
command -v rclone >/dev/null || { echo "rclone missing: apt-get install rclone" >&2; exit 1; }
TIME=${MBX_BENCH_TIME:-/usr/bin/time}
[ -x "$TIME" ] || { echo "$TIME missing: apt-get install time" >&2; exit 1; }
# pin VAR: a taskset prefix for the cores in VAR, or nothing.
pin() { if [ -n "${!1:-}" ]; then echo taskset -c "${!1}"; fi; }
if [ -n "${MBX_BIN:-}" ]; then
  MBX=$MBX_BIN
else
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
  MBX=$ROOT/target/release/mbx
fi
[ -x "$MBX" ] || { echo "no mbx binary at $MBX" >&2; exit 1; }
die() { echo "FATAL: $*" >&2; exit 1; }

LINK=${MBX_BENCH_LINK:-}
case $LINK in
  "") ;;
  region) RTT_MS=40 MBIT=200 ;;
  continent) RTT_MS=100 MBIT=1000 ;;
  *:*) RTT_MS=${LINK%%:*} MBIT=${LINK#*:} ;;
  *) die "MBX_BENCH_LINK: region, continent or RTT_MS:MBIT, not '$LINK'" ;;
esac
if [ -n "$LINK" ]; then
  [[ $RTT_MS =~ ^[0-9]+$ && $MBIT =~ ^[1-9][0-9]*$ ]] || die "MBX_BENCH_LINK: RTT_MS:MBIT, whole numbers, not '$LINK'"
  cargo build --release --quiet --manifest-path "$ROOT/benches/shaped-link/Cargo.toml"
  SHAPED=$ROOT/benches/shaped-link/target/release/shaped-link
fi

"$ROOT/tests/servers/stop.sh" "$WORK/servers" 2>/dev/null || true
[ -f "$WORK/links.pids" ] && xargs -r kill < "$WORK/links.pids" 2>/dev/null || true
mkdir -p "$WORK/datasets"
find "$WORK" -mindepth 1 -maxdepth 1 ! -name datasets -exec rm -rf {} +
mkdir -p "$WORK/servers" "$WORK/logs"
stop_all() {
  [ -n "${REPORTING_WAS:-}" ] && echo "$REPORTING_WAS" > "$REPORTING"
  [ -f "$WORK/links.pids" ] && xargs -r kill < "$WORK/links.pids" 2>/dev/null
  "$ROOT/tests/servers/stop.sh" "$WORK/servers"
  rm -rf "$WORK/trash"
}
trap stop_all EXIT
# start SERVER (a|b): start that server on an empty data folder; its remote section goes to $WORK/SERVER.toml.
start() {
  local port=$BASE; [ "$1" = b ] && port=$((BASE + 10))
  local cores; cores=$(pin "MBX_BENCH_PIN_${1^^}")
  $cores "$ROOT/tests/servers/$SERVER.sh" "bench_$1" "$port" "$WORK/servers/$1" mbx > "$WORK/$1.toml"
}
start a; start b
# option SERVER KEY: a value from that server's remote section.
option() { sed -n "s/^$2 = \"\(.*\)\"$/\1/p" "$WORK/$1.toml"; }
# With a shaped link, each server gets a proxy 5 ports above it; `endpoint X` is where the tools reach server X,
# and the remotes bench_X_direct go around the proxy (seeding, emptying).
endpoint() { option "$1" endpoint; }
if [ -n "$LINK" ]; then
  for x in a b; do
    up=$(option $x endpoint); up=${up#http://}; port=$(( ${up##*:} + 5 ))
    "$SHAPED" --listen "127.0.0.1:$port" --upstream "$up" --rtt-ms "$RTT_MS" --mbit "$MBIT" \
      > "$WORK/link-$x.ready" 2> "$WORK/logs/link-$x.log" &
    echo $! >> "$WORK/links.pids"
    for _ in $(seq 50); do grep -q ready "$WORK/link-$x.ready" && break; sleep 0.1; done
    grep -q ready "$WORK/link-$x.ready" || die "the shaped link in front of $x did not start (log: $WORK/logs/link-$x.log)"
    sed "s/^\[remotes.bench_$x\]/[remotes.bench_${x}_direct]/" "$WORK/$x.toml" > "$WORK/$x-direct.toml"
    sed -i "s|^endpoint = .*|endpoint = \"http://127.0.0.1:$port\"|" "$WORK/$x.toml"
  done
  echo "shaped link: ${RTT_MS} ms round trip, ${MBIT} Mbit/s each way, in front of both servers" >&2
else
  for x in a b; do sed "s/^\[remotes.bench_$x\]/[remotes.bench_${x}_direct]/" "$WORK/$x.toml" > "$WORK/$x-direct.toml"; done
fi
{
  cat "$WORK/a.toml" "$WORK/b.toml" "$WORK/a-direct.toml" "$WORK/b-direct.toml"
  for d in big small mixed; do printf '[remotes.data_%s]\ntype = "fs"\nroot = "%s"\n' "$d" "$WORK/datasets/$d-$SCALE"; done
  printf '[remotes.fsdst]\ntype = "fs"\nroot = "%s"\n' "$WORK/fsdst"
} > "$WORK/remotes.toml"
for x in a b; do
  printf '[%s]\ntype = s3\nprovider = Other\nendpoint = %s\naccess_key_id = %s\nsecret_access_key = %s\n' \
    "$x" "$(endpoint $x)" "$(option $x access_key_id)" "$(option $x secret_access_key)"
  printf 'region = %s\nforce_path_style = true\n' "$(option $x region | grep . || echo us-east-1)"
done > "$WORK/rclone.conf"
chmod 600 "$WORK/rclone.conf"
export MBX_STATE_DIR=$WORK/state   # mbx's journals; never the user's ~/.local/state/mbx
MBXC=("$MBX" --config "$WORK/remotes.toml" -q --json)   # -q --json: only the JSON events, checked below
RC=(rclone --config "$WORK/rclone.conf")
# rclone paths on S3 end in `/`: without it, rclone first HEADs the path to see whether it is an object, s3s-fs
# answers 500 for a folder, and the SDK's retries cost ~40 s per side and command (most of rclone's time in the
# 2026-11-25 figures). `--fast-list` is left out: s3s-fs 0.14.1 answers a listing with an empty delimiter (what
# rclone's recursive listing sends) with the top-level folders only, so rclone copied nothing and said nothing.
SRC=a:mbx/backup/my_backup/ DST=b:mbx/backup/my_backup/
# A's trees also hold mbx's manifest (.mbx/manifest.json, written when A is seeded); mbx never copies it, so
# rclone must not either, or it would copy one object more than mbx.
NOMBX=(--exclude '/.mbx/**')
TUNED=(--transfers 16 --checkers 32 --s3-upload-concurrency 4 --s3-chunk-size 16M --multi-thread-streams 4)
# A second tuned variant: more in flight, bigger parts, no HEAD after each upload.
WIDE=(--transfers 32 --checkers 64 --s3-upload-concurrency 8 --s3-chunk-size 32M --multi-thread-streams 4 --s3-no-head)
{ printf 'set -e\n'; printf '%q ' "${RC[@]}" copy "${TUNED[@]}" "${NOMBX[@]}" "$SRC" "$WORK/stage"
  printf '\n'; printf '%q ' "${RC[@]}" copy "${TUNED[@]}" "$WORK/stage" "$DST"; } > "$WORK/two-hop.sh"

# gen NAME DIR: random bytes, generated once per dataset name and scale (kept in $WORK/datasets/NAME-SCALE).
gen() {
  local name=$1 dir=$2
  [ -f "$dir.done" ] && return 0
  rm -rf "$dir" "$dir.tmp"
  echo "generating dataset $name at scale $SCALE in $dir" >&2
  python3 - "$dir.tmp" "$name" "$SCALE" <<'PY'
import os, random, sys
root, kind, scale = sys.argv[1], sys.argv[2], float(sys.argv[3])
rnd = random.Random(7)
def n(count): return max(min(count, 4), round(count * scale))     # counts scale too, but keep a few objects
def put(rel, size, scaled=True):
    size = max(1, int(size * scale)) if scaled else size
    p = os.path.join(root, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        left = size
        while left:
            k = min(left, 8 << 20); f.write(os.urandom(k)); left -= k
b = "backup/my_backup/"
if kind == "big":
    for i in range(n(4)): put(f"{b}big/{i}", 1 << 30)
elif kind == "small":
    # mean ~206 KiB: 5000 objects make ~1 GiB; 3*4*5*7 = 420 leaf folders, four levels deep
    for i in range(n(5000)):
        top = 1 << 20 if rnd.random() < 0.3 else 150 << 10
        put(f"{b}{i%3}/{i%4}/{i%5}/{i%7}/{i}", rnd.randint(1 << 10, top))
else:
    for i in range(n(20)): put(f"{b}binlogs/insert_log/1/2/{10+i}/{10+i}/101/{i}", rnd.randint(64 << 20, 256 << 20))
    for i in range(n(3000)): put(f"{b}binlogs/insert_log/1/2/{100+i%40}/{100+i%40}/{i%5}/{i}", rnd.randint(1 << 10, 512 << 10))
    for m in ("backup_meta", "collection_meta", "partition_meta", "segment_meta", "full_meta"):
        put(f"{b}meta/{m}.json", 2000, scaled=False)
PY
  mv "$dir.tmp" "$dir"; touch "$dir.done"
}

# count DIR: "FILES BYTES" of the files under DIR, mbx's own .mbx/ folders left out.
count() {
  [ -d "$1" ] || { echo "0 0"; return; }
  # %.0f, not %d: mawk clamps %d to 2^31-1, which once made a 4 GiB dataset count as 2 GiB
  find "$1" -name .mbx -prune -o -type f -printf '%s\n' | awk '{n++; s+=$1} END {printf "%.0f %.0f\n", n, s}'
}

# empty SERVER (a|b): take every object of that server out of its way (Garage: stop it, move its data away,
# start it again on an empty folder; s3s-fs: move the bucket folder's content and its metadata/upload files
# away), then check through S3 that nothing is left. `rclone purge` was not reliable on s3s-fs: one run's
# destination was not empty, and the copy after it copied nothing. Nothing is deleted between timed commands:
# on s3s-fs, small (scale 0.5) over a 100 ms link cost the destination server 3.2 to 7.5 s of system time when
# the last copy had been deleted (or the bucket folder made anew), and 1.2 to 1.4 s when it had been moved
# away, with the same mbx builds (the first copy of a run, into a new server, 1.1 to 1.3). The moved data is deleted
# once it passes MBX_BENCH_TRASH_GIB (default 8), with the free memory written again after it, and at exit.
empty() {
  local n trash; trash=$WORK/trash/$(date +%s%N)
  mkdir -p "$trash/bucket"
  if [ "$SERVER" = garage ]; then
    "$ROOT/tests/servers/stop.sh" "$WORK/servers/$1"; mv "$WORK/servers/$1" "$trash/"; start "$1"
  else
    local root=$WORK/servers/$1/root
    find "$root/mbx" -mindepth 1 -maxdepth 1 -exec mv -t "$trash/bucket" {} +
    find "$root" -mindepth 1 -maxdepth 1 -name '.*' -exec mv -t "$trash" {} +
    n=$(find "$root" -mindepth 1 ! -type d | wc -l)
    [ "$n" -eq 0 ] || die "$1 is not empty after clearing: $n files under $root"
  fi
  if [ "$(du -s --block-size=1G "$WORK/trash" | cut -f1)" -gt "${MBX_BENCH_TRASH_GIB:-8}" ]; then
    rm -rf "$WORK/trash"; write_free_memory
  fi
  n=$("${MBXC[@]}" ls "bench_$1_direct:" -r | wc -l)
  [ "$n" -eq 0 ] || die "$1 is not empty after clearing: S3 lists $n objects in bucket mbx"
}
# on_b: "FILES BYTES" of the tree copied to B (mbx's .mbx/ folder left out).
on_b() {
  if [ "$SERVER" = garage ]; then
    "${RC[@]}" size --json "${NOMBX[@]}" "$DST" | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["count"], j["bytes"])'
  else
    count "$WORK/servers/b/root/mbx/backup/my_backup"
  fi
}
# expect WHAT [DIR]: DIR (default: the tree copied to B) must hold exactly the dataset's objects and bytes; a copy
# that copied nothing (or too little, or too much) stops the benchmark.
expect() {
  local got; if [ $# -ge 2 ]; then got=$(count "$2"); else got=$(on_b); fi
  [ "$got" = "$COUNT $SIZE" ] || die "$1: ${2:-B} holds '$got' (files bytes), the dataset is '$COUNT $SIZE'"
}
# summary TOOL CONDITION: the last JSON summary mbx printed in TOOL's log must satisfy CONDITION (python, over s
# and COUNT).
summary() {
  local log=$WORK/logs/$DS-${ROUND:-0}-$1.log
  [ "$1" = seed ] && log=$WORK/logs/$DS-seed-a.log
  python3 - "$log" "$COUNT" "$2" <<'PY' || die "$1: mbx's summary does not satisfy $2 (log: $log)"
import json, sys
log, count, cond = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = [json.loads(l) for l in open(log) if '"event":"summary"' in l][-1]
sys.exit(0 if eval(cond, {"s": s, "COUNT": count}) else 1)
PY
}
# logged TOOL PATTERN COUNT: TOOL's log must hold COUNT lines matching PATTERN (grep -E).
logged() {
  local log=$WORK/logs/$DS-$ROUND-$1.log n
  n=$(grep -cE -- "$2" "$log" || true)
  [ "$n" -eq "$3" ] || die "$1: $n lines match '$2' in $log, expected $3"
}
srv_ticks() {  # CPU ticks used so far by both S3 servers
  local f pid t=0
  for f in "$WORK"/servers/{a,b}/"$SERVER".pid; do
    pid=$(cat "$f"); t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$t"
}
TCK=$(getconf CLK_TCK)

# run TOOL KIND CMD...: time one command (KIND: copy, read, verify or noop) and record seconds, peak RSS, CPU
# seconds of the command (children included) and of the two servers, in results.jsonl.
run() {
  local tool=$1 kind=$2; shift 2
  local log=$WORK/logs/$DS-$ROUND-$tool.log t0 t1 s0 s1 rss usr sys
  sync
  s0=$(srv_ticks); t0=$(date +%s.%N)
  $(pin MBX_BENCH_PIN_COPIER) "$TIME" -f "%M %U %S" -o "$WORK/time.out" "$@" > "$log" 2>&1 || { tail -n 20 "$log" >&2; die "$tool failed (log: $log)"; }
  t1=$(date +%s.%N); s1=$(srv_ticks)
  read -r rss usr sys < <(tail -n 1 "$WORK/time.out")
  python3 - "$WORK/results.jsonl" "$DS" "$SCALE" "$ROUND" "$tool" "$kind" "$COUNT" "${BYTES:-$SIZE}" "$t0" "$t1" "$rss" \
    "$usr" "$sys" "$(((s1 - s0)))" "$TCK" "${LINK:+$RTT_MS:$MBIT}" <<'PY'
import json, os, sys
out, ds, scale, rnd, tool, kind, count, size, t0, t1, rss, usr, sys_, ticks, tck, link = sys.argv[1:]
secs = float(t1) - float(t0)
r = dict(dataset=ds, scale=float(scale), round=int(rnd), tool=tool, kind=kind, objects=int(count), bytes=int(size),
         seconds=round(secs, 3), rss_mib=round(int(rss) / 1024, 1), cpu_s=round(float(usr) + float(sys_), 2),
         servers_cpu_s=round(int(ticks) / int(tck), 2), cores=os.cpu_count())
if os.environ.get("ROW_BWLIMIT_MIB"):
    r.update(bwlimit_mib_s=float(os.environ["ROW_BWLIMIT_MIB"]))
if link:
    rtt, mbit = link.split(":")
    r.update(link_rtt_ms=int(rtt), link_mib_s=round(int(mbit) * 1e6 / 8 / 1048576, 2))
open(out, "a").write(json.dumps(r) + "\n")
rate = f"{int(size) / 1048576 / secs:8.1f} MiB/s" if kind != "noop" else "       - MiB/s"
print(f"  {ds} r{rnd} {tool:<22} {rate} {secs:7.2f} s  RSS {r['rss_mib']:6.0f} MiB  CPU {r['cpu_s']:6.1f} s"
      f"  servers CPU {r['servers_cpu_s']:6.1f} s", file=sys.stderr)
PY
}

# The units of one round; each leaves nothing behind that the next one depends on, so their order is free.
unit_mbx() {
  empty b; rm -rf "$MBX_STATE_DIR"
  run mbx copy "${MBXC[@]}" transfer bench_a:backup/my_backup bench_b:backup/
  expect mbx; summary mbx 's["copied"] == COUNT and not s["failed"]'
  run mbx-verify verify "${MBXC[@]}" verify bench_b:backup/my_backup
  summary mbx-verify 's["checked"] == COUNT and not s["mismatches"]'
  # nothing to copy: same source, same destination, mbx's journal kept
  run mbx-rerun noop "${MBXC[@]}" transfer bench_a:backup/my_backup bench_b:backup/
  expect mbx-rerun; summary mbx-rerun 's["copied"] == 0 and s["skipped"] == COUNT'
}
# The slow-link mode: `--bwlimit` (MBX_BENCH_BWLIMIT MiB/s, default 16), one part sending at a time, the next one
# starting while the last waits for its answer; on a shaped link, how close it comes to its own limit.
unit_mbx_bwlimit() {
  local bw=${MBX_BENCH_BWLIMIT:-16}
  empty b; rm -rf "$MBX_STATE_DIR"
  ROW_BWLIMIT_MIB=$bw run mbx-bwlimit copy "${MBXC[@]}" transfer bench_a:backup/my_backup bench_b:backup/ --bwlimit "${bw}MiB"
  expect mbx-bwlimit; summary mbx-bwlimit 's["copied"] == COUNT and not s["failed"]'
}
unit_rclone_default() {
  empty b
  run rclone-default copy "${RC[@]}" copy "${NOMBX[@]}" "$SRC" "$DST"
  expect rclone-default
}
unit_rclone_tuned() {
  empty b
  run rclone-tuned copy "${RC[@]}" copy "${TUNED[@]}" "${NOMBX[@]}" "$SRC" "$DST"
  expect rclone-tuned
  # rclone's own verification (it reads both sides) and no-op re-run, with the tuned flags (more checkers)
  run rclone-check verify "${RC[@]}" check --download "${TUNED[@]}" "${NOMBX[@]}" "$SRC" "$DST"
  logged rclone-check ": $COUNT matching files$" 1; logged rclone-check ": 0 differences found$" 1
  run rclone-rerun noop "${RC[@]}" copy "${TUNED[@]}" "${NOMBX[@]}" "$SRC" "$DST"
  expect rclone-rerun
}
unit_rclone_wide() {
  empty b
  run rclone-wide copy "${RC[@]}" copy "${WIDE[@]}" "${NOMBX[@]}" "$SRC" "$DST"
  expect rclone-wide
}
# The manual way of Milvus's migration page: download A to a local disk, then upload to B (rclone tuned both
# ways), timed as one command.
unit_two_hop() {
  empty b; rm -rf "$WORK/stage"
  run two-hop copy bash "$WORK/two-hop.sh"
  expect two-hop
  rm -rf "$WORK/stage"
}
# Read limit: every byte of A read and thrown away, nothing written. Two readers, the best one counts:
# `mbx verify` of A's tree (A was seeded by mbx, so it has a manifest): the read half of `mbx transfer`, same
# client and concurrency (128 objects in flight), plus a BLAKE3 hash;
# `rclone md5sum --download` with 16 checkers: rclone's read path, the data only hashed (MD5) and dropped.
# Neither writes to disk (`rclone copy a: /local` would measure the local disk too; `rclone cat` is sequential).
unit_read_mbx() {
  run read-mbx read "${MBXC[@]}" verify bench_a:backup/my_backup
  summary read-mbx 's["checked"] == COUNT and not s["mismatches"]'
}
unit_read_rclone() {
  run read-rclone read "${RC[@]}" md5sum --download --checkers 16 "${NOMBX[@]}" "$SRC"
  logged read-rclone '^[0-9a-f]{32}  ' "$COUNT"
}
# Write limit: the local dataset (in the page cache after the first round) uploaded to B; the best one counts.
unit_write_mbx() {
  empty b; rm -rf "$MBX_STATE_DIR"
  run write-mbx copy "${MBXC[@]}" transfer "data_$DS:backup/my_backup" bench_b:backup/
  expect write-mbx; summary write-mbx 's["copied"] == COUNT and not s["failed"]'
}
unit_write_rclone() {
  empty b
  run write-rclone copy "${RC[@]}" copy "${TUNED[@]}" "$DATA/backup/my_backup" "$DST"
  expect write-rclone
}
# mbx's in-process pipeline (read, hash, write) without S3: between two local folders on the same disk, against
# `cp -r` of the same tree.
unit_fs_mbx() {
  rm -rf "$WORK/fsdst" "$MBX_STATE_DIR"; [ ! -e "$WORK/fsdst" ] || die "$WORK/fsdst still there"
  run fs-mbx copy "${MBXC[@]}" transfer "data_$DS:backup/my_backup" fsdst:backup/
  expect fs-mbx "$WORK/fsdst/backup/my_backup"; summary fs-mbx 's["copied"] == COUNT and not s["failed"]'
  rm -rf "$WORK/fsdst"
}
# The same copies by the earlier build MBX_BASE_BIN, a peer in the same run.
base_bin() {
  [ -x "${MBX_BASE_BIN:-}" ] || die "units mbx_base and fs_mbx_base need MBX_BASE_BIN (an mbx binary), not '${MBX_BASE_BIN:-}'"
  BASEC=("$MBX_BASE_BIN" "${MBXC[@]:1}")
}
unit_mbx_base() {
  base_bin; empty b; rm -rf "$MBX_STATE_DIR"
  run mbx-base copy "${BASEC[@]}" transfer bench_a:backup/my_backup bench_b:backup/
  expect mbx-base; summary mbx-base 's["copied"] == COUNT and not s["failed"]'
}
unit_fs_mbx_base() {
  base_bin; rm -rf "$WORK/fsdst" "$MBX_STATE_DIR"; [ ! -e "$WORK/fsdst" ] || die "$WORK/fsdst still there"
  run fs-mbx-base copy "${BASEC[@]}" transfer "data_$DS:backup/my_backup" fsdst:backup/
  expect fs-mbx-base "$WORK/fsdst/backup/my_backup"; summary fs-mbx-base 's["copied"] == COUNT and not s["failed"]'
  rm -rf "$WORK/fsdst"
}
unit_fs_cp() {
  rm -rf "$WORK/fsdst"; mkdir -p "$WORK/fsdst/backup"
  [ "$(count "$WORK/fsdst")" = "0 0" ] || die "$WORK/fsdst not empty"
  run cp-r copy cp -r "$DATA/backup/my_backup" "$WORK/fsdst/backup/"
  expect cp-r "$WORK/fsdst/backup/my_backup"
  rm -rf "$WORK/fsdst"
}
# mbx flushes every part to disk (fdatasync) before it journals it, so that a resume can trust what the journal
# says; `cp -r` leaves its bytes in the page cache. This peer does the same copy, then flushes it.
unit_fs_cp_sync() {
  rm -rf "$WORK/fsdst"; mkdir -p "$WORK/fsdst/backup"
  [ "$(count "$WORK/fsdst")" = "0 0" ] || die "$WORK/fsdst not empty"
  run cp-r-sync copy sh -c 'cp -r "$1" "$2" && sync -f "$2"' sh "$DATA/backup/my_backup" "$WORK/fsdst/backup/"
  expect cp-r-sync "$WORK/fsdst/backup/my_backup"
  rm -rf "$WORK/fsdst"
}
# What the shaped link itself carries with the servers behind it: 256 MiB of random bytes sent to B in 8 parallel
# PUTs of 32 MiB, and read from A in 8 parallel ranged GETs of 32 MiB, by curl (SigV4), through the proxies. These are the limits the copies' "% of link" are fractions of.
unit_link_check() {
  [ -n "$LINK" ] || die "unit link_check needs MBX_BENCH_LINK"
  local f=$WORK/linkcheck.bin size part i ak sk ea eb
  size=$(( 256 << 20 )); part=$(( size / 8 ))
  [ -f "$f" ] || head -c "$size" /dev/urandom > "$f"
  ak=$(option b access_key_id); sk=$(option b secret_access_key); eb=$(endpoint b); ea=$(endpoint a)
  for i in $(seq 0 7); do dd if="$f" of="$WORK/linkcheck.$i" bs=1M skip=$(( i * part >> 20 )) count=$(( part >> 20 )) status=none; done
  BYTES=$size run link-up copy bash -c 'for i in $(seq 0 7); do
      curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --user "$1:$2" -T "$4.$i" "$3/mbx/linkcheck/$i" & done; wait' \
    sh "$ak" "$sk" "$eb" "$WORK/linkcheck"
  ak=$(option a access_key_id); sk=$(option a secret_access_key)
  curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --user "$ak:$sk" -T "$f" \
    "$(sed -n 's/^endpoint = "\(.*\)"$/\1/p' "$WORK/a-direct.toml")/mbx/linkcheck/whole" \
    || die "link_check: cannot put the probe on A"
  BYTES=$size run link-down read bash -c 'for i in $(seq 0 7); do
      curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --user "$1:$2" -r "$(( i * $5 ))-$(( (i + 1) * $5 - 1 ))" \
        -o /dev/null "$3/mbx/linkcheck/whole" & done; wait' sh "$ak" "$sk" "$ea" "$WORK/linkcheck" "$part"
  rm -f "$WORK"/linkcheck.[0-7]
}
UNITS=(mbx rclone_default rclone_tuned rclone_wide two_hop read_mbx read_rclone write_mbx write_rclone fs_mbx fs_cp
  fs_cp_sync)   # and, when asked for: mbx_base fs_mbx_base mbx_bwlimit link_check
if [ -n "${MBX_BENCH_UNITS:-}" ]; then
  read -r -a UNITS <<< "$MBX_BENCH_UNITS"
  for u in "${UNITS[@]}"; do
    declare -F "unit_$u" >/dev/null || die "MBX_BENCH_UNITS: no unit '$u' (units: mbx rclone_default ... fs_cp_sync)"
  done
fi

# On a VM whose memory the host backs only when the guest first writes a page, and that hands freed pages back
# to the host (virtio-balloon free page reporting, as on this Firecracker VM), a write into memory that was
# freed a moment ago (the page cache of the last copy's destination, removed) faults in the host: writing 3 GiB
# took 8.1 s of system time the first time, 1.3 the third, and the same 4 GiB copy took 1.7 to 3.7 s of system
# time depending on which command ran before it. So, where the kernel lets it, freed pages are kept for
# 100 s before they are reported (put back at exit), and the free memory is written once before any timed
# command. MBX_BENCH_WARM=0 skips both.
REPORTING=/sys/module/page_reporting/parameters/min_free_ms
warm_memory() {
  [ "${MBX_BENCH_WARM:-1}" = 0 ] && return 0
  if [ -w "$REPORTING" ]; then
    REPORTING_WAS=$(cat "$REPORTING")
    echo 100000 > "$REPORTING" && echo "free page reporting: freed pages wait 100 s (was $REPORTING_WAS ms)" >&2
  fi
  write_free_memory
}
write_free_memory() {
  [ "${MBX_BENCH_WARM:-1}" = 0 ] && return 0
  echo "writing the free memory once (MBX_BENCH_WARM=0 skips this)" >&2
  python3 - <<'PY'
avail = next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemAvailable:"))
held, left = [], avail - (2 << 30)  # 2 GiB stay free for everything else
while left >= 1 << 30:
    held.append(b"\x01" * (1 << 30))  # bytes * n writes every page
    left -= 1 << 30
PY
}
warm_memory

for DS in "${DATASETS[@]}"; do
  DATA=$WORK/datasets/$DS-$SCALE
  gen "$DS" "$DATA"
  # every tool reads a source that is in the page cache, not only the ones after the first
  find "$DATA" -type f -exec cat {} + > /dev/null
  read -r COUNT SIZE < <(count "$DATA")
  echo "dataset $DS (scale $SCALE): $COUNT objects, $((SIZE >> 20)) MiB; $ROUNDS rounds" >&2
  empty a; rm -rf "$MBX_STATE_DIR"
  "${MBXC[@]}" transfer "data_$DS:backup/my_backup" bench_a_direct:backup/ > "$WORK/logs/$DS-seed-a.log"
  summary seed 's["copied"] == COUNT and not s["failed"]'
  for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    # interleaved: every tool once per round; each round starts one tool further, so no tool is always first
    n=${#UNITS[@]}
    for ((i = 0; i < n; i++)); do "unit_${UNITS[(i + ROUND - 1) % n]}"; done
  done
  empty a; empty b; rm -rf "$MBX_STATE_DIR"
done
python3 "$ROOT/benches/report.py" "$WORK/results.jsonl" "$WORK/results.md"
echo "results in $WORK/results.md, raw figures in $WORK/results.jsonl" >&2
