#!/usr/bin/env bash
# Transformer student inference speed on one GPU (device tool), no training: MiniLM-L6 encoder from
# .gpu-minilm + freshly initialised heads (speed does not depend on the weights), 200k paragraphs
# (the reference labels' texts, replicated), max_len 256, bf16. Prints one table of variants:
# tokenisation alone (HF call vs Rust encode_batch_fast), end to end before / after the speed work,
# chunk size, token budget, width rounding, model alone, torch.compile; checks that before and
# after give the same predictions. Writes $OUT/classify_gpu_speed.json (after every variant).
#
#   device run: bash benchmarks/classify_gpu_speed.sh   (carry: .gpu-minilm .gpu-whl)
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu-whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__)"
python3 benchmarks/classify.py --labels tests/data/annotation/reference-labels.jsonl --speed-only \
  --encoder .gpu-minilm --max-len 256 --n-transformer "${N:-200000}" ${COMPILE---compile} \
  --out "$OUT/classify_gpu_speed.json" 2>&1 | grep -v "Loading weights" | tee "$OUT/classify_gpu_speed.log"
