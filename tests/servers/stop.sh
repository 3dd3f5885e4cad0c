#!/usr/bin/env bash
# usage: stop.sh DIR...  stops every server whose pid file (*.pid) is under DIR (recursively): SIGTERM, then
# SIGKILL after 10 s. Only the recorded pids are touched.
set -u
rc=0
while IFS= read -r f; do
  pid=$(cat "$f" 2>/dev/null) || continue
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; echo "killed -9 $pid ($f)" >&2; fi
  fi
  rm -f "$f"
done < <(find "$@" -name '*.pid' 2>/dev/null)
exit $rc
