#!/usr/bin/env bash
# Formatting and lints, as every commit must pass them. CI runs the formatting check only: clippy's own
# build of every dependency costs ~9 minutes on two cores, which CI's 30-minute budget cannot spare.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
