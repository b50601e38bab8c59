"""Speed and memory of one training step: ganforge's Trainer against a plain PyTorch loop.

    python benchmarks/step_speed.py [--rounds 15] [--steps 10] [--memory-runs 5]
                                    [--device cpu] [--compile] [--cuda-graph] [--one-process]
                                    [--tiny]

The plain loop is written the way the well-known DCGAN example writes it: one optimizer
per network (Adam 2e-4, betas (0.5, 0.999)), the discriminator step scores the real batch
and the generated batch in two backward passes, and the generator step reuses that
generated batch and backpropagates through the discriminator computing its weight
gradients too. Both sides train the same networks (DCGAN generator and discriminator with
BatchNorm and in-place activations, 32×32×1, latent 100, width 64), batch 64,
non-saturating loss, fp32. A third side,
``plain-lean``, is that loop with ganforge's savings written in by hand (D frozen in the
generator step, channels-last, fused Adam) and nothing more: the speed of a bare loop at
the same arithmetic, which shows what ganforge's statistics, checks and invariants cost.
``ganforge-kept`` is our step as ``ganforge train`` runs it, in a process that keeps the
memory it frees (:func:`ganforge.keep_freed_memory`); the other variants run with glibc's
own thresholds, as a user's own script would.

``--tiny`` shrinks both sides to 8×8 nets of width 4, batch 4 and one thread: the
arithmetic nearly vanishes and what is timed is each loop's host work (Python, dispatch,
its statistics and checks), which is what bounds a step this small on a GPU.

Speed: each variant runs in a worker process of its own, as a user's training would, and
the workers take turns (A B ... B A ...), ``--steps`` steps per round after a warm-up, so
that every variant meets the same noise of a shared machine. The table gives the median time
per step, the median ratio to the plain loop with its min and max over the rounds (on CUDA
an fp16 variant with a gradient scaler runs too), and the median minor page faults per step
(memory touched for the first time, which the kernel must map and zero). One round's ratio
moves by about ±0.15 on a shared machine, so a median of 7 rounds still moved by ±0.05 from
one run to the next; 15 rounds narrow that by about a third.
``--one-process`` runs all variants in this process instead; they then share one heap, and
how often each loop's large allocations page-fault depends on what the other loops freed
before it (glibc hands freed blocks back to the system or keeps them by thresholds that
adapt to the process's history).

Memory: each variant's first three steps, before any other step of it ran. On the CPU they
run in a fresh process, and the peak is the growth of the resident set during them (the
peak resident size, reset through /proc/self/clear_refs just before the first step, minus
the size then). The resident set moves by a few MiB from one process to the next (the
allocator's caches), so ``--memory-runs`` fresh processes per variant run interleaved and
the table gives their median, min and max. On CUDA the peak is the growth of
``max_memory_allocated``, which the caching allocator reports exactly in any process, so it
is read in the timing worker itself (as its warm-up) and no fresh processes start.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, markdown_table, record  # noqa: E402

from ganforge.allocator import keep_freed_memory  # noqa: E402
from ganforge.nets import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from ganforge.noise import Noise  # noqa: E402
from ganforge.trainer import Trainer  # noqa: E402

SHAPE = (1, 32, 32)
LATENT = 100
BATCH = 64
WIDTH = 64


def use_tiny_nets() -> None:
    """Nets and batches so small that the arithmetic nearly vanishes, on one thread: what
    remains is each loop's Python and dispatch, the host's share that bounds a small step on
    a GPU."""
    global SHAPE, LATENT, BATCH, WIDTH
    SHAPE, LATENT, BATCH, WIDTH = (1, 8, 8), 8, 4, 4
    torch.set_num_threads(1)


VARIANTS = (
    "plain",
    "plain-lean",
    "ganforge",
    "ganforge-kept",
    "ganforge-contiguous",
    "ganforge-bf16",
)
KEPT = "ganforge-kept"  # as `ganforge train` runs it: glibc keeps freed memory (own process)
MIXED = ("ganforge-bf16", "ganforge-fp16")  # fp16 (with a gradient scaler) on CUDA only


def networks(device: torch.device, channels_last: bool) -> tuple[nn.Module, nn.Module]:
    """The same seeded DCGAN pair for every variant."""
    torch.manual_seed(0)
    generator = DCGANGenerator(LATENT, SHAPE, WIDTH, 1, norm="batch")
    discriminator = DCGANDiscriminator(SHAPE, WIDTH, 1, norm="batch")
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return (
        generator.to(device, memory_format=layout),
        discriminator.to(device, memory_format=layout),
    )


def plain_loop(device: torch.device, lean: bool = False) -> Callable[[torch.Tensor], None]:
    """One step of the DCGAN example's loop, as a function of the real batch.

    ``lean``: the same loop with what makes ganforge's step faster written in by hand (D's
    weights need no gradient in the generator step, channels-last tensors, fused Adam),
    and nothing else: no statistics, checks or restored buffers. It is the speed a
    hand-written loop reaches at the same arithmetic.
    """
    net_g, net_d = networks(device, channels_last=lean)
    fused = device.type in ("cpu", "cuda") if lean else None  # None: the example's default
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused)
    criterion = nn.BCEWithLogitsLoss()  # the example's sigmoid + BCELoss, without the sigmoid
    ones = torch.ones(BATCH, device=device)
    zeros = torch.zeros(BATCH, device=device)

    def step(real: torch.Tensor) -> None:
        if lean:
            real = real.contiguous(memory_format=torch.channels_last)
        net_d.zero_grad()
        err_real = criterion(net_d(real).view(-1), ones)
        err_real.backward()
        noise = torch.randn(BATCH, LATENT, device=device)
        fake = net_g(noise)
        err_fake = criterion(net_d(fake.detach()).view(-1), zeros)
        err_fake.backward()
        opt_d.step()
        net_g.zero_grad()
        if lean:  # the example computes D's weight gradients here too
            net_d.requires_grad_(False)
        err_g = criterion(net_d(fake).view(-1), ones)
        err_g.backward()
        if lean:
            net_d.requires_grad_(True)
        opt_g.step()

    return step


def ganforge_step(
    device: torch.device, variant: str, compile_: bool, cuda_graph: bool = False
) -> Callable[[torch.Tensor], None]:
    """One ``Trainer.step`` as the library sets it up for pictures."""
    channels_last = variant != "ganforge-contiguous"
    if variant == KEPT:
        keep_freed_memory()
    net_g, net_d = networks(device, channels_last)
    if compile_:
        net_g.compile()
        net_d.compile()
    fused = device.type in ("cpu", "cuda")
    trainer = Trainer(
        net_g,
        net_d,
        noise=Noise(LATENT, device=device),
        loss="nonsaturating",
        g_optimizer=torch.optim.Adam(net_g.parameters(), 2e-4, (0.5, 0.999), fused=fused),
        d_optimizer=torch.optim.Adam(net_d.parameters(), 2e-4, (0.5, 0.999), fused=fused),
        precision=variant.removeprefix("ganforge-") if variant in MIXED else "fp32",
        reuse_fake=True,
        cuda_graph=cuda_graph,
    )
    layout = torch.channels_last if channels_last else torch.contiguous_format

    def step(real: torch.Tensor) -> None:
        trainer.step(real.contiguous(memory_format=layout))

    return step


def make(
    variant: str, device: torch.device, compile_: bool, cuda_graph: bool = False
) -> Callable[[torch.Tensor], None]:
    """The step function of a variant."""
    if variant.startswith("plain"):
        return plain_loop(device, lean=variant == "plain-lean")
    return ganforge_step(device, variant, compile_, cuda_graph)


def real_batch(device: torch.device) -> torch.Tensor:
    return torch.rand(BATCH, *SHAPE, generator=torch.Generator().manual_seed(1)).to(device) * 2 - 1


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory(variant: str, device: torch.device, compile_: bool) -> float:
    """Peak memory of a few steps of ``variant`` in MiB, measured in this (fresh) process."""
    return peak_growth(make(variant, device, compile_), real_batch(device), device)


def peak_growth(
    step: Callable[[torch.Tensor], None], real: torch.Tensor, device: torch.device, steps: int = 3
) -> float:
    """How far ``steps`` steps raise the memory in use above what it was before them, in
    MiB."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _status_kib("VmRSS") * 1024
        Path("/proc/self/clear_refs").write_text("5")  # peak resident size := current size
    for _ in range(steps):
        step(real)
    sync(device)
    if device.type == "cuda":
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    return (_status_kib("VmHWM") * 1024 - base) / 2**20


