#!/usr/bin/env bash
# Installs every test server (nothing is started), in parallel: CI runs this while it compiles.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export MBX_INSTALL_ONLY=1
pids=()
"$HERE/s3s-fs.sh" x 1 /tmp & pids+=($!)
"$HERE/moto.sh" x 1 /tmp & pids+=($!)
"$HERE/azurite.sh" x 1 /tmp & pids+=($!)
"$HERE/fake-gcs.sh" x 1 /tmp & pids+=($!)
"$HERE/milvus-setup.sh" >/dev/null & pids+=($!)
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit $fail
