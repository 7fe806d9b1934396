#!/bin/bash
# Prove the label stage on a real GPU through our CLI, and measure it:
#   1. `pmc-enrich label --backend openai` against `vllm serve` on the same GPU (256 in flight),
#      then the same run killed with SIGKILL midway and resumed (the durable answer cache:
#      label_cache/answers.sqlite; only requests in flight at the kill may be asked again)
#   2. `pmc-enrich label --backend vllm`   (offline vllm.LLM.chat, one big batch), then a rerun
#      that must send nothing
# Both with token log-probabilities asked for (LOGPROBS, default 5: the label stage's default), so
# labels/ carries document_type_probs / domain_probs / educational_score_probs; LOGPROBS=0 measures
# without them (the previous H100 figures, 105.6 offline and 104.1 server paragraphs/s, had none).
# with a 7B Mistral-shaped model holding random weights (load_format=dummy) and the real Mistral
# tokenizer, as in ../shared/gpu/README.md. Random weights write garbage, so the output is forced
# by the compact label regex (--constraint regex): this proves plumbing and speed, never quality.
#
# Prerequisite: vLLM 0.20.2 installed with its dependencies under $SITE (see docs/labelling.md:
# ../shared/gpu/stage-vllm.sh, then join the pieces and pip install --target). Run from the repo root.
# Outputs: $OUT (default /tmp/label-gpu) holds the logs and both runs' reports.
set -u
SITE=${SITE:-/tmp/site}
OUT=${OUT:-/tmp/label-gpu}
N=${N:-3000}                       # paragraphs (the README's raw figures used 3,000)
INPUT=${INPUT:-tests/data/annotation/reference-labels.jsonl}
MODEL=${MODEL:-/tmp/mistral-7b-dummy}
PORT=${PORT:-8011}
LOGPROBS=${LOGPROBS:-5}
KILL_AFTER=${KILL_AFTER:-12}          # seconds into the killed server run (0: skip the kill check)
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PMC_ENRICH_LOG=INFO
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY=${PY:-python3}

# A 7B Mistral shape with the v3 tokenizer shipped inside mistral_common; weights are random.
mkdir -p "$MODEL"
cp "$SITE/mistral_common/data/mistral_instruct_tokenizer_240323.model.v3" "$MODEL/tokenizer.model.v3"
cat > "$MODEL/params.json" <<'JSON'
{"dim": 4096, "n_layers": 32, "head_dim": 128, "hidden_dim": 14336, "n_heads": 32, "n_kv_heads": 8,
 "norm_eps": 1e-05, "vocab_size": 32768, "rope_theta": 1000000.0}
JSON

# Our CLI; if the CLI module cannot import on this node, the stage's own entry point (the same
# stage declaration and runner, argparse instead of typer).
if $PY -c "import pipeline.cli" 2>"$OUT/cli-import.log"; then
  pmc() { $PY -m pipeline.cli "$@"; }
else
  echo "pipeline.cli import failed (see cli-import.log); using python -m jobs.label" | tee -a "$OUT/summary.txt"
  pmc() { shift; $PY -m jobs.label "$@"; }
fi
ENGINE=(--model "$MODEL" --tokenizer-mode mistral --config-format mistral --load-format dummy --max-model-len 4096 --constraint regex --input "$INPUT" --limit "$N" --set "label.logprobs=$LOGPROBS")
LOGS=/tmp/label-gpu-logs; mkdir -p $LOGS
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/summary.txt"

echo "== server: vllm serve + pmc-enrich label --backend openai" | tee -a "$OUT/summary.txt"
$PY -m vllm.entrypoints.cli.main serve "$MODEL" --tokenizer-mode mistral --config-format mistral --load-format dummy \
  --max-model-len 4096 --gpu-memory-utilization 0.9 --port "$PORT" > "$LOGS/serve.log" 2>&1 &
SERVER=$!
for i in $(seq 1 240); do
  $PY -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" 2>/dev/null && break
  kill -0 $SERVER 2>/dev/null || break
  sleep 1
done
echo "server up after ~${i}s" | tee -a "$OUT/summary.txt"
rm -rf /tmp/run-server
export OPENAI_API_KEY=sk-local-test-key-not-secret   # vllm serve ignores it; proves it is never written
pmc label /tmp/run-server --backend openai --base-url "http://127.0.0.1:$PORT/v1" "${ENGINE[@]}" --concurrency 256 --no-progress \
  > "$LOGS/server.log" 2>&1
