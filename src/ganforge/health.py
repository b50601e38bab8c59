"""Training health: the course's ways a GAN goes wrong, found in a run's logged signals.

:func:`diagnose` reads the records of ``metrics.jsonl`` (D's accuracies and mean logits,
both networks' gradient norms, the losses, sample diversity, mode coverage and the
``--eval-every`` scores) and returns :class:`Finding` objects of five kinds:

- ``vanishing-gradients``: D wins almost every call for a sustained stretch while G's
  gradient fades;
- ``mode-collapse``: generated samples much less spread than the data, or modes missing;
- ``failure-to-converge``: D dominates while G's loss climbs, gradients leap again and
  again, D's accuracy swings wildly, or D still dominates at the end of the run;
- ``non-finite``: a NaN or Inf in a loss or gradient norm, or updates skipped for one;
- ``fleeting-convergence`` (only at the end of a run): the run was clearly better at
  some step than it is at the end, as the course warns a converged state may not last.

Each detector is a small function with its thresholds named below. "Sustained" means at
least :data:`MIN_RECORDS` log records in a row that span :data:`MIN_SPAN` of the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from ganforge.run import RunDir

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


# --- the detectors --------------------------------------------------------------------


def non_finite(t: _Trace) -> Finding | None:
    """A NaN or Inf in a training signal (TRAINING_KEYS), or updates skipped as
    non-finite (``skipped`` above 0); the first such record."""
    skipped = [v if v is not None and _finite(v) else 0.0 for v in t.values("skipped")]
    for i, record in enumerate(t.records):
        bad = [k for k in TRAINING_KEYS if _number(record.get(k)) is not None]
        bad = [k for k in bad if not math.isfinite(record[k])]
        if bad or skipped[i] > 0:
            why = f"{', '.join(bad)} not finite" if bad else f"{skipped[i]:.0f} updates skipped"
            hit = (i, len(t.records) - 1, why, {"keys": bad, "skipped": skipped[-1]})
            return _finding(t, "non-finite", [hit], "the weights may be ruined from here on")
    return None


def vanishing_gradients(t: _Trace) -> Finding | None:
    """D wins almost every call (accuracy >= WIN_ACC) for a sustained stretch while G's
    gradient norm is at most VANISH_RATIO of its peak so far or of D's.

    Without logged gradient norms, a saturating (minimax) G loss with a mean fake logit at
    most SATURATED_LOGIT stands in for the fading gradient.
    """
    acc, g, d, fake = t.acc(), t.values("g_grad_norm"), t.values("d_grad_norm"), t.values("d_fake")
    norms = any(_finite(v) for v in g)
    mask: Mask = []
    peak, peaks = 0.0, []
    for a, gn, dn, f in zip(acc, g, d, fake, strict=True):
        peak = max(peak, gn) if gn is not None and _finite(gn) else peak
        peaks.append(peak)
        if norms:
            faded = gn is not None and (gn <= VANISH_RATIO * peak or gn <= VANISH_RATIO * (dn or 0))
        else:
            faded = t.loss == "minimax" and f is not None and f <= SATURATED_LOGIT
        mask.append(None if a is None else a >= WIN_ACC and faded)
    found = t.sustained(mask)
    if found is None:
        return None
    i, j = found
    ev = {"acc": _mean(acc[i : j + 1]), "d_fake": _mean(fake[i : j + 1])}
    if norms:
        ev.update(g_grad_norm=g[j], g_grad_norm_peak=peaks[j], d_grad_norm=d[j])
        why = (
            f"G's gradient norm fell to {g[j]:.2g} from a peak of {peaks[j]:.2g} (D's: {d[j]:.2g})"
        )
    else:
        why = f"the minimax loss saturated (mean D logit on fakes {ev['d_fake']:.1f})"
    why = f"D classified {ev['acc']:.0%} of samples right while {why}"
    return _finding(t, "vanishing-gradients", [(i, j, why, ev)], "G hardly learns")


def _narrow(t: _Trace) -> list[Hit]:
    """Sustained ``diversity`` at most COLLAPSE_DIVERSITY after WARMUP and WARMUP_STEPS."""
    div = t.values("diversity")
    low: Mask = [None if v is None or not _finite(v) else v <= COLLAPSE_DIVERSITY for v in div]
    found = t.sustained(low, after=max(WARMUP * t.total, WARMUP_STEPS))
    if not found:
        return []
    i, j = t.back(low, found[0]), found[1]
    ev = {"diversity": _mean(div[i : j + 1]), "threshold": COLLAPSE_DIVERSITY}
    return [(i, j, f"the samples spread {ev['diversity']:.2f}× as much as the data", ev)]


def _uncovered(t: _Trace, key: str, total: int) -> list[Hit]:
    """After LATE, a sustained share of modes or classes at most COLLAPSE_COVERAGE: the
    count ``key`` over ``total``, or for a KL to the uniform histogram (rkl, class_kl)
    exp(-KL) = exp(H(p)) / K, the share of effectively used ones (NaN: none is used)."""
    values = t.values(key)
    if key in LOWER_BETTER:
        share = [None if v is None else math.exp(-v) if _finite(v) else 0.0 for v in values]
    else:
        share = [None if v is None else v / total for v in values]
    mask: Mask = [None if v is None else v <= COLLAPSE_COVERAGE for v in share]
    found = t.sustained(mask, after=LATE * t.total)
    if not found:
        return []
    i, j = t.back(mask, found[0]), found[1]
    ev = {key: _mean(values[i : j + 1]), "share": _mean(share[i : j + 1]), "total": total}
    what = "modes" if key in ("modes_covered", "modes", "rkl") else "classes"
    verb = "effectively used" if key in LOWER_BETTER else "covered"
    return [(i, j, f"only {ev['share']:.0%} of the {total} {what} were {verb}", ev)]


def _hopping(t: _Trace, total: int) -> list[Hit]:
    """After LATE, covered modes changing by HOP_SHARE of all modes per record on average."""
    late = [(k, v) for k, v in enumerate(t.values("modes_covered")) if v is not None]
    late = [(k, v) for k, v in late if t.steps[k] >= LATE * t.total]
    if len(late) <= MIN_RECORDS:
        return []
    hop = _mean([abs(b - a) for (_, a), (_, b) in pairwise(late)])
    if hop < HOP_SHARE * total:
        return []
    why = f"G hopped between modes ({hop:.1f} of {total} changed per log line)"
    return [(late[0][0], late[-1][0], why, {"mean_change": hop, "modes_total": total})]


def mode_collapse(t: _Trace) -> Finding | None:
    """Generated samples much narrower than the data, or the data's modes left out.

    Any of: sample diversity low for a sustained stretch; on a mixture, few modes covered
    late in the run, or G hopping from mode to mode (the course's generator rotating
    through a small set of outputs); with labelled data evaluated by ``classes``, few
    classes late in the run. A low stretch is traced back to where it began.
    """
    hits = _narrow(t)
    if t.modes_total:
        for key in ("modes_covered", "modes", "rkl"):
            hits += _uncovered(t, key, t.modes_total)
        hits += _hopping(t, t.modes_total)
    if t.classes_total:
        for key in ("classes", "class_kl"):
            hits += _uncovered(t, key, t.classes_total)
    return _finding(t, "mode-collapse", hits, "mode collapse")


def _losing_ground(t: _Trace) -> list[Hit]:
    """D dominating (accuracy >= DOMINATE_ACC) over a sustained stretch in which G's loss
    rose by G_LOSS_RISE above its value at the stretch's start."""
    acc, g_loss = t.acc(), t.values("g_loss")
    dominates: Mask = [None if a is None else a >= DOMINATE_ACC for a in acc]
    while found := t.sustained(dominates):
        i, j = found
        start = g_loss[i] if g_loss[i] is not None and _finite(g_loss[i]) else math.inf
        top = max((v for v in g_loss[i : j + 1] if v is not None and _finite(v)), default=start)
        if top - start >= G_LOSS_RISE:
            ev = {"acc": _mean(acc[i : j + 1]), "g_loss_rise": top - start}
            why = (
                f"D was right on {ev['acc']:.0%} of samples and G's loss rose by {top - start:.2g}"
            )
            return [(i, j, why, ev)]
        dominates = [None if k <= j else m for k, m in enumerate(dominates)]  # the next one
    return []


