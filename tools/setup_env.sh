#!/usr/bin/env bash
# Create the project's virtual environment and install the full stack into it.
#
#   bash tools/setup_env.sh            # venv in .venv/ at the repository root
#   VENV=/path/to/venv bash tools/setup_env.sh
#
# mmcv 2.1.0 has no prebuilt wheel for torch 2.14.1, so its CPU ops are compiled from the sdist
# (17 min 35 s measured on the 2-core development machine, see README). The built wheel is kept
# in MVIT3_CACHE keyed by mmcv version, torch version and Python tag, so a later set-up reuses it
# (2 min 31 s for a new venv, 25 s for an existing one, measured there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${MVIT3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mvit3-dense}"
# requirements/runtime.txt holds the versions; this script only adds the mmcv release it builds.
MMCV_VERSION=2.1.0
TORCH_VERSION="$(sed -n 's/^torch==//p' "$ROOT/requirements/runtime.txt")"
PY="$VENV/bin/python"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
pipq() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

if [ -x "$PY" ] && ! "$PY" -m pip --version >/dev/null 2>&1; then
  # A venv whose creation was interrupted has a python but no pip: start it again.
  log "$VENV is incomplete (no pip): recreating it"
  rm -rf "$VENV"
fi
if [ ! -x "$PY" ]; then
  log "creating virtual environment in $VENV"
  python3 -m venv "$VENV"
fi

log "installing build requirements and torch==$TORCH_VERSION (first time: several minutes)"
pipq -c "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/build.txt"

mmcv_ok() {
  # Working means: the compiled ops import, and a kernel runs under the installed torch.
  "$PY" - <<'PYEOF' >/dev/null 2>&1
import torch, mmcv
from mmcv.ops import nms
assert mmcv.__version__ == '2.1.0'
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = nms(boxes, torch.tensor([0.9, 0.8]), 0.5)[1]
assert keep.tolist() == [0]
PYEOF
}

if mmcv_ok; then
  log "mmcv $MMCV_VERSION with CPU ops already works here: skipping its build"
else
  PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
  WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$(uname -m)"
  WHEEL="$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n 1 || true)"
  if [ -z "$WHEEL" ]; then
    log "building mmcv $MMCV_VERSION with CPU ops (about 20 minutes on 2 cores; cached for later set-ups)"
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-cache-dir -d "$BUILD" "mmcv==$MMCV_VERSION"
    tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    # torch 2.14's headers refuse anything older than C++20; mmcv 2.1.0 hard-codes C++17.
    grep -q -- "-std=c++17" "$SRC/setup.py" || { echo "mmcv setup.py no longer has -std=c++17: check the patch" >&2; exit 1; }
    sed -i 's/-std=c++17/-std=c++20/' "$SRC/setup.py"
    TOTAL="$(find "$SRC/mmcv/ops/csrc/pytorch" -maxdepth 2 -name '*.cpp' -not -path '*/cuda/*' -not -path '*/npu/*' \
      -not -path '*/mlu/*' -not -path '*/mps/*' | wc -l)"
    BUILD_LOG="$BUILD/build.log"
    # --no-build-isolation: build against the torch installed above (else pip silently builds no ops);
    # --no-cache-dir: pip's own cache does not key the wheel by torch version.
    ( cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$PY" -m pip wheel -v --no-deps --no-build-isolation --no-cache-dir -w "$BUILD/wheel" . ) \
        >"$BUILD_LOG" 2>&1 &
    PID=$!
    while kill -0 "$PID" 2>/dev/null; do
      sleep 30
      DONE="$(find "$SRC/build" -name '*.o' 2>/dev/null | wc -l)"
      log "  compiling mmcv ops: $DONE/$TOTAL objects"
    done
    if ! wait "$PID"; then
      tail -n 40 "$BUILD_LOG" >&2
      echo "mmcv build failed; full log above (last 40 lines)" >&2
      exit 1
    fi
    mkdir -p "$WHEEL_DIR"
    BUILT="$(ls "$BUILD"/wheel/mmcv-*.whl)"
    # Copy then rename, so an interrupted copy never leaves a wheel that looks complete.
    cp "$BUILT" "$WHEEL_DIR/.partial.whl"
    mv "$WHEEL_DIR/.partial.whl" "$WHEEL_DIR/$(basename "$BUILT")"
    WHEEL="$WHEEL_DIR/$(basename "$BUILT")"
    log "cached the built wheel in $WHEEL_DIR"
  else
    log "reusing the cached mmcv wheel $WHEEL"
  fi
  pipq --force-reinstall --no-deps "$WHEEL"
fi

log "installing the OpenMMLab stack, test and deployment requirements and mvit3_dense (editable)"
pipq -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" \
  -r "$ROOT/requirements/deploy.txt"
mmcv_ok || { echo "mmcv is installed but its ops do not work under torch $TORCH_VERSION:" \
  "remove $CACHE and run this script again to rebuild it" >&2; exit 1; }
pipq --no-deps --no-build-isolation -e "$ROOT"
"$PY" -c "import mvit3_dense, mmseg, mmdet, mmpretrain, mmcv; print('environment ready:', 'mvit3_dense', mvit3_dense.__version__, '| mmcv', mmcv.__version__, '| mmseg', mmseg.__version__, '| mmdet', mmdet.__version__, '| mmpretrain', mmpretrain.__version__)"
log "done: use $PY"
