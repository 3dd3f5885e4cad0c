#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests against real servers that this script installs
# (first run) and starts on 127.0.0.1, then stops by pid. Extra arguments go to `cargo test`.
#   MBX_TEST_STATE    where servers keep data (default ./.test-servers)
#   MBX_TEST_PORT_BASE first of the storage ports (default 19200)
#   MBX_TEST_MILVUS   1 (default) also starts two real Milvus 2.3.5 (gRPC 19530 and 19560, see
#                     tests/servers/up.sh); 0 does not start them: the tests that need Milvus then fail,
#                     each naming the variable that is missing
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STATE=${MBX_TEST_STATE:-$ROOT/.test-servers}
tests/servers/stop.sh "$STATE" 2>/dev/null || true
rm -rf "$STATE"
mkdir -p "$STATE"
trap 'tests/servers/stop.sh "$STATE"' EXIT
export MBX_TEST_MILVUS=${MBX_TEST_MILVUS:-1}
tests/servers/up.sh "$STATE"
# MBX_TEST_MILVUS_PYTHON (venv with pymilvus), MBX_TEST_MILVUS_A / _B (host:port), when Milvus was started
if [ -f "$STATE/milvus.env" ]; then
  set -a; . "$STATE/milvus.env"; set +a
fi
export MBX_TEST_REMOTES=$STATE/remotes.toml
export MBX_TEST_STATE=$STATE
# The tests never read the user's rclone or mc remotes (tests/foreign_remotes_are_usable.rs sets up its own).
export MBX_NO_FOREIGN_REMOTES=1
cargo test --all-targets "$@"
