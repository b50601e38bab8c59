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

:func:`doctor_notes` says what is worth knowing but is no training-health problem: the
machine slowing the run down (records that :class:`ganforge.threads.SpeedWatch` marked).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from ganforge.health_trace import (
    COLLAPSE_COVERAGE,
    COLLAPSE_DIVERSITY,
    COUNTS,
    DOMINATE_ACC,
    FLEETING_DROP,
    FLEETING_GAP,
    FLEETING_MIN_DROP,
    FLEETING_RATIO,
    G_LOSS_RISE,
    HOP_SHARE,
    KINDS,
    LATE,
    LOWER_BETTER,
    MIN_RECORDS,
    MIN_SPAN,
    REMEDIES,
    REMEDY,
    SATURATED_LOGIT,
    SPIKE_BASE,
    SPIKE_RATIO,
    SPIKES,
    SWING_ACC,
    SWING_RECORDS,
    TRAINING_KEYS,
    VANISH_RATIO,
    WARMUP,
    WARMUP_STEPS,
    WIN_ACC,
    Finding,
    Hit,
    Mask,
    _finding,
    _finite,
    _mean,
    _median,
    _number,
    _Trace,
)
from ganforge.run import RunDir
from ganforge.threads import slowdown_notes

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


def doctor_notes(run_path: str | Path) -> list[str]:
    """Notes on the run in ``run_path`` that are no problem of its training (see above)."""
    return slowdown_notes(read_records(RunDir(run_path)))


def format_findings(findings: list[Finding], notes: list[str] | None = None) -> str:
    """A readable list of the findings (or one line saying that there are none), then the
    ``notes``, each on a line of its own."""
    told = "".join(f"\nnote: {n}" for n in notes or [])
    if not findings:
        return "no problems found" + told
    lines = [f"{len(findings)} problem(s) found:"]
    for f in findings:
        lines.append(f"\n⚠ {f.kind}: {f.message}")
        lines.append(
            "  evidence: " + ", ".join(f"{k} {json.dumps(v)}" for k, v in f.evidence.items())
        )
        lines.append("  remedies:")
        lines += [f"    - {r}" for r in f.remedies]
    return "\n".join(lines) + ("\n" + told if told else "")


def findings_json(findings: list[Finding], notes: list[str] | None = None) -> dict[str, list[Any]]:
    """``{"findings": [{"kind", "step", "message", "evidence", "remedies"}, ...]}``, and
    ``"notes": [text, ...]`` when there are notes."""
    out: dict[str, list[Any]] = {"findings": [f.to_dict() for f in findings]}
    return {**out, "notes": list(notes)} if notes else out


def progress_note(findings: list[Finding]) -> str:
    """A short text for the progress bar, e.g. ``⚠ mode-collapse@1200``; empty if none."""
    return "⚠ " + " ".join(f"{f.kind}@{f.step}" for f in findings) if findings else ""


__all__ = [
    "COLLAPSE_DIVERSITY", "KINDS", "MIN_RECORDS", "MIN_SPAN", "REMEDIES", "REMEDY", "WIN_ACC",
    "Finding", "diagnose", "doctor",
    "doctor_notes", "findings_json", "format_findings", "progress_note", "read_records",
]  # fmt: skip
