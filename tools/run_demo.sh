#!/usr/bin/env bash
# The embedded demos (classification, segmentation, detection), each by the road of tools/train.py
# and tools/test.py: write its synthetic data set if missing, evaluate the untrained model, train
# (one progress line), evaluate the trained model and draw its predictions; then a summary of the
# metrics before -> after and the wall time of each phase. mmengine's full logs stay in the work dir.
#   bash tools/run_demo.sh [--work-dir DIR] [--data-out DIR]   (after bash tools/setup_env.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
"$PY" tools/demo/run_demo.py \
  configs/demo/mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py \
  configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py \
  configs/demo/ssdlite_mobilevitv3-xxs_1xb8-1000it_demo-coco-160x160.py \
  "$@"
