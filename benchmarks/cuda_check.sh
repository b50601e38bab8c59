#!/usr/bin/env bash
# The CUDA paths in one pass of under ten minutes on one GPU: the step benchmark on CUDA,
# `ganforge train` in each precision, `--compile`, and the test suite (with CUDA visible,
# so its CUDA tests run). Logs go to $CUDA_CHECK_OUT (default
# ./cuda-check); a failing test is named in tests.log as soon as it fails.
#
#   bash benchmarks/cuda_check.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
out="${CUDA_CHECK_OUT:-cuda-check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1

seconds() { python3 -c "import time; print(round(time.time() - $1, 1))"; }

python3 -c "import torch, sys; assert torch.cuda.is_available(), 'no CUDA GPU visible'
print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())" \
    2>&1 | tee "$out/machine.log" || exit 1

echo "== step speed on CUDA"
timeout 120 python3 benchmarks/step_speed.py --device cuda --rounds 5 --steps 40 \
    >"$out/step_speed.log" 2>&1
tail -9 "$out/step_speed.log"

echo "== ganforge train mnist --device cuda, 1,500 steps, each precision"
for precision in fp32 bf16 fp16; do
    start=$(date +%s.%N)
    timeout 90 ganforge train mnist --device cuda --precision "$precision" --steps 1500 \
        --sample-every 0 --eval-every 0 --quiet --out "$out/mnist-$precision" \
        >>"$out/cli.log" 2>&1
    echo "$precision: exit $?, $(seconds "$start") s"
done | tee -a "$out/cli.log"

echo "== --compile"
start=$(date +%s.%N)
timeout 90 ganforge train digits --device cuda --compile --steps 300 --sample-every 0 \
    --eval-every 0 --quiet --out "$out/compile" >"$out/compile.log" 2>&1
echo "digits --compile: exit $?, $(seconds "$start") s" | tee -a "$out/compile.log"

echo "== tests"
workers=$(python3 -c "import xdist" 2>/dev/null && echo "-n auto")  # pytest-xdist, if there
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 timeout 280 python3 -m pytest $workers -v --tb=short -p no:cacheprovider \
    tests >"$out/tests.log" 2>&1
echo "pytest exit $?"
grep -E "^(FAILED|ERROR)|(FAILED|ERROR) tests/" "$out/tests.log" | sort -u | head -20
tail -1 "$out/tests.log"

