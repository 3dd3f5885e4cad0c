# shellcheck shell=bash
# Sourced by the server scripts. Tools are installed under $MBX_TOOLS_DIR (default ~/.cache/mbx-test-tools)
# from crates.io, PyPI and npm only; servers listen on 127.0.0.1 only and are stopped by pid.
TOOLS=${MBX_TOOLS_DIR:-$HOME/.cache/mbx-test-tools}
mkdir -p "$TOOLS"

die() { echo "error: $*" >&2; exit 1; }

# wait_http URL SECONDS PIDFILE: wait until URL answers any HTTP status, bounded; fail if the process died.
wait_http() {
  local url=$1 secs=$2 pidfile=$3 i
  for ((i = 0; i < secs * 5; i++)); do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "server process died; log follows:" >&2
      tail -n 40 "${pidfile%.pid}.log" >&2 || true
      return 1
    fi
    if curl -s -o /dev/null --max-time 2 "$url"; then
      return 0
    fi
    sleep 0.2
  done
  echo "timeout after ${secs}s waiting for $url" >&2
  return 1
}

check_port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    die "port $1 already in use on 127.0.0.1"
  fi
}