def _dominating_at_end(t: _Trace) -> list[Hit]:
    """At the end of the run only: D dominating over a sustained stretch that ends it."""
    acc = t.acc()
    found = t.final and t.sustained(
        [None if a is None else a >= DOMINATE_ACC for a in acc], last=True
    )
    if not found:
        return []
    i, j = found
    ev = {"acc": _mean(acc[i : j + 1]), "equilibrium": 0.5}
    return [(i, j, f"D was still right on {ev['acc']:.0%} of samples at the end", ev)]


def _spikes(t: _Trace) -> list[Hit]:
    """At least SPIKES records where a gradient norm (without them, a loss) leaps to
    SPIKE_RATIO times its median over the SPIKE_BASE records before."""
    norms = any(v is not None for v in t.values("g_grad_norm"))
    spikes: dict[int, tuple[str, float]] = {}  # record -> its largest leap
    for key in ("g_grad_norm", "d_grad_norm") if norms else ("d_loss", "g_loss"):
        series = [None if v is None or not _finite(v) else abs(v) for v in t.values(key)]
        for k, v in enumerate(series):
            base = [x for x in series[max(0, k - SPIKE_BASE) : k] if x is not None]
            if v is not None and len(base) >= MIN_RECORDS:
                ratio = v / max(_median(base), 1e-12)
                if ratio >= SPIKE_RATIO and ratio > spikes.get(k, ("", 0.0))[1]:
                    spikes[k] = (key, ratio)
    if len(spikes) < SPIKES:
        return []
    at = sorted(spikes)
    listed = [{"step": t.steps[k], "key": spikes[k][0], "ratio": spikes[k][1]} for k in at[:5]]
    why = f"gradients leapt {SPIKE_RATIO:g}× over their recent median at {len(at)} log lines"
    return [(at[0], at[-1], why, {"spikes": listed, "count": len(at)})]


