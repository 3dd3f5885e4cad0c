#!/usr/bin/env bash
# usage: milvus-setup.sh   (idempotent; prints the venv's python path on stdout)
# Installs a real Milvus 2.3.5 standalone from PyPI only: the `milvus==2.3.5` wheel ("embedded Milvus") ships
# the genuine standalone binary (embedded etcd + rocksmq, so no etcd/Pulsar/MinIO process) plus its shared libs,
# lzma-compressed. We unpack them once into $TOOLS/milvus-2.3.5-bin; pymilvus drives it from the same venv.
# marshmallow<4: pymilvus 2.3.5 -> environs 9.5.0 breaks on marshmallow 4 (no __version_info__).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/common.sh"
VENV=$TOOLS/milvus-2.3.5-venv
BIN=$TOOLS/milvus-2.3.5-bin
PY=${PYTHON:-python3}
# A lock, so up.sh starting two Milvus in parallel does not install twice at once.
exec 9>"$TOOLS/.milvus-setup.lock"
flock -w 900 9 || die "timed out waiting for another milvus-setup.sh"
REQS=('milvus==2.3.5' 'pymilvus==2.3.5' 'marshmallow<4' 'pyyaml' 'numpy')
# A stamp naming the requirements, written after a complete install: checking it is instant (importing
# pymilvus takes ~2 s, and up.sh calls this three times), and changing REQS reinstalls.
if [ "$(cat "$VENV/.mbx-reqs" 2>/dev/null)" != "${REQS[*]}" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${REQS[@]}" >&2
  "$VENV/bin/python" -c 'import milvus, pymilvus, yaml, numpy'
  echo "${REQS[*]}" > "$VENV/.mbx-reqs"
fi
# .unpacked is written last, so an interrupted unpack is redone rather than half-used.
if [ ! -f "$BIN/.unpacked" ] || [ ! -x "$BIN/milvus" ]; then
  rm -rf "$BIN"; mkdir -p "$BIN"
  "$VENV/bin/python" - "$BIN" <<'PYEOF'
import glob, lzma, os, shutil, sys, milvus
src = os.path.join(os.path.dirname(milvus.__file__), "data", "bin")
dst = sys.argv[1]
for f in glob.glob(os.path.join(src, "*.lzma")):
    out = os.path.join(dst, os.path.basename(f)[:-5])
    with lzma.open(f) as i, open(out + ".tmp", "wb") as o:
        shutil.copyfileobj(i, o, 1 << 22)
    os.chmod(out + ".tmp", 0o755)
    os.replace(out + ".tmp", out)
open(os.path.join(dst, ".unpacked"), "w").write(milvus.__version__)
PYEOF
fi
echo "$VENV/bin/python"
