#!/usr/bin/env bash
# The embedded demos: write the synthetic data sets if missing, then for each demo config evaluate
# the untrained model, train it, evaluate it again and print both metrics and the wall time.
#   bash tools/run_demo.sh            (after bash tools/setup_env.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
"$PY" tools/demo/run_demo.py \
  configs/demo/mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py \
  configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py \
  configs/demo/ssdlite_mobilevitv3-xxs_1xb8-1000it_demo-coco-160x160.py \
  "$@"
