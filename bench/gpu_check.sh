#!/usr/bin/env bash
# The prepared GPU check of the speed benchmark: one command, under 8 minutes on one H100/H200-class GPU.
#
#   bash bench/gpu_check.sh [OUT_DIR]      # default: $OUT, else bench/results/gpu
#   ONLY="gpu_tests time_to_accuracy" EPOCHS=10 bash bench/gpu_check.sh     # some steps; a shorter schedule
#
# The peers lightly and kornia: where the machine lacks them and cannot fetch them, run `bash bench/gpu_wheels.sh`
# beforehand where pip works and let .whl/ travel with the checkout; this script installs them from there, offline.
#
# Writes into OUT_DIR (seven files: a lent GPU machine sends back at most eight):
#   summary.txt                         the machine, then every step's output in the order run (the tests that
#                                       need a GPU: CPU and GPU views equal, no host waits in the augmentation, the
#                                       masks or the batch index, CUDA graphs training as the default compile, the
#                                       kNN monitor on the device; then each table below), each step's exit status
#   pipelines_resnet18_b512.json        torchvision / kornia / lightly / kit, ResNet-18 (CIFAR stem), batch 512,
#                                       and the kit with its networks run as CUDA graphs
#   pipelines_resnet18_b1024.json       torchvision / kornia / kit (and with CUDA graphs) at batch 1024 (the MFU
#                                       target's other end)
#   pipelines_small_cnn_b256.json       all four with the CPU comparison's width-16 CNN, batch 256
#   time_to_accuracy.json               SimCLR ResNet-18, cifar10 recipe, 15 epochs: kNN against wall time, with
#                                       CUDA graphs where they made the kit faster at batch 512
#                                       (a same-size shapes stand-in when the CIFAR-10 files are absent: said on line 1)
#   gpu_breakdown.json, kernels.txt     the kit's step at batch 512 taken apart (augmentation, network, whole step)
#                                       beside a measured bf16 matrix-product peak; its top kernels; the network's
#                                       step with CUDA graphs (the other settings of its --variants were measured
#                                       to buy nothing on an H100: bench/results/gpu_h100/README.md; inductor's
#                                       max-autotune compiles for minutes: apart, `--variants max_autotune`);
#                                       then, into summary.txt, the step's MFU ceiling from these files
#                                       (bench/mfu_ceiling.py: its convolutions' rate and its least memory traffic);
#                                       the optimiser's step alone, the kit's LARS beside lightly's and the SGD
# Each step has its own timeout, so one that hangs cannot eat the others' time; what it printed is kept, and its
# JSON holds every row, epoch or part it finished (the scripts rewrite it as they go). The limits
# (75 + 100 + 90 + 45 + 130 + 100 + 30 + 30 s, 10 minutes) include compiling the kit's networks, which a GPU run does at its
# start; all the steps took 5.8 minutes on an H100; runs 3 and 4 (10 epochs, some steps) 4.7 and 4.9
# minutes (bench/results/gpu_h100/).
set -u
OUT_DIR="${1:-${OUT:-bench/results/gpu}}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the kit from this checkout, installed or not
if [ -d .whl ] && ! "$PY" -c "import lightly, kornia" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/clkit-peers .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/clkit-peers"
fi
WORKERS=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))
export PYTHONWARNINGS="ignore::UserWarning" PYTHONUNBUFFERED=1
started=$(date +%s)
{
  echo "gpu_check $(date -u +%FT%TZ) on $(hostname), $(nproc) CPUs, DataLoader workers $WORKERS"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv,noheader 2>/dev/null
} | tee "$OUT_DIR/summary.txt"

step() {  # step NAME TIMEOUT_S COMMAND...   (skipped when ONLY is set and does not name it)
  local name=$1 limit=$2; shift 2
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
  echo "== $name (limit ${limit}s, at $(( $(date +%s) - started ))s)" | tee -a "$OUT_DIR/summary.txt"
  timeout "$limit" "$@" 2>&1 | tee -a "$OUT_DIR/summary.txt"
  echo "   rc ${PIPESTATUS[0]}" | tee -a "$OUT_DIR/summary.txt"
}

step gpu_tests 75 "$PY" -m pytest -q -o addopts="" -p no:cacheprovider -p no:logging tests/test_augment.py tests/test_data.py \
  tests/test_train.py tests/test_evaluate.py tests/test_optim.py \
  -k "gpu or cuda or host_wait or synchronise"
step pipelines_resnet18_b512 100 "$PY" bench/bench_pipelines.py --model resnet18 --batch 512 --steps 100 --warmup 5 \
  --workers "$WORKERS" --pipelines torchvision kornia lightly kit kit_cudagraphs \
  --json "$OUT_DIR/pipelines_resnet18_b512.json"
step pipelines_resnet18_b1024 90 "$PY" bench/bench_pipelines.py --model resnet18 --batch 1024 --steps 50 --warmup 5 \
  --workers "$WORKERS" --pipelines torchvision kornia kit kit_cudagraphs \
  --json "$OUT_DIR/pipelines_resnet18_b1024.json"
step pipelines_small_cnn_b256 45 "$PY" bench/bench_pipelines.py --model small_cnn --batch 256 --steps 40 --warmup 5 \
  --workers "$WORKERS" --json "$OUT_DIR/pipelines_small_cnn_b256.json"
# CUDA graphs for the time-to-accuracy run where they made the kit's step faster at batch 512 just now
GRAPHS=$("$PY" -c 'import json, sys
rows = {r["pipeline"]: r.get("images_per_s", 0) for r in json.load(open(sys.argv[1]))["rows"]}
print("graphs" if rows.get("kit_cudagraphs", 0) > 1.02 * rows.get("kit", 0) else "auto")' \
  "$OUT_DIR/pipelines_resnet18_b512.json" 2>/dev/null || echo auto)
step time_to_accuracy 130 "$PY" bench/time_to_accuracy.py --epochs "${EPOCHS:-15}" --compile "$GRAPHS" \
  --json "$OUT_DIR/time_to_accuracy.json"
step gpu_breakdown 100 "$PY" bench/gpu_breakdown.py --batch 512 --json "$OUT_DIR/gpu_breakdown.json" \
  --trace "$OUT_DIR/kernels.txt" --variants cudagraphs
step optimiser_step 30 "$PY" bench/bench_optim.py
step mfu_ceiling 30 "$PY" bench/mfu_ceiling.py --trace "$OUT_DIR/kernels.txt" \
  --breakdown "$OUT_DIR/gpu_breakdown.json" --pipelines "$OUT_DIR/pipelines_resnet18_b512.json"
echo "total $(( $(date +%s) - started ))s" | tee -a "$OUT_DIR/summary.txt"