echo "exit $?" | tee -a "$OUT/summary.txt"
cp /tmp/run-server/reports/label.json "$OUT/server-report.json" 2>/dev/null
echo "files holding the key: $(grep -rl "$OPENAI_API_KEY" /tmp/run-server "$LOGS" 2>/dev/null | wc -l)" | tee -a "$OUT/summary.txt"
# Durability: the same run on a fresh run dir, SIGKILLed after $KILL_AFTER s, then resumed.
if [ "$KILL_AFTER" != "0" ]; then
  rm -rf /tmp/run-kill
  pmc label /tmp/run-kill --backend openai --base-url "http://127.0.0.1:$PORT/v1" "${ENGINE[@]}" --concurrency 256 \
    --no-progress > "$LOGS/kill.log" 2>&1 &
  KPID=$!
  sleep "$KILL_AFTER"
  # the CLI may run under a wrapper shell: kill the python process holding the cache lock
  HOLDER=$(sed -n 's/^pid //p' /tmp/run-kill/label_cache/.lock 2>/dev/null)
  kill -9 "${HOLDER:-$KPID}" 2>/dev/null; wait $KPID 2>/dev/null
  STORED=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from answers').fetchone()[0])" \
    /tmp/run-kill/label_cache/answers.sqlite 2>/dev/null)
  pmc label /tmp/run-kill --backend openai --base-url "http://127.0.0.1:$PORT/v1" "${ENGINE[@]}" --concurrency 256 \
    --no-progress > "$LOGS/kill-resume.log" 2>&1
  echo "kill check: killed after ${KILL_AFTER}s with ${STORED:-?} answers stored; resume exit $?" | tee -a "$OUT/summary.txt"
  cp /tmp/run-kill/reports/label.json "$OUT/kill-resume-report.json" 2>/dev/null
fi
# The JSON-schema constraint through the server (random weights wander in whitespace until max_tokens,
# so these come back invalid 'truncated'; this checks the request shape is accepted end to end).
rm -rf /tmp/run-schema
pmc label /tmp/run-schema --backend openai --base-url "http://127.0.0.1:$PORT/v1" --model "$MODEL" --input "$INPUT" \
  --limit 32 --constraint json_schema --concurrency 32 --no-progress > "$LOGS/schema.log" 2>&1
echo "schema run exit $?" | tee -a "$OUT/summary.txt"
cp /tmp/run-schema/reports/label.json "$OUT/schema-report.json" 2>/dev/null
kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null

echo "== offline: pmc-enrich label --backend vllm" | tee -a "$OUT/summary.txt"
rm -rf /tmp/run-offline
pmc label /tmp/run-offline --backend vllm "${ENGINE[@]}" --batch-size "$N" --gpu-memory-utilization 0.9 --no-progress \
  > "$LOGS/offline.log" 2>&1
echo "exit $?" | tee -a "$OUT/summary.txt"
cp /tmp/run-offline/reports/label.json "$OUT/offline-report.json" 2>/dev/null
# Resume check: a rerun finds every text in the cache and sends nothing (no engine start either).
pmc label /tmp/run-offline --backend vllm "${ENGINE[@]}" --overwrite --no-progress > "$LOGS/offline-rerun.log" 2>&1
cp /tmp/run-offline/reports/label.json "$OUT/offline-rerun-report.json" 2>/dev/null
cp "$OUT/cli-import.log" $LOGS/ 2>/dev/null; rm -f "$OUT/cli-import.log"
tar czf "$OUT/logs.tgz" -C $LOGS .

$PY - "$OUT" <<'PYEOF' | tee -a "$OUT/summary.txt"
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
# earlier H100 runs of this script (chunked Parquet cache, no logprobs)
previous = {"offline": 105.6, "server": 104.1}
for name in ("offline", "server", "kill-resume", "offline-rerun", "schema"):
    p = out / f"{name}-report.json"
    if not p.exists():
        print(name, "no report"); continue
    r = json.loads(p.read_text())
    r = r.get("figures", r)  # the stage runner's report holds the label figures under "figures"
    keys = ("sent", "cached", "requests", "successes", "ok", "invalid", "with_probabilities",
            "invalid_final_by_reason", "retries", "paragraphs_per_s", "tokens_per_s", "prompt_tokens",
            "completion_tokens", "label_seconds", "engine_start_s", "complete")
    line = {k: r.get(k) for k in keys}
    if name in previous and r.get("paragraphs_per_s"):
        line["vs_previous"] = f'{100 * r["paragraphs_per_s"] / previous[name]:.1f}% of {previous[name]}/s'
    if name == "kill-resume":  # the resumed run: "cached" must equal the answers stored at the kill
        line["stored_at_kill_reused"] = r.get("cached")
    print(name, json.dumps(line))
PYEOF
