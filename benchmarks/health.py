"""Training-health detectors on deliberately broken and on healthy configurations.

Each configuration trains through the Python API, ``ganforge.GAN(data, **options)
.fit(out=RUN)`` on one thread, then ``ganforge.health.doctor(RUN)`` reads the run folder.
A broken run is right when the doctor names at least one of the kinds its cause is known
to produce; a healthy run is right when the doctor finds nothing. Prints one line per run
as it goes, then the confusion table and a summary, and appends them to RESULTS.md.

    python benchmarks/health.py [--only NAME ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import torch  # noqa: E402
from common import machine, markdown_table, record  # noqa: E402

import ganforge  # noqa: E402
from ganforge.errors import NonFiniteError  # noqa: E402
from ganforge.health import KINDS, Finding, doctor  # noqa: E402

# Short runs: 2,000 steps on the mixtures, 800 on digits; log every 5 %, evaluate every 25 %.
POINTS = {"steps": 2000, "log_every": 100, "eval_every": 500}
PICTURES = {"steps": 800, "log_every": 40, "eval_every": 200}
COMMON = {"threads": 1, "sample_every": 0, "ckpt_every": 0}


@dataclass
class Case:
    """One configuration: its data, options over the preset, and the kinds it should raise
    (none for a healthy one)."""

    name: str
    data: str
    options: dict[str, Any]
    expected: tuple[str, ...] = ()
    cause: str = ""
    budget: dict[str, Any] = field(default_factory=dict)

    def run_options(self) -> dict[str, Any]:
        """The options of the run: the short budget, then this case's own."""
        budget = PICTURES if self.data == "digits" else POINTS
        return {**COMMON, **budget, **self.budget, **self.options}


VG, MC, FC, NF = "vanishing-gradients", "mode-collapse", "failure-to-converge", "non-finite"
BROKEN = [
    Case(
        "minimax, much stronger D",
        "ring",
        {
            "loss": "minimax",
            "lr_d": 5e-3,
            "lr_g": 1e-4,
            "n_critic": 3,
            "d_width": 256,
            "d_depth": 3,
            "r1_gamma": 0.0,
        },
        (VG,),
        "D rejects every fake at once; log(1 - D(G(z))) saturates",
        {"steps": 600, "log_every": 50, "eval_every": 200},
    ),
    Case("1-d latent", "grid", {"latent_dim": 1}, (MC,), "a curve cannot reach 25 modes"),
    Case("learning rates 0.05", "ring", {"lr_g": 0.05, "lr_d": 0.05}, (FC, NF), "steps overshoot"),
    Case(
        "very deep D (6), no penalty",
        "ring",
        {"d_depth": 6, "d_width": 128, "r1_gamma": 0.0, "lr_d": 2e-3},
        (FC, VG),
        "an unpenalised deep D outruns G",
    ),
    Case(
        "no EMA, learning rates 1e-2",
        "ring",
        {"ema_decay": 0.0, "lr_g": 1e-2, "lr_d": 1e-2},
        (FC, MC),
        "G chases D from mode to mode",
    ),
    Case("tiny G (width 4)", "grid", {"g_width": 4}, (MC,), "too few units for 25 modes"),
    Case("G learning rate 1e-5", "ring", {"lr_g": 1e-5}, (FC, VG), "G never catches up with D"),
    Case(
        "learning rates 10, non-finite updates skipped",
        "ring",
        {"loss": "least-squares", "lr_g": 10.0, "lr_d": 10.0, "on_nonfinite": "skip"},
        (NF,),
        "squared logits overflow",
        {"steps": 500, "log_every": 50, "eval_every": 250},
    ),
    Case(
        "digits, learning rates 0.02", "digits", {"lr_g": 0.02, "lr_d": 0.02}, (FC, NF), "overshoot"
    ),
    Case("digits, 1-d latent", "digits", {"latent_dim": 1}, (MC,), "one curve of pictures"),
]
HEALTHY = [
    Case("ring preset", "ring", {}),
    Case("grid preset", "grid", {}),
    Case("digits preset", "digits", {}),
    Case("ring, least squares", "ring", {"loss": "least-squares"}),
    Case("grid, hinge", "grid", {"loss": "hinge"}),
    Case("ring, seed 1", "ring", {"seed": 1}),
    Case("grid, seed 1", "grid", {"seed": 1}),
    Case("ring, PacGAN pack 2", "ring", {"pack": 2}),
]


def run_case(case: Case, folder: Path) -> tuple[list[Finding], float, str]:
    """Trains ``case`` into ``folder``; its findings, the training time and a note."""
    t0 = time.perf_counter()
    note = ""
    try:
        ganforge.GAN(case.data, **case.run_options()).fit(out=folder)
    except NonFiniteError as e:  # the default --on-nonfinite stop ends such a run
        note = f"stopped: {str(e).split(';')[0]}"
    return doctor(folder), time.perf_counter() - t0, note


def verdict(case: Case, findings: list[Finding]) -> bool:
    """Broken: at least one expected kind found. Healthy: nothing found."""
    kinds = {f.kind for f in findings}
    return bool(kinds & set(case.expected)) if case.expected else not kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="run only the cases with these names")
    parser.add_argument("--keep", type=Path, help="keep the run folders under DIR")
    args = parser.parse_args()
    cases = [c for c in BROKEN + HEALTHY if not args.only or c.name in args.only]
    torch.set_num_threads(COMMON["threads"])
    print(machine())
    rows, right = [], {"broken": [0, 0], "healthy": [0, 0]}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for n, case in enumerate(cases):
            findings, wall, note = run_case(case, root / f"{n:02d}-{case.data}")
            ok = verdict(case, findings)
            group = "broken" if case.expected else "healthy"
            right[group][0] += ok
            right[group][1] += 1
            found = ", ".join(f"{f.kind}@{f.step}" for f in findings) or "—"
            print(
                f"{case.name}: {found} → {'right' if ok else 'WRONG'} ({wall:.0f} s) {note}",
                flush=True,
            )
            shown = {**case.budget, **case.options}
            options = ", ".join(f"{k} {v}" for k, v in shown.items()) or "preset"
            rows.append(
                [
                    case.name,
                    f"{case.data}: {options}",
                    case.cause or "—",
                    " or ".join(case.expected) or "nothing",
                    found + (f" ({note})" if note else ""),
                    "right" if ok else "**wrong**",
                    f"{wall:.0f}",
                ]
            )
    header = ["configuration", "data: options", "why it breaks", "expected", "found (kind@step)"]
    header += ["", "train s"]
    (b_ok, b_n), (h_ok, h_n) = right["broken"], right["healthy"]
    summary = (
        f"broken runs flagged with a right kind: {b_ok}/{b_n}; "
        f"healthy runs without a finding: {h_ok}/{h_n}"
    )
    note = (
        f"Each run: `ganforge.GAN(data, threads=1, ...).fit(out=...)`, then "
        f"`ganforge.health.doctor`; mixtures {POINTS['steps']} steps (log every "
        f"{POINTS['log_every']}, evaluate every {POINTS['eval_every']}), digits "
        f"{PICTURES['steps']} steps unless the row says otherwise. Kinds: {', '.join(KINDS)}. "
        f"**{summary}.**"
    )
    record("health", markdown_table(header, rows), note)
    print(summary)


if __name__ == "__main__":
    main()
