#!/usr/bin/env bash
# usage: stop.sh DIR...  stops every server whose pid file (*.pid) is under DIR (recursively): SIGTERM, then
# SIGKILL after 10 s. Only the recorded pids are touched.
# Two waves, each stopped in parallel: Milvus (milvus.pid) first, because while shutting down it still
# flushes to and reads from its S3 server and hangs on retries if that is gone; then everything else.
set -u
stop_wave() {  # pid files on stdin
  local f pid pids=() files=() i x
  while IFS= read -r f; do
    pid=$(cat "$f" 2>/dev/null) || continue
    files+=("$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null && pids+=("$pid:$f"); fi
  done
  for ((i = 0; i < 50; i++)); do
    local alive=()
    for x in "${pids[@]+"${pids[@]}"}"; do kill -0 "${x%%:*}" 2>/dev/null && alive+=("$x"); done
    pids=("${alive[@]+"${alive[@]}"}")
    [ ${#pids[@]} -eq 0 ] && break
    sleep 0.2
  done
  for x in "${pids[@]+"${pids[@]}"}"; do
    kill -KILL "${x%%:*}" 2>/dev/null; echo "killed -9 ${x%%:*} (${x#*:})" >&2
  done
  rm -f "${files[@]+"${files[@]}"}"
}
stop_wave < <(find "$@" -name 'milvus.pid' 2>/dev/null)
stop_wave < <(find "$@" -name '*.pid' 2>/dev/null)
exit 0
