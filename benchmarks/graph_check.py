"""The captured step (``Trainer(cuda_graph=True)``) against the eager step, on CUDA.

    python benchmarks/graph_check.py [--steps 30]

For each setting, two trainers start from the same seeds, one eager and one with
``cuda_graph=True``, and take the same ``--steps`` steps on the same batches (the first
three of the captured one run eagerly as its warm-up, the fourth captures). The table gives
whether the step was captured, the largest difference of any logged statistic over all
steps and of any weight, buffer or optimizer state at the end, whether the end states are
bitwise equal, the number of skipped updates of each (a NaN batch is fed at step 20 in the
``skip`` rows), and each side's median milliseconds per step after the warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, markdown_table, record  # noqa: E402

from ganforge.ema import EMA  # noqa: E402
from ganforge.nets import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from ganforge.noise import Noise  # noqa: E402
from ganforge.trainer import Trainer  # noqa: E402

SETTINGS = {
    "dcgan 32x32, batch 64": {},
    "  + reuse_fake": {"reuse_fake": True},
    "  + lazy R1 (gamma 1, every 4)": {"r1_gamma": 1.0, "r1_every": 4},
    "  + n_critic 2, hinge": {"n_critic": 2, "loss": "hinge"},
    "  + bf16 autocast": {"precision": "bf16"},
    "  + NaN batch, skip": {"on_nonfinite": "skip"},
}


def trainer(graphed: bool, **kw) -> Trainer:
    """The library's picture set-up: channels-last DCGAN pair, fused Adam, EMA."""
    torch.manual_seed(0)
    g = DCGANGenerator(100, (1, 32, 32), 64, 1, norm="batch")
    d = DCGANDiscriminator((1, 32, 32), 64, 1, norm="batch")
    g = g.cuda().to(memory_format=torch.channels_last)
    d = d.cuda().to(memory_format=torch.channels_last)
    adam = dict(lr=2e-4, betas=(0.5, 0.999), fused=True)
    return Trainer(
        g, d, noise=Noise(100, seed=0, device="cuda"), ema=EMA(g, 0.999),
        g_optimizer=torch.optim.Adam(g.parameters(), **adam),
        d_optimizer=torch.optim.Adam(d.parameters(), **adam), cuda_graph=graphed, **kw,
    )  # fmt: skip


def state(tr: Trainer) -> list[torch.Tensor]:
    tensors = [t for net in (tr.generator, tr.discriminator, tr.ema.module)
               for t in net.state_dict().values()]  # fmt: skip
    for opt in (tr.g_optimizer, tr.d_optimizer):
        tensors += [v for s in opt.state.values() for v in s.values()]
    return tensors


def difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest elementwise difference; NaN on both sides counts as equal, on one as inf."""
    d = (a.double() - b.double()).abs()
    d[a.isnan() & b.isnan()] = 0
    return d.nan_to_num(float("inf")).max().item() if d.numel() else 0.0


def compare(steps: int, **kw) -> list[str]:
    """One row: captured?, max stat diff, max state diff, bitwise?, skips, ms eager/graph."""
    eager, graphed = trainer(False, **kw), trainer(True, **kw)
    gen = torch.Generator().manual_seed(1)
    stat_diff, times = 0.0, {"eager": [], "graph": []}
    for i in range(steps):
        real = (torch.rand(64, 1, 32, 32, generator=gen) * 2 - 1).cuda()
        if "on_nonfinite" in kw and i == 20:
            real[0, 0, 0, 0] = float("nan")
        real = real.contiguous(memory_format=torch.channels_last)
        stats = {}
        for name, tr in (("eager", eager), ("graph", graphed)):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            stats[name] = tr.step(real)
            torch.cuda.synchronize()
            if i >= 5:
                times[name].append(1000 * (time.perf_counter() - t0))
        for k, v in stats["eager"].items():
            if v == v:  # NaN statistics of the skipped update are compared as equal
                stat_diff = max(stat_diff, abs(v - stats["graph"][k]))
    pairs = list(zip(state(eager), state(graphed), strict=True))
    diff = max(difference(a, b) for a, b in pairs)
    bitwise = all(torch.equal(a, b) or difference(a, b) == 0 for a, b in pairs)
    return [
        "yes" if graphed._graphs.graphs else f"no ({graphed._graphs.off})",
        f"{stat_diff:.2e}",
        f"{diff:.2e}",
        "yes" if bitwise else "no",
        f"{eager.num_skipped} / {graphed.num_skipped}",
        f"{statistics.median(times['eager']):.2f} / {statistics.median(times['graph']):.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("graph_check.py needs a CUDA GPU")
    print(machine())
    rows = [[name, *compare(args.steps, **kw)] for name, kw in SETTINGS.items()]
    header = ["setting", "captured", "max stat diff", "max state diff", "bitwise",
              "skips eager / graph", "ms / step eager / graph"]  # fmt: skip
    note = (
        f"{args.steps} steps from the same seeds and batches, fp32, fused Adam, EMA 0.999; "
        "the captured side's first three steps are its eager warm-up."
    )
    record(
        "CUDA graphs: the captured step against the eager step", markdown_table(header, rows), note
    )


if __name__ == "__main__":
    main()