def _swings(t: _Trace) -> list[Hit]:
    """D's accuracy changing by SWING_ACC per record on average over SWING_RECORDS."""
    acc = t.acc()
    changes = [None if a is None or b is None else abs(b - a) for a, b in pairwise(acc)]
    for k in range(len(changes) - SWING_RECORDS + 2):
        window = changes[k : k + SWING_RECORDS - 1]
        if None not in window and (mean := _mean(window)) >= SWING_ACC:
            why = f"D's accuracy swung by {mean:.0%} per log line"
            return [(k, k + SWING_RECORDS - 1, why, {"mean_change": mean})]
    return []


def failure_to_converge(t: _Trace) -> Finding | None:
    """The game does not settle: G losing ground to a dominating D, gradients leaping
    again and again, D's accuracy swinging wildly, or (at the end only) D still far from
    the 50 % equilibrium."""
    hits = _losing_ground(t) + _spikes(t) + _swings(t) + _dominating_at_end(t)
    return _finding(t, "failure-to-converge", hits, "the training does not converge")


def fleeting_convergence(t: _Trace) -> Finding | None:
    """The run was clearly better at some step than at its end (judged at the end only).

    A lower-is-better score (LOWER_BETTER) whose best is at most FLEETING_RATIO of the
    final one (and, for rkl and class_kl, FLEETING_GAP lower), or NaN at the end after a
    finite best; or a count (COUNTS) whose peak exceeds the final value by FLEETING_DROP of
    its total and by FLEETING_MIN_DROP. ``modes_covered``, logged at every record, is
    first averaged over MIN_RECORDS records. The step is that of the best value.
    """
    hits: list[Hit] = []
    for key in (*LOWER_BETTER, *COUNTS):
        series = [(k, v) for k, v in enumerate(t.values(key)) if v is not None]
        if key == "modes_covered":
            series = [
                (k, _mean([v for _, v in series[max(0, n - MIN_RECORDS + 1) : n + 1]]))
                for n, (k, _) in enumerate(series)
            ][MIN_RECORDS - 1 :]
        finite = [(k, v) for k, v in series[:-1] if _finite(v)]
        if not finite:
            continue
        end_k, end = series[-1]
        if key in LOWER_BETTER:
            best_k, best = min(finite, key=lambda kv: kv[1])
            gap = FLEETING_GAP.get(key, 0.0)
            worse = not _finite(end) or (best <= FLEETING_RATIO * end and end - best >= gap)
        else:
            best_k, best = max(finite, key=lambda kv: kv[1])
            total = t.classes_total if key == "classes" else t.modes_total
            drop = best - end if _finite(end) else best
            worse = drop >= max(FLEETING_MIN_DROP, FLEETING_DROP * (total or best))
        if worse:
            ev = {"metric": key, "best": best, "final": end}
            hits.append((best_k, end_k, f"{key} went from {best:.3g} to {end:.3g}", ev))
    return _finding(t, "fleeting-convergence", hits, "the run was at its best before the end")


