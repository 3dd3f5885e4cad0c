#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests against real servers that this script installs
# (first run) and starts on 127.0.0.1, then stops by pid. Extra arguments go to `cargo test`.
#   MBX_TEST_STATE    where servers keep data (default ./.test-servers)
#   MBX_TEST_PORT_BASE first of the storage ports (default 19200)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STATE=${MBX_TEST_STATE:-$ROOT/.test-servers}
tests/servers/stop.sh "$STATE" 2>/dev/null || true
rm -rf "$STATE"
mkdir -p "$STATE"
trap 'tests/servers/stop.sh "$STATE"' EXIT
tests/servers/up.sh "$STATE"
export MBX_TEST_REMOTES=$STATE/remotes.toml
export MBX_TEST_STATE=$STATE
cargo test --all-targets "$@"
