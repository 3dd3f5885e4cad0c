#!/usr/bin/env bash
# The three datasets of benches/transfer.sh on a machine with 16 cores or more, each S3 server and the copier
# on cores of their own, so that the servers no longer take the copier's CPU (on 2 cores they took 85-89% of
# it, and the ratios measured the servers). Made for a borrowed machine that reaches nothing outside itself:
# everything it runs is carried in one compressed bundle, built here.
#
# usage: benches/pinned.sh pack [BUNDLE]   on a machine with the tools: bundles target/release/mbx (built if
#                                          missing), s3s-fs, rclone and GNU time, xz-compressed, into BUNDLE
#                                          (default bench-bundle/bundle.tar.xz, at most 64 MiB; checked)
#        benches/pinned.sh run [BUNDLE]    on the 16-core machine, from the repository root: unpacks BUNDLE,
#                                          runs big, small and mixed (MBX_BENCH_SCALE, default 0.5: 2 GiB,
#                                          0.5 GiB and 1.7 GiB), one round, within about ten minutes, and prints
#                                          the tables (also in $MBX_BENCH_DIR/results.md)
# Cores: server A on 0-3, server B on 4-7, every timed command (mbx, rclone, cp) on 8-15; MBX_BENCH_PIN_A,
# MBX_BENCH_PIN_B and MBX_BENCH_PIN_COPIER override them. Needs python3 and taskset (util-linux) on the machine.
# With the device tool of this project: pack here, then run it with carry ["bench-bundle"] and
#   benches/pinned.sh run && cp /tmp/mbx-pinned/results.* "$OUT"/
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
BUNDLE=${2:-$ROOT/bench-bundle/bundle.tar.xz}
LIMIT=$((64 << 20))
die() { echo "pinned.sh: $*" >&2; exit 1; }

pack() {
  local stage s3s
  [ -x "$ROOT/target/release/mbx" ] || cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
  MBX_INSTALL_ONLY=1 "$ROOT/tests/servers/s3s-fs.sh" x 1 /tmp >/dev/null
  s3s=${MBX_TOOLS_DIR:-$HOME/.cache/mbx-test-tools}/s3s-fs-0.14.1/bin/s3s-fs
  [ -x "$s3s" ] || die "no s3s-fs at $s3s"
  command -v rclone >/dev/null || die "rclone missing: apt-get install rclone"
  [ -x /usr/bin/time ] || die "/usr/bin/time missing: apt-get install time"
  stage=$(mktemp -d)
  mkdir -p "$stage/bin"
  cp "$ROOT/target/release/mbx" "$s3s" "$(command -v rclone)" /usr/bin/time "$stage/bin/"
  strip "$stage/bin/mbx" "$stage/bin/s3s-fs" 2>/dev/null || true
  mkdir -p "$(dirname "$BUNDLE")"
  tar -C "$stage" -cf - bin | xz -T0 -6 > "$BUNDLE"
  rm -rf "$stage"
  local size; size=$(stat -c %s "$BUNDLE")
  [ "$size" -le "$LIMIT" ] || die "$BUNDLE is $((size >> 20)) MiB, over the 64 MiB that can be carried"
  echo "bundle $BUNDLE: $((size >> 20)) MiB" >&2
}

run() {
  [ -f "$BUNDLE" ] || die "no bundle at $BUNDLE: run 'benches/pinned.sh pack' where the tools are"
  local cores; cores=$(nproc)
  [ "$cores" -ge 16 ] || echo "pinned.sh: warning: $cores cores, fewer than the 16 this layout assumes" >&2
  command -v taskset >/dev/null || die "taskset missing (util-linux)"
  local tools; tools=$(mktemp -d)
  xz -dc "$BUNDLE" | tar -C "$tools" -xf -
  # s3s-fs.sh finds its binary under MBX_TOOLS_DIR; the rest comes from PATH.
  mkdir -p "$tools/s3s-fs-0.14.1/bin"
  ln -sf "$tools/bin/s3s-fs" "$tools/s3s-fs-0.14.1/bin/s3s-fs"
  export PATH=$tools/bin:$PATH MBX_TOOLS_DIR=$tools
  export MBX_BIN=$tools/bin/mbx MBX_BENCH_TIME=$tools/bin/time MBX_BENCH_SERVER=s3s-fs
  export MBX_BENCH_SCALE=${MBX_BENCH_SCALE:-0.5} MBX_BENCH_DIR=${MBX_BENCH_DIR:-/tmp/mbx-pinned}
  export MBX_BENCH_PIN_A=${MBX_BENCH_PIN_A:-0-3} MBX_BENCH_PIN_B=${MBX_BENCH_PIN_B:-4-7}
  export MBX_BENCH_PIN_COPIER=${MBX_BENCH_PIN_COPIER:-8-15}
  # The copies and their limits; no verify-heavy or pipeline units, to stay within ten minutes.
  export MBX_BENCH_UNITS=${MBX_BENCH_UNITS:-"mbx rclone_default rclone_tuned read_mbx write_mbx"}
  "$ROOT/benches/transfer.sh" big small mixed --rounds "${MBX_BENCH_ROUNDS:-1}"
}

case $cmd in
  pack) pack ;;
  run) run ;;
  *) die "usage: benches/pinned.sh pack|run [BUNDLE]" ;;
esac
