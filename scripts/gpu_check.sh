#!/usr/bin/env bash
# GPU checks of gea in one go, from the repository root on a CUDA machine: about 5-7 minutes on one H100/H200
# (at most about 11 by the step limits).
#
#   OUT=/tmp/gpu_check bash scripts/gpu_check.sh
#   PYTHON=.venv/bin/python WHEEL_DIR= OUT=/tmp/gpu_check bash scripts/gpu_check.sh   # dry run on a CPU machine
#
# PYTHON picks the interpreter (default python3); WHEEL_DIR the wheel folder (default .whl; empty: install none).
# 1. installs the wheels in $WHEEL_DIR (if it holds any) into $SITE (default /tmp/site) and puts them and the
#    repository root on PYTHONPATH (for a machine whose Python lacks gea's dependencies; see the wheels below);
# 2. prints nvidia-smi and the torch / CUDA / transformers / numpy versions, and makes a BabyAI env;
# 3. runs `pytest -m cuda tests/train/test_cuda.py` (bf16 acting, a bf16 SFT step, gea sft under torchrun,
#    DDP and FSDP2 on a one-rank NCCL group with checkpoint resume, gea ppo with the tiny MLLM policy);
# 4. measures SFT samples/s of the tiny policy in fp32 vs bf16 (benchmarks/gpu_sft_throughput.py).
# Each step runs under `timeout` and the script goes on after a failure. Logs, the benchmark table and
# summary.md (PASS/FAIL per step) go to $OUT. Without a GPU it still runs (a dry run): the CUDA tests skip
# and the benchmark says there is no CUDA device.
#
# The wheels: for a machine without gea's dependencies, download them beforehand into .whl/ (ignored by git) for
# Python 3.12 / manylinux x86_64 with `pip download --no-deps --only-binary=:all: --python-version 3.12 ...`
# (transformers, hydra-core, omegaconf, antlr4-python3-runtime, gymnasium, farama-notifications, minigrid,
# pygame-ce, vector-quantize-pytorch, einx, einops, frozendict, loguru, torch-einops-utils, peft).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check}"
PYTHON="${PYTHON:-python3}"
SITE="${SITE:-/tmp/site}"
WHEEL_DIR="${WHEEL_DIR-.whl}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.md"
printf '# gea GPU check\n\n| step | result | seconds | log |\n|---|---|---|---|\n' >"$SUMMARY"
FAILED=0

# step NAME SECONDS COMMAND...: run COMMAND under `timeout SECONDS`, log to $OUT/NAME.log, add a summary row.
step() {
    local name=$1 limit=$2 start status result
    shift 2
    echo "=== $name"
    start=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
    status=$?
    cat "$OUT/$name.log"
    result=PASS
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        result="FAIL (timed out after ${limit}s)"
    elif [ "$status" -ne 0 ]; then
        result="FAIL (exit $status)"
    fi
    [ "$result" = PASS ] || FAILED=1
    echo "| $name | $result | $(($(date +%s) - start)) | $name.log |" >>"$SUMMARY"
    echo "=== $name: $result"
}

if [ -n "$WHEEL_DIR" ] && compgen -G "$WHEEL_DIR/*.whl" >/dev/null; then
    step install 60 "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "$WHEEL_DIR"/*.whl
    export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

VERSIONS='import numpy, torch, transformers, gea.envs
print("torch", torch.__version__, "| CUDA", torch.version.cuda, "| GPU", torch.cuda.is_available())
print("bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported(), "| transformers", transformers.__version__)
print("numpy", numpy.__version__, "| BabyAI", gea.envs.make("babyai:GoToLocal").reset(seed=0)[0]["image"].shape)'
step nvidia_smi 20 bash -c 'nvidia-smi || echo "nvidia-smi: not available (no NVIDIA driver here)"'
step versions 60 "$PYTHON" -c "$VERSIONS"

step cuda_tests 360 "$PYTHON" -m pytest -v -m cuda -rs -p no:cacheprovider --timeout=120 tests/train/test_cuda.py \
    --durations=0

step throughput 130 "$PYTHON" benchmarks/gpu_sft_throughput.py --batch 64 --steps 30 \
    --out "$OUT/gpu_sft_throughput.md"

echo
cat "$SUMMARY"
exit "$FAILED"