DETECTORS: dict[str, Callable[[_Trace], Finding | None]] = {
    "vanishing-gradients": vanishing_gradients,
    "mode-collapse": mode_collapse,
    "failure-to-converge": failure_to_converge,
    "non-finite": non_finite,
    "fleeting-convergence": fleeting_convergence,
}
AT_END_ONLY = frozenset({"fleeting-convergence"})  # needs the end of the run


def diagnose(
    records: list[dict[str, Any]], info: dict[str, Any] | None = None, *, final: bool = True
) -> list[Finding]:
    """The findings of a run's ``metrics.jsonl`` records, ordered by the step they began.

    Args:
        records: the records, each with ``"step"``; missing signals are simply not used.
        info: the run's ``config.json`` (its total steps, loss and mixture sharpen the
            detectors), or None.
        final: whether the run has ended. While it is still going (False), what needs the
            end of the run is left out: fleeting-convergence, and D dominating at the end.
    """
    trace = _Trace(records, info, final)
    if not trace.records:
        return []
    found = [
        finding
        for kind, detector in DETECTORS.items()
        if (final or kind not in AT_END_ONLY) and (finding := detector(trace)) is not None
    ]
    return sorted(found, key=lambda f: (f.step, KINDS.index(f.kind)))


def read_records(run: RunDir) -> list[dict[str, Any]]:
    """The records of ``run``'s metrics.jsonl; a line cut off by a crash is left out."""
    return run.read_records()[0]


def doctor(run_path: str | Path, *, final: bool = True) -> list[Finding]:
    """The findings of the run in ``run_path`` (its config.json and metrics.jsonl).

    A folder that holds no run raises :class:`ganforge.GanforgeError`.
    """
    run = RunDir(run_path)
    info = run.read_config()
    return diagnose(read_records(run), info, final=final)


def format_findings(findings: list[Finding]) -> str:
    """A readable list of the findings, or one line saying that there are none."""
    if not findings:
        return "no problems found"
    lines = [f"{len(findings)} problem(s) found:"]
    for f in findings:
        lines.append(f"\n⚠ {f.kind}: {f.message}")
        lines.append(
            "  evidence: " + ", ".join(f"{k} {json.dumps(v)}" for k, v in f.evidence.items())
        )
        lines.append("  remedies:")
        lines += [f"    - {r}" for r in f.remedies]
    return "\n".join(lines)


def findings_json(findings: list[Finding]) -> dict[str, list[dict[str, Any]]]:
    """``{"findings": [{"kind", "step", "message", "evidence", "remedies"}, ...]}``."""
    return {"findings": [f.to_dict() for f in findings]}


def progress_note(findings: list[Finding]) -> str:
    """A short text for the progress bar, e.g. ``⚠ mode-collapse@1200``; empty if none."""
    return "⚠ " + " ".join(f"{f.kind}@{f.step}" for f in findings) if findings else ""
