"""The material of the training-health checks (:mod:`ganforge.health`): their named
thresholds, the :class:`Finding` they report, and :class:`_Trace`, a run's logged signals
as series that the checks read."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

KINDS = (
    "vanishing-gradients",
    "mode-collapse",
    "failure-to-converge",
    "non-finite",
    "fleeting-convergence",
)

# --- thresholds (tuned on benchmarks/health.py; RESULTS.md records the runs) ----------
MIN_RECORDS = 3  # a sustained condition holds on at least this many log records in a row
MIN_SPAN = 0.1  # ... that span at least this share of the run's steps
WARMUP = 0.1  # share of the run before the samples' spread is judged (G starts narrow) ...
WARMUP_STEPS = 200  # ... and steps (its spread took up to 150 steps to pass 0.75 on digits)
LATE = 0.5  # share of the run after which mode coverage is judged (modes appear slowly)
# D's accuracy is its balanced accuracy (acc_real + acc_fake) / 2: losses that do not
# centre the logits at 0 (least squares, hinge) trade one accuracy for the other while
# the mean stays near the 50 % of the course's equilibrium.
WIN_ACC = 0.95  # D "wins almost every call"
DOMINATE_ACC = 0.8  # D "dominates": far from the 50 % equilibrium
VANISH_RATIO = 0.1  # G's gradient norm at most this share of its peak so far, or of D's
SATURATED_LOGIT = -4.0  # no gradient norms logged: minimax with D(G(z)) < 2 % saturates
COLLAPSE_DIVERSITY = 0.75  # generated spread at most three quarters of the data's
COLLAPSE_COVERAGE = 0.5  # at most half of the modes covered (or effectively used)
HOP_SHARE = 0.2  # covered modes changing by a fifth of all modes between log lines
G_LOSS_RISE = 1.0  # G's loss rising by this while D dominates: G loses ground
SPIKE_RATIO = 10.0  # a gradient norm this many times its recent median is a spike ...
SPIKE_BASE = 10  # ... the median of at most this many records before it
SPIKES = 2  # spikes that make a run unstable (one may be a rare bad batch)
SWING_ACC = 0.2  # D's accuracy changing this much between log lines on average ...
SWING_RECORDS = 5  # ... over this many records
FLEETING_RATIO = 0.5  # best lower-is-better score at most half the final one ...
FLEETING_GAP = {"rkl": 0.1, "class_kl": 0.1}  # ... and at least this much lower
FLEETING_DROP = 0.2  # a count fell from its peak by this share of its total ...
FLEETING_MIN_DROP = 2  # ... and by at least this many

# The signals that must stay finite in a healthy run.
TRAINING_KEYS = (
    "d_loss",
    "g_loss",
    "penalty",
    "d_real",
    "d_fake",
    "g_grad_norm",
    "d_grad_norm",
    "diversity",
)
LOWER_BETTER = ("fd", "kid", "rkl", "class_kl")  # evaluation scores, lower is better
COUNTS = ("modes", "modes_covered", "classes")  # counts, higher is better

# The course's remedies, each with the ganforge option that applies it.
REMEDY = {
    "wasserstein": "Wasserstein loss: --loss wgan-gp",
    "nonsaturating": "modified minimax (non-saturating) loss: --loss nonsaturating",
    "unrolled": "unrolled GAN: --unrolled-steps 5",
    "noise": "noise on D's inputs: --instance-noise 0.1",
    "penalty": "a penalty on D: --r1-gamma 1 or --d-l2 1e-4",
    "smoothing": "label smoothing: --label-smoothing 0.1",
    "lower_lr": "lower learning rates: --lr-g/--lr-d",
    "pack": "D judging samples together (PacGAN): --pack 2",
    "best": "keep the best checkpoint: --eval-every N, then --checkpoint best",
    "decay": "learning rates decaying to 0 at the end: --lr-schedule linear",
    "ema": "samples from an average of G's weights: --ema-decay 0.999",
}
REMEDIES = {
    "vanishing-gradients": ["nonsaturating", "wasserstein", "noise", "penalty", "smoothing"],
    "mode-collapse": ["wasserstein", "unrolled", "pack", "noise"],
    "failure-to-converge": ["lower_lr", "penalty", "noise", "wasserstein", "smoothing"],
    "non-finite": ["lower_lr", "penalty", "wasserstein"],
    "fleeting-convergence": ["best", "decay", "ema", "lower_lr"],
}


@dataclass
class Finding:
    """One problem of a run: what, from which step, why, and what to try.

    Attributes:
        kind: one of :data:`KINDS`.
        step: the step at which the problem began.
        message: one readable sentence.
        evidence: the numbers that triggered it (JSON-ready: NaN and Inf as strings).
        remedies: the course's remedies, each naming the ganforge option that applies it.
    """

    kind: str
    step: int
    message: str
    evidence: dict[str, Any]
    remedies: list[str]

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "step", "message", "evidence", "remedies"}``, JSON-ready."""
        return asdict(self)