def _status_kib(field: str) -> int:
    """A size field of /proc/self/status (Linux), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def worker(args: argparse.Namespace) -> None:
    """A worker process: warms ``args.worker`` up, says ``ready`` and its peak memory (on
    CUDA; else ``null``), then for each line ``N`` on stdin runs ``N`` steps and prints the
    seconds and page faults per step."""
    runner = InProcess((args.worker,), args)
    print("ready", json.dumps(runner.memory.get(args.worker)), flush=True)
    for line in sys.stdin:
        print(*runner.run(args.worker, int(line)), flush=True)


def timed(
    step: Callable[[torch.Tensor], None], real: torch.Tensor, n: int, device: torch.device
) -> tuple[float, float]:
    """Seconds and minor page faults (memory touched for the first time) per step, over
    ``n`` steps."""
    sync(device)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    for _ in range(n):
        step(real)
    sync(device)
    seconds = (time.perf_counter() - t0) / n
    return seconds, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / n


def child(args: argparse.Namespace, role: str, variant: str) -> list[str]:
    """The command line of a child process of this benchmark, with the run's settings."""
    cmd = [sys.executable, __file__, role, variant, "--device", args.device]
    cmd += ["--cuda-graph"] * args.cuda_graph
    return cmd + ["--compile"] * args.compile + ["--tiny"] * args.tiny


