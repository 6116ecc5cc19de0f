#!/usr/bin/env bash
# The paper-scale path on a CUDA machine, in a few minutes: one short run of every paper-scale run kind on
# the GPU with AMP and torch.compile on (the paper config's `auto`), on synthetic data in each real format,
# with a per-step time per kind; then the torchrun backend's 4-process parity test on NCCL when the
# machine has 4 GPUs (one GPU may host several processes only for gloo).
#
#   scripts/gpu-check.sh            # writes results/gpu-check/{paper_check.json,nccl_parity.log}
#
# Needs the project's environment (make setup). Exit status: 0 all passed, 1 a check failed, 2 no CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT=results/gpu-check
mkdir -p "$OUT"

gpus="$("$PY" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')"
if [ "$gpus" -lt 1 ]; then
  echo "gpu-check: torch sees no CUDA device; nothing to check here" >&2
  exit 2
fi
"$PY" -c 'import torch; print("gpu-check:", torch.cuda.get_device_name(0), "x", torch.cuda.device_count(), "torch", torch.__version__)'

start=$(date +%s)
"$PY" -m pipeline.paper_check --fixtures --device cuda --steps 3 --out "$OUT/paper_check.json"
echo "gpu-check: paper-scale kinds done in $(( $(date +%s) - start )) s"

if [ "$gpus" -ge 4 ]; then
  PIPELINE_DIST_BACKEND=nccl "$PY" -m pytest -q -p no:cacheprovider tests/test_decentralized_torchrun.py \
    2>&1 | tee "$OUT/nccl_parity.log"
else
  echo "gpu-check: $gpus GPU(s): the 4-process NCCL parity test needs 4 (gloo parity runs in make test)"
fi
echo "gpu-check: finished in $(( $(date +%s) - start )) s"
