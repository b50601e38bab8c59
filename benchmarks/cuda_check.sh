#!/usr/bin/env bash
# The CUDA paths in one pass on one GPU, the CUDA graphs first: their tests, the captured
# step against the eager one (benchmarks/graph_check.py), the step benchmark on CUDA
# without and with --cuda-graph, then `ganforge train` in each precision, `--compile`,
# and the test suite (with CUDA visible, so its CUDA tests run). A summary table comes
# last. The checks come in order of importance, so that a run cut short still reports the
# graphs; each has its own time limit (about 16 minutes if every one ran to its limit, far
# less in practice). Logs go to $CUDA_CHECK_OUT (default ./cuda-check); a failing test is
# named in its log as soon as it fails.
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

echo "== CUDA graph tests"
OMP_NUM_THREADS=1 timeout 120 python3 -m pytest -v --tb=short -p no:cacheprovider \
    tests/test_graphs.py >"$out/graph_tests.log" 2>&1
graph_tests=$?
grep -E "(PASSED|FAILED|ERROR|SKIPPED)" "$out/graph_tests.log" | grep -i "cuda\|captured\|graph" | head -12
tail -1 "$out/graph_tests.log"

echo "== captured step against the eager step"
timeout 120 python3 benchmarks/graph_check.py --steps 30 >"$out/graph_check.log" 2>&1
graph_check=$?
tail -8 "$out/graph_check.log"

echo "== step speed on CUDA, eager and --cuda-graph"
timeout 100 python3 benchmarks/step_speed.py --device cuda --rounds 5 --steps 40 \
    >"$out/step_speed.log" 2>&1
timeout 100 python3 benchmarks/step_speed.py --device cuda --rounds 5 --steps 40 --cuda-graph \
    >"$out/step_speed_graph.log" 2>&1
tail -9 "$out/step_speed_graph.log"

echo "== ganforge train mnist --device cuda, 1,000 steps, each precision, and --cuda-graph"
for precision in fp32 bf16 fp16; do
    start=$(date +%s.%N)
    timeout 60 ganforge train mnist --device cuda --precision "$precision" --steps 1000 \
        --sample-every 0 --eval-every 0 --quiet --out "$out/mnist-$precision" \
        >>"$out/cli.log" 2>&1
    echo "$precision: exit $?, $(seconds "$start") s"
done | tee -a "$out/cli.log"
start=$(date +%s.%N)
timeout 60 ganforge train mnist --device cuda --cuda-graph --steps 1000 --sample-every 0 \
    --eval-every 0 --quiet --out "$out/mnist-graph" >>"$out/cli.log" 2>&1
echo "fp32 --cuda-graph: exit $?, $(seconds "$start") s" | tee -a "$out/cli.log"

echo "== --compile"
start=$(date +%s.%N)
timeout 60 ganforge train digits --device cuda --compile --steps 300 --sample-every 0 \
    --eval-every 0 --quiet --out "$out/compile" >"$out/compile.log" 2>&1
echo "digits --compile: exit $?, $(seconds "$start") s" | tee -a "$out/compile.log"

echo "== tests"
workers=$(python3 -c "import xdist" 2>/dev/null && echo "-n auto")  # pytest-xdist, if there
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 timeout 240 python3 -m pytest $workers -v --tb=short -p no:cacheprovider \
    tests >"$out/tests.log" 2>&1
echo "pytest exit $?"
grep -E "^(FAILED|ERROR)|(FAILED|ERROR) tests/" "$out/tests.log" | sort -u | head -20
tail -1 "$out/tests.log"

echo
echo "== summary"
echo "| check | result |"
echo "|---|---|"
echo "| tests/test_graphs.py | exit $graph_tests: $(tail -1 "$out/graph_tests.log" | tr -d '=|') |"
echo "| graph_check.py | exit $graph_check (table above and in $out/graph_check.log) |"
for log in step_speed step_speed_graph; do
    row=$(grep -E "^\| (plain|ganforge) \|" "$out/$log.log" | tail -1)
    echo "| $log: ganforge vs plain | ${row:-no result, see $out/$log.log} |"
done