class Workers:
    """One worker process per variant; ``run(v, n)``: seconds and page faults per step of
    ``n`` steps of variant ``v``."""

    def __init__(self, variants: tuple[str, ...], args: argparse.Namespace) -> None:
        self.procs = {}
        self.memory: dict[str, float] = {}
        for v in variants:
            cmd = child(args, "--worker", v)
            self.procs[v] = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        for v, proc in self.procs.items():
            said = proc.stdout.readline().split()
            if not said or said[0] != "ready":
                raise RuntimeError(f"the worker of {v} did not start")
            if said[1] != "null":
                self.memory[v] = float(said[1])

    def run(self, variant: str, n: int) -> tuple[float, float]:
        proc = self.procs[variant]
        proc.stdin.write(f"{n}\n")
        proc.stdin.flush()
        seconds, faults = proc.stdout.readline().split()
        return float(seconds), float(faults)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stdin.close()
            proc.wait()


class InProcess:
    """All variants in this process; ``run(v, n)``: seconds and page faults per step of
    ``n`` steps of variant ``v``."""

    def __init__(self, variants: tuple[str, ...], args: argparse.Namespace) -> None:
        self.device = torch.device(args.device)
        self.steps = {v: make(v, self.device, args.compile, args.cuda_graph) for v in variants}
        self.real = real_batch(self.device)
        self.memory: dict[str, float] = {}  # on CUDA: each variant's first steps' peak
        for v, step in self.steps.items():  # warm-up (and compilation, or capture)
            if self.device.type == "cuda":
                # with graphs: three eager warm-up steps, the capture, two replays
                n = 6 if args.cuda_graph else 3
                self.memory[v] = peak_growth(step, self.real, self.device, n)
            else:
                for _ in range(2):
                    step(self.real)

    def run(self, variant: str, n: int) -> tuple[float, float]:
        return timed(self.steps[variant], self.real, n, self.device)

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="steps per variant and round")
    parser.add_argument("--memory-runs", type=int, default=5, help="fresh processes per variant")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile ganforge's step")
    parser.add_argument(
        "--cuda-graph", action="store_true", help="ganforge's step as CUDA graphs (CUDA only)"
    )
    parser.add_argument(
        "--one-process", action="store_true", help="time all variants in this process"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="8×8 nets of width 4, batch 4, one thread"
    )
    parser.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.rounds, args.steps, args.memory_runs) < 1:
        parser.error("--rounds, --steps and --memory-runs must be at least 1")
    device = torch.device(args.device)
    if args.tiny:
        use_tiny_nets()
    if args.memory_of:  # child process: one variant's peak memory
        print(json.dumps(peak_memory(args.memory_of, device, args.compile)))
        return
    if args.worker:  # child process: one variant's timed steps
        worker(args)
        return
    print(machine())
    variants = VARIANTS + (("ganforge-fp16",) if device.type == "cuda" else ())
    if args.one_process:  # a process-wide setting would reach every variant
        variants = tuple(v for v in variants if v != KEPT)
    runner = (InProcess if args.one_process else Workers)(variants, args)
    times: dict[str, list[float]] = {v: [] for v in variants}
    faults: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.rounds):
        for v in variants if r % 2 == 0 else reversed(variants):
            seconds, page_faults = runner.run(v, args.steps)
            times[v].append(seconds)
            faults[v].append(page_faults)
        print(f"round {r + 1} of {args.rounds} timed", file=sys.stderr, flush=True)
    runner.close()
    memory = {v: [runner.memory[v]] if v in runner.memory else [] for v in variants}
    for _ in range(0 if runner.memory else args.memory_runs):
        for v in variants:
            cmd = child(args, "--memory-of", v)
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            memory[v].append(float(out.strip().splitlines()[-1]))
    rows = []
    for v in variants:
        ratios = [p / t for p, t in zip(times["plain"], times[v], strict=True)]
        rows.append(
            [
                v,
                f"{1000 * statistics.median(times[v]):.1f}",
                f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})",
                f"{statistics.median(memory[v]):.0f} ({min(memory[v]):.0f}–{max(memory[v]):.0f})",
                f"{statistics.median(faults[v]):.0f}",
            ]
        )
    table = markdown_table(
        [
            "variant",
            "ms / step (median)",
            "speed-up vs plain (min–max)",
            "peak MiB (min–max)",
            "page faults / step",
        ],
        rows,
    )
    note = (
        f"DCGAN pair with BatchNorm, {SHAPE[1]}×{SHAPE[2]}×{SHAPE[0]}, latent {LATENT}, "
        f"width {WIDTH}, batch {BATCH}, Adam 2e-4 (0.5, 0.999), non-saturating loss; "
        f"{args.rounds} interleaved rounds of {args.steps} steps "
        f"({'all in one process' if args.one_process else 'each variant in its own process'}), "
        + (
            "peak memory of each variant's first three steps, in its timing worker"
            if runner.memory
            else f"peak memory the median of {args.memory_runs} fresh processes each"
        )
        + f"; device {device}"
        f"{', ganforge compiled' if args.compile else ''}"
        f"{', ganforge as CUDA graphs' if args.cuda_graph else ''}. "
        "fp32 unless the variant names bf16 or fp16."
    )
    record("Step speed: Trainer.step against the DCGAN-example loop", table, note)


if __name__ == "__main__":
    main()