# --- the records as series ------------------------------------------------------------

Series = list[float | None]  # one value per record; None where the record lacks it
Mask = list[bool | None]  # a condition per record; None where it cannot be judged
Hit = tuple[int, int, str, dict[str, Any]]  # first and last record, reason, evidence


class _Trace:
    """A run's records sorted by step, with what the detectors need of its config.json."""

    def __init__(
        self, records: list[dict[str, Any]], info: dict[str, Any] | None, final: bool
    ) -> None:
        self.final = final  # whether the run has ended
        self.records = sorted((r for r in records if "step" in r), key=lambda r: r["step"])
        self.steps = [int(r["step"]) for r in self.records]
        config = (info or {}).get("config") or {}
        mixture = ((info or {}).get("data") or {}).get("mixture") or {}
        self.loss = str(config.get("loss", ""))
        last = self.steps[-1] if self.steps else 0
        self.total = max(int(config.get("steps") or 0), last, 1)
        totals = [v for v in self.values("modes_total") if _finite(v)]
        self.modes_total = int(totals[-1]) if totals else len(mixture.get("means") or []) or None
        classes = ((info or {}).get("data") or {}).get("classes")
        self.classes_total = len(classes) if isinstance(classes, list) and classes else None

    def values(self, key: str) -> Series:
        """``key`` of every record as a float (NaN kept), None where it is missing."""
        return [_number(r.get(key)) for r in self.records]

    def acc(self) -> Series:
        """D's balanced accuracy (acc_real + acc_fake) / 2 of every record."""
        pairs = zip(self.values("acc_real"), self.values("acc_fake"), strict=True)
        return [None if a is None or b is None else (a + b) / 2 for a, b in pairs]

    def sustained(self, mask: Mask, after: float = 0, last: bool = False) -> tuple[int, int] | None:
        """The first stretch of True records at steps ``>= after`` that is sustained: at
        least MIN_RECORDS records spanning MIN_SPAN of the run (records without data
        neither extend nor break it); with ``last``, only the stretch that ends the run.
        Returns its first and last index, or None."""
        stretch: list[int] = []
        before = previous = 0  # a record stands for the steps since the one before it
        for i, m in enumerate([*mask, False]):
            if m is None:
                continue
            if m and self.steps[i] >= after:
                before = previous if not stretch else before
                stretch.append(i)
            else:
                span = self.steps[stretch[-1]] - before if stretch else 0
                ends = not last or i == len(mask)
                if len(stretch) >= MIN_RECORDS and span >= MIN_SPAN * self.total and ends:
                    return stretch[0], stretch[-1]
                stretch = []
            previous = self.steps[i] if i < len(mask) else previous
        return None

    def back(self, mask: Mask, i: int) -> int:
        """The first index of the unbroken stretch of True records that ends in ``i``."""
        first = i
        for k in range(i - 1, -1, -1):
            if mask[k] is False:
                break
            first = k if mask[k] else first
        return first


def _number(v: Any) -> float | None:
    """A float for a number (NaN and Inf kept), None for anything else."""
    return None if isinstance(v, bool) or not isinstance(v, (int, float)) else float(v)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _mean(values: Series) -> float:
    """Mean of the finite values, NaN if there are none."""
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _median(values: list[float]) -> float:
    s = sorted(values)
    return (s[len(s) // 2] + s[(len(s) - 1) // 2]) / 2


def _clean(v: Any) -> Any:
    """Evidence numbers to four significant digits; NaN and Inf as strings (valid JSON)."""
    if isinstance(v, float):
        return float(f"{v:.4g}") if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _finding(t: _Trace, kind: str, hits: list[Hit], what: str) -> Finding | None:
    """The finding of the earliest hit, or None without hits."""
    if not hits:
        return None
    i, j, why, evidence = min(hits, key=lambda h: h[0])
    first, last = t.steps[i], t.steps[j]
    steps = f"step {first}" if i == j else f"steps {first}–{last}"
    return Finding(
        kind,
        first,
        f"{steps}: {why} ({what})",
        _clean({"from_step": first, "to_step": last, **evidence}),
        [REMEDY[r] for r in REMEDIES[kind]],
    )
