"""ganforge.health: each detector on synthetic and recorded signal traces, the output
formats, and the doctor on real short runs."""

import json
import math
import re

import pytest
from helpers import run

import ganforge
from ganforge import health
from ganforge.config import field_names
from ganforge.errors import GanforgeError
from ganforge.run import RunDir

RING = [[math.cos(math.pi * i / 4), math.sin(math.pi * i / 4)] for i in range(8)]
INFO = {
    "config": {"steps": 2000, "loss": "nonsaturating", "log_every": 100},
    "data": {"name": "ring", "kind": "points", "mixture": {"means": RING, "std": 0.01}},
}


def trace(n=20, every=100, eval_every=500, **signals):
    """``n`` records of a healthy run every ``every`` steps; ``signals`` replace a key
    by a value, or by a function of the step (returning None drops the key)."""
    records = []
    for k in range(1, n + 1):
        step = k * every
        r = {
            "step": step,
            "d_loss": 1.35,
            "g_loss": 0.73,
            "penalty": 0.02,
            "d_real": 0.05,
            "d_fake": -0.05,
            "acc_real": 0.64,
            "acc_fake": 0.58,
            "g_grad_norm": 1.0 + 0.2 * math.sin(k),
            "d_grad_norm": 0.6 + 0.1 * math.cos(k),
            "diversity": 0.99,
            "modes_covered": 8,
            "modes_total": 8,
            "steps_per_s": 150.0,
            "skipped": 0,
        }
        if step % eval_every == 0:
            r.update(modes=8, hq=40.0, rkl=0.05)
        for key, value in signals.items():
            r[key] = value(step) if callable(value) else value
        records.append({k: v for k, v in r.items() if v is not None})
    return records


def after(step, sick, well):
    """A signal that is ``well`` up to ``step`` and ``sick`` from it on."""
    return lambda s: sick if s >= step else well


def kinds(findings):
    return [(f.kind, f.step) for f in findings]


# --- healthy traces -------------------------------------------------------------------


def test_a_healthy_trace_has_no_finding():
    records = trace()
    assert health.diagnose(records, INFO) == []
    assert health.diagnose(records) == []  # without config.json too
    for n in range(1, len(records) + 1):  # nor at any point while it trains
        assert health.diagnose(records[:n], INFO, final=False) == []


def test_no_records_no_findings():
    assert health.diagnose([], INFO) == []


def test_a_slow_start_is_not_a_collapse():
    # G starts narrow and finds the modes during the first half: normal learning
    records = trace(
        diversity=lambda s: min(1.0, s / 400),
        modes_covered=lambda s: min(8, s // 100),
        acc_real=lambda s: 0.99 if s <= 200 else 0.64,
        acc_fake=lambda s: 0.99 if s <= 200 else 0.58,
    )
    assert health.diagnose(records, INFO) == []


# --- vanishing gradients --------------------------------------------------------------


def test_vanishing_gradients_from_the_step_d_wins_and_g_fades():
    records = trace(
        acc_real=after(800, 1.0, 0.64),
        acc_fake=after(800, 1.0, 0.58),
        d_fake=after(800, -15.0, -0.05),
        g_grad_norm=after(800, 1e-5, 1.0),
    )
    (finding,) = [f for f in health.diagnose(records, INFO) if f.kind == "vanishing-gradients"]
    assert finding.step == 800
    assert finding.evidence["from_step"] == 800
    assert finding.evidence["to_step"] == 2000
    assert finding.evidence["acc"] == pytest.approx(1.0)
    assert finding.evidence["g_grad_norm"] == pytest.approx(1e-5)
    assert finding.evidence["g_grad_norm_peak"] == pytest.approx(
        max(r["g_grad_norm"] for r in records)
    )
    assert "--loss nonsaturating" in " ".join(finding.remedies)


def test_a_brief_win_of_d_is_not_vanishing_gradients():
    # two records (10 % of the run is three) of D winning, then balance again
    sick = lambda s: 800 <= s < 1000  # noqa: E731
    records = trace(
        acc_real=lambda s: 1.0 if sick(s) else 0.64,
        acc_fake=lambda s: 1.0 if sick(s) else 0.58,
        g_grad_norm=lambda s: 1e-5 if sick(s) else 1.0,
    )
    assert health.diagnose(records, INFO) == []


def test_d_winning_while_g_still_gets_gradients_is_not_vanishing():
    records = trace(acc_real=1.0, acc_fake=1.0, g_grad_norm=2.0, d_grad_norm=1.0)
    assert "vanishing-gradients" not in [f.kind for f in health.diagnose(records, INFO)]


def test_vanishing_gradients_without_gradient_norms_needs_a_saturating_loss():
    records = trace(
        acc_real=after(600, 1.0, 0.64),
        acc_fake=after(600, 1.0, 0.58),
        d_fake=after(600, -9.0, -0.05),
        g_grad_norm=None,
        d_grad_norm=None,
    )
    minimax = {**INFO, "config": {**INFO["config"], "loss": "minimax"}}
    found = kinds(health.diagnose(records, minimax))
    assert ("vanishing-gradients", 600) in found
    assert "vanishing-gradients" not in [k for k, _ in kinds(health.diagnose(records, INFO))]


# --- mode collapse --------------------------------------------------------------------


def test_mode_collapse_from_low_diversity():
    records = trace(diversity=after(1200, 0.2, 0.99))
    assert kinds(health.diagnose(records, INFO)) == [("mode-collapse", 1200)]
    (finding,) = health.diagnose(records, INFO)
    assert finding.evidence["diversity"] == pytest.approx(0.2)
    assert finding.evidence["threshold"] == health.COLLAPSE_DIVERSITY


def test_mode_collapse_from_few_modes_traced_back_to_where_it_began():
    # covered modes are judged in the second half, but the collapse began at step 600
    records = trace(modes_covered=after(600, 2, 8), modes=after(600, 2, 8))
    (finding,) = health.diagnose(records, INFO, final=False)  # at the end also fleeting
    assert (finding.kind, finding.step) == ("mode-collapse", 600)
    assert finding.evidence["share"] == pytest.approx(2 / 8)
    assert finding.evidence["total"] == 8


def test_mode_collapse_from_the_evaluation_alone():
    # no modes_covered logged: the evaluation's reverse KL (exp(-1.5) = 22 % of modes used)
    records = trace(
        modes_covered=None, modes_total=None, rkl=lambda s: 1.5 if s % 500 == 0 else None
    )
    found = health.diagnose(records, INFO)
    assert kinds(found) == [("mode-collapse", 500)]
    assert found[0].evidence["share"] == pytest.approx(math.exp(-1.5), rel=1e-3)


def test_class_collapse_from_the_evaluation_of_labelled_pictures():
    digits = {"config": {"steps": 2000}, "data": {"name": "digits", "classes": list("0123456789")}}
    records = trace(
        modes_covered=None,
        modes_total=None,
        modes=None,
        rkl=None,
        classes=lambda s: (10 if s < 1000 else 3) if s % 500 == 0 else None,
    )
    found = health.diagnose(records, digits, final=False)
    assert kinds(found) == [("mode-collapse", 1000)]
    assert found[0].evidence["share"] == pytest.approx(0.3)
    assert "of the 10 classes" in found[0].message


def test_mode_collapse_when_g_hops_between_modes():
    records = trace(modes_covered=lambda s: 8 if (s // 100) % 2 else 3)
    found = health.diagnose(records, INFO)
    assert [f.kind for f in found] == ["mode-collapse"]
    assert found[0].evidence["mean_change"] == pytest.approx(5.0)


# --- failure to converge --------------------------------------------------------------


def test_failure_to_converge_when_g_loses_ground_to_a_dominating_d():
    records = trace(
        acc_real=after(1000, 0.92, 0.64),
        acc_fake=after(1000, 0.9, 0.58),
        g_loss=lambda s: 0.73 if s < 1000 else 0.73 + (s - 1000) / 300,
    )
    found = health.diagnose(records, INFO, final=False)
    assert kinds(found) == [("failure-to-converge", 1000)]
    assert found[0].evidence["g_loss_rise"] == pytest.approx(1000 / 300, rel=1e-3)


def test_failure_to_converge_from_repeated_gradient_spikes():
    spikes = {700: 60.0, 1300: 45.0}
    records = trace(d_grad_norm=lambda s: spikes.get(s, 0.6))
    (finding,) = health.diagnose(records, INFO)
    assert (finding.kind, finding.step) == ("failure-to-converge", 700)
    assert finding.evidence["count"] == 2
    assert [s["step"] for s in finding.evidence["spikes"]] == [700, 1300]
    # one spike may be a bad batch
    assert health.diagnose(trace(d_grad_norm=lambda s: 60.0 if s == 700 else 0.6), INFO) == []


def test_failure_to_converge_when_d_still_dominates_at_the_end():
    records = trace(acc_real=after(1400, 0.88, 0.64), acc_fake=after(1400, 0.86, 0.58))
    found = health.diagnose(records, INFO)
    assert kinds(found) == [("failure-to-converge", 1400)]
    assert found[0].evidence["acc"] == pytest.approx(0.87)
    assert health.diagnose(records, INFO, final=False) == []  # needs the end


def test_failure_to_converge_when_d_accuracy_swings():
    records = trace(acc_real=lambda s: 0.95 if (s // 100) % 2 else 0.3)
    assert [f.kind for f in health.diagnose(records, INFO)] == ["failure-to-converge"]


def test_accuracy_of_losses_not_centred_at_zero_is_balanced():
    # least squares: real logits near 1 and fakes near 0.5 give acc_real 1 and acc_fake 0;
    # the balanced accuracy is 50 %, the equilibrium
    assert health.diagnose(trace(acc_real=1.0, acc_fake=0.0), INFO) == []


# --- non-finite -----------------------------------------------------------------------


def test_non_finite_loss_from_its_first_record():
    records = trace(g_loss=after(700, math.nan, 0.73))
    (finding,) = [f for f in health.diagnose(records, INFO) if f.kind == "non-finite"]
    assert finding.step == 700
    assert finding.evidence["keys"] == ["g_loss"]


def test_non_finite_gradient_norm_and_skipped_updates():
    records = trace(d_grad_norm=after(900, math.inf, 0.6))
    assert ("non-finite", 900) in kinds(health.diagnose(records, INFO))
    records = trace(skipped=lambda s: 0 if s < 400 else 3)
    (finding,) = health.diagnose(records, INFO)
    assert (finding.kind, finding.step) == ("non-finite", 400)
    assert finding.evidence["skipped"] == 3


def test_a_nan_evaluation_score_alone_is_not_non_finite():
    # rkl is NaN when no sample is high quality, e.g. once early in training
    records = trace(rkl=lambda s: math.nan if s == 500 else (0.05 if s % 500 == 0 else None))
    assert health.diagnose(records, INFO) == []


# --- fleeting convergence -------------------------------------------------------------


def test_fleeting_convergence_at_the_best_step_and_only_at_the_end():
    rkl = {500: 0.3, 1000: 0.02, 1500: 0.2, 2000: 0.6}
    records = trace(rkl=lambda s: rkl.get(s))
    found = health.diagnose(records, INFO)
    assert kinds(found) == [("fleeting-convergence", 1000)]
    assert found[0].evidence == {
        "from_step": 1000,
        "to_step": 2000,
        "metric": "rkl",
        "best": 0.02,
        "final": 0.6,
    }
    assert "--checkpoint best" in " ".join(found[0].remedies)
    assert health.diagnose(records, INFO, final=False) == []


def test_fleeting_convergence_of_a_count_and_of_fd():
    modes = {500: 6, 1000: 8, 1500: 7, 2000: 5}
    assert kinds(health.diagnose(trace(modes=lambda s: modes.get(s)), INFO)) == [
        ("fleeting-convergence", 1000)
    ]
    fd = {500: 9.0, 1000: 2.0, 1500: 2.5, 2000: 6.0}
    records = trace(modes=None, rkl=None, fd=lambda s: fd.get(s))
    assert kinds(health.diagnose(records)) == [("fleeting-convergence", 1000)]


def test_small_wobbles_at_the_end_are_not_fleeting():
    rkl = {500: 0.08, 1000: 0.02, 1500: 0.03, 2000: 0.05}  # 0.05 - 0.02 < FLEETING_GAP
    modes = {500: 8, 1000: 8, 1500: 8, 2000: 7}
    records = trace(rkl=lambda s: rkl.get(s), modes=lambda s: modes.get(s))
    assert health.diagnose(records, INFO) == []


# --- formats --------------------------------------------------------------------------


def sick_findings():
    records = trace(
        diversity=after(1200, 0.2, 0.99), g_loss=after(1500, math.nan, 0.73), rkl=math.nan
    )
    return health.diagnose(records, INFO)


def test_findings_are_ordered_by_step():
    steps = [f.step for f in sick_findings()]
    assert steps == sorted(steps) and len(steps) >= 2


def test_json_has_exactly_the_contract_keys_and_is_strict_json():
    out = health.findings_json(sick_findings())
    assert set(out) == {"findings"}
    for f in out["findings"]:
        assert set(f) == {"kind", "step", "message", "evidence", "remedies"}
        assert f["kind"] in health.KINDS
        assert isinstance(f["step"], int) and isinstance(f["message"], str)
        assert all(isinstance(r, str) for r in f["remedies"])
    text = json.dumps(out, allow_nan=False)  # NaN in the evidence is written as a string
    assert json.loads(text) == out
    assert health.findings_json([]) == {"findings": []}


def test_readable_list_and_progress_note():
    findings = sick_findings()
    text = health.format_findings(findings)
    for f in findings:
        assert f"⚠ {f.kind}: {f.message}" in text
        for remedy in f.remedies:
            assert f"    - {remedy}" in text
    assert health.format_findings([]) == "no problems found"
    note = health.progress_note(findings)
    assert note == "⚠ " + " ".join(f"{f.kind}@{f.step}" for f in findings)
    assert health.progress_note([]) == ""


def test_every_remedy_names_an_option_that_exists():
    options = set(field_names()) | {"checkpoint"}  # --checkpoint: of sample and eval
    for remedies in health.REMEDIES.values():
        for key in remedies:
            flags = re.findall(r"--([a-z0-9-]+)", health.REMEDY[key])
            assert flags, health.REMEDY[key]
            for flag in flags:
                assert flag.replace("-", "_") in options, flag


# --- the doctor on run folders --------------------------------------------------------


def test_doctor_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(GanforgeError, match="not a ganforge run"):
        health.doctor(tmp_path)


def test_doctor_skips_a_line_cut_off_by_a_crash(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(INFO))
    lines = [json.dumps(r) for r in trace(diversity=after(1200, 0.2, 0.99))]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 2100, "d_lo')
    assert kinds(health.doctor(tmp_path)) == [("mode-collapse", 1200)]


# --- recorded traces ------------------------------------------------------------------
# metrics.jsonl of runs of benchmarks/health.py (three significant digits): data, steps,
# loss, the findings (kind@step), and rows of COLUMNS plus the evaluation's numbers.

NAN, INF = math.nan, math.inf
COLUMNS = ("step", "acc_real", "acc_fake", "d_fake", "g_loss", "g_grad_norm", "d_grad_norm")
COLUMNS += ("diversity", "modes_covered", "skipped")
RECORDED = {
    "healthy ring": (
        "ring",
        2000,
        "nonsaturating",
        [],
        [
            (100, 0.569, 0.726, -0.127, 0.812, 0.511, 0.644, 1.12, 3, 0, None),
            (200, 0.829, 0.665, -0.119, 0.773, 0.264, 0.456, 0.991, 4, 0, None),
            (300, 0.763, 0.654, -0.139, 0.81, 0.859, 0.873, 0.981, 8, 0, None),
            (400, 0.791, 0.668, -0.126, 0.79, 1.03, 0.864, 0.979, 8, 0, None),
            (500, 0.758, 0.689, -0.136, 0.79, 1.11, 0.876, 0.98, 8, 0, {"modes": 8, "rkl": 0.0802}),
            (600, 0.718, 0.664, -0.12, 0.788, 1.23, 0.944, 0.987, 8, 0, None),
            (700, 0.75, 0.653, -0.116, 0.781, 1.23, 0.885, 0.988, 8, 0, None),
            (800, 0.722, 0.641, -0.106, 0.772, 1.28, 0.824, 0.99, 8, 0, None),
            (900, 0.706, 0.63, -0.0953, 0.763, 1.22, 0.795, 0.994, 8, 0, None),
            (
                1000,
                0.696,
                0.647,
                -0.0875,
                0.76,
                1.24,
                0.756,
                0.997,
                8,
                0,
                {"modes": 8, "rkl": 0.16},
            ),
            (1100, 0.716, 0.629, -0.0795, 0.753, 1.25, 0.669, 0.994, 8, 0, None),
            (1200, 0.682, 0.613, -0.0706, 0.747, 1.24, 0.658, 0.993, 8, 0, None),
            (1300, 0.687, 0.599, -0.0649, 0.742, 1.21, 0.62, 0.994, 8, 0, None),
            (1400, 0.654, 0.588, -0.0602, 0.741, 1.2, 0.648, 0.994, 8, 0, None),
            (
                1500,
                0.631,
                0.598,
                -0.0518,
                0.735,
                1.11,
                0.598,
                0.996,
                8,
                0,
                {"modes": 8, "rkl": 0.0707},
            ),
            (1600, 0.635, 0.585, -0.0503, 0.734, 1.11, 0.562, 0.998, 8, 0, None),
            (1700, 0.627, 0.586, -0.0448, 0.729, 1.06, 0.561, 0.998, 8, 0, None),
            (1800, 0.657, 0.562, -0.0417, 0.727, 1.02, 0.524, 0.997, 8, 0, None),
            (1900, 0.647, 0.576, -0.0371, 0.724, 0.987, 0.464, 0.998, 8, 0, None),
            (
                2000,
                0.623,
                0.572,
                -0.0342,
                0.721,
                0.941,
                0.464,
                0.998,
                8,
                0,
                {"modes": 8, "rkl": 0.0227},
            ),
        ],
    ),
    "healthy grid, hinge": (
        "grid",
        2000,
        "hinge",
        [],
        [
            (100, 0.362, 0.873, -0.514, 0.7, 1.68, 1.7, 0.734, 3, 0, None),
            (200, 0.267, 0.95, -0.695, 0.824, 1.68, 1.65, 0.712, 10, 0, None),
            (300, 0.179, 0.854, -0.397, 0.497, 1.47, 1.25, 0.889, 9, 0, None),
            (400, 0.0272, 0.977, -0.417, 0.43, 0.409, 0.373, 1.03, 11, 0, None),
            (500, 0.0, 1.0, -0.668, 0.678, 0.214, 0.277, 1.03, 14, 0, {"modes": 16, "rkl": 0.595}),
            (600, 0.0, 1.0, -0.773, 0.792, 0.319, 0.36, 1.02, 19, 0, None),
            (700, 0.0, 1.0, -0.725, 0.756, 0.456, 0.511, 1.02, 16, 0, None),
            (800, 0.0, 1.0, -0.66, 0.695, 0.591, 0.608, 1.02, 13, 0, None),
            (900, 0.000313, 1.0, -0.605, 0.643, 0.781, 0.721, 1.03, 13, 0, None),
            (
                1000,
                0.0139,
                0.991,
                -0.501,
                0.548,
                1.06,
                0.874,
                1.02,
                17,
                0,
                {"modes": 21, "rkl": 0.408},
            ),
            (1100, 0.183, 0.873, -0.293, 0.349, 1.23, 1.05, 1.02, 19, 0, None),
            (1200, 0.497, 0.667, -0.134, 0.199, 1.55, 1.25, 1.02, 17, 0, None),
            (1300, 0.582, 0.605, -0.0932, 0.161, 1.64, 1.47, 1.02, 20, 0, None),
            (1400, 0.635, 0.574, -0.0659, 0.125, 1.7, 1.55, 1.02, 19, 0, None),
            (
                1500,
                0.65,
                0.566,
                -0.0757,
                0.139,
                1.88,
                1.64,
                1.02,
                19,
                0,
                {"modes": 21, "rkl": 0.456},
            ),
            (1600, 0.654, 0.578, -0.0763, 0.13, 1.75, 1.58, 1.01, 20, 0, None),
            (1700, 0.674, 0.558, -0.0607, 0.112, 1.87, 1.63, 1.01, 22, 0, None),
            (1800, 0.644, 0.59, -0.0939, 0.151, 2.09, 1.8, 1.01, 22, 0, None),
            (1900, 0.686, 0.568, -0.0738, 0.118, 1.91, 1.55, 1.0, 19, 0, None),
            (
                2000,
                0.66,
                0.574,
                -0.0711,
                0.124,
                2.08,
                1.65,
                1.0,
                21,
                0,
                {"modes": 24, "rkl": 0.443},
            ),
        ],
    ),
    "healthy digits": (
        "digits",
        800,
        "nonsaturating",
        [],
        [
            (40, 0.988, 0.0133, 0.0759, 0.657, 0.138, 0.257, 0.263, None, 0, None),
            (80, 1.0, 0.00234, 0.126, 0.638, 0.261, 0.409, 0.697, None, 0, None),
            (120, 0.989, 0.257, 0.0545, 0.671, 0.285, 0.433, 0.817, None, 0, None),
            (160, 0.857, 0.508, 0.00216, 0.697, 0.27, 0.439, 0.899, None, 0, None),
            (200, 0.703, 0.727, -0.0359, 0.713, 0.207, 0.374, 0.961, None, 0, {"fd": 5.36}),
            (240, 0.521, 0.857, -0.0526, 0.722, 0.172, 0.332, 0.965, None, 0, None),
            (280, 0.555, 0.773, -0.0369, 0.713, 0.161, 0.323, 0.986, None, 0, None),
            (320, 0.537, 0.671, -0.0215, 0.705, 0.155, 0.316, 0.984, None, 0, None),
            (360, 0.532, 0.706, -0.02, 0.705, 0.135, 0.285, 0.98, None, 0, None),
            (400, 0.592, 0.705, -0.02, 0.706, 0.126, 0.284, 0.989, None, 0, {"fd": 4.35}),
            (440, 0.54, 0.686, -0.0188, 0.704, 0.132, 0.276, 0.985, None, 0, None),
            (480, 0.53, 0.708, -0.018, 0.703, 0.111, 0.271, 0.982, None, 0, None),
            (520, 0.561, 0.707, -0.0198, 0.705, 0.12, 0.271, 0.986, None, 0, None),
            (560, 0.548, 0.662, -0.0158, 0.702, 0.13, 0.284, 0.983, None, 0, None),
            (600, 0.555, 0.674, -0.0151, 0.703, 0.118, 0.275, 0.979, None, 0, {"fd": 2.33}),
            (640, 0.598, 0.651, -0.0157, 0.702, 0.124, 0.301, 0.98, None, 0, None),
            (680, 0.613, 0.68, -0.0169, 0.704, 0.126, 0.307, 0.98, None, 0, None),
            (720, 0.605, 0.662, -0.0168, 0.703, 0.134, 0.324, 0.984, None, 0, None),
            (760, 0.63, 0.614, -0.0125, 0.702, 0.137, 0.335, 0.979, None, 0, None),
            (800, 0.595, 0.62, -0.0126, 0.701, 0.144, 0.357, 0.979, None, 0, {"fd": 1.72}),
        ],
    ),
    "minimax, much stronger D": (
        "ring",
        600,
        "minimax",
        ["mode-collapse@50", "failure-to-converge@50", "vanishing-gradients@100"],
        [
            (50, 0.985, 0.986, -8.75, -0.0368, 0.0189, 0.122, 0.0739, 0, 0, None),
            (100, 1.0, 1.0, -11.8, -7.99e-06, 1.94e-05, 0.000234, 0.0741, 0, 0, None),
            (150, 1.0, 1.0, -13.1, -2.07e-06, 6.21e-06, 6.54e-05, 0.0741, 0, 0, None),
            (
                200,
                1.0,
                1.0,
                -14.2,
                -7.33e-07,
                2.57e-06,
                2.45e-05,
                0.0742,
                0,
                0,
                {"modes": 0, "rkl": NAN},
            ),
            (250, 1.0, 1.0, -15.1, -2.9e-07, 1.18e-06, 1.01e-05, 0.0742, 0, 0, None),
            (300, 1.0, 1.0, -16.0, -1.2e-07, 5.92e-07, 4.37e-06, 0.0742, 0, 0, None),
            (350, 1.0, 1.0, -16.9, -5.16e-08, 3.59e-07, 1.93e-06, 0.0742, 0, 0, None),
            (
                400,
                1.0,
                1.0,
                -17.7,
                -2.25e-08,
                1.7e-07,
                8.54e-07,
                0.0742,
                0,
                0,
                {"modes": 0, "rkl": NAN},
            ),
            (450, 1.0, 1.0, -18.5, -9.5e-09, 5.15e-08, 3.91e-07, 0.0742, 0, 0, None),
            (500, 1.0, 1.0, -19.4, -4.38e-09, 3.93e-08, 1.78e-07, 0.0742, 0, 0, None),
            (550, 1.0, 1.0, -20.2, -1.97e-09, 2.4e-08, 8.81e-08, 0.0742, 0, 0, None),
            (
                600,
                1.0,
                1.0,
                -21.0,
                -9.29e-10,
                1.86e-08,
                3.93e-08,
                0.0742,
                0,
                0,
                {"modes": 0, "rkl": NAN},
            ),
        ],
    ),
    "grid, 1-d latent": (
        "grid",
        2000,
        "nonsaturating",
        ["mode-collapse@100"],
        [
            (100, 0.558, 0.76, -0.171, 0.861, 0.972, 0.732, 0.533, 2, 0, None),
            (200, 0.519, 0.697, -0.122, 0.829, 1.28, 0.785, 0.348, 1, 0, None),
            (300, 0.503, 0.624, -0.0697, 0.782, 1.01, 0.75, 0.243, 1, 0, None),
            (400, 0.491, 0.586, -0.0343, 0.752, 0.854, 0.639, 0.148, 1, 0, None),
            (500, 0.505, 0.628, -0.0519, 0.762, 0.86, 0.686, 0.189, 0, 0, {"modes": 0, "rkl": NAN}),
            (600, 0.524, 0.54, -0.0173, 0.721, 0.44, 0.431, 0.578, 0, 0, None),
            (700, 0.567, 0.492, -0.00507, 0.713, 0.374, 0.413, 0.828, 2, 0, None),
            (800, 0.482, 0.568, -0.0119, 0.717, 0.36, 0.321, 0.74, 1, 0, None),
            (900, 0.543, 0.524, -0.00643, 0.709, 0.28, 0.268, 0.852, 1, 0, None),
            (
                1000,
                0.564,
                0.507,
                -0.00505,
                0.711,
                0.303,
                0.276,
                0.915,
                0,
                0,
                {"modes": 0, "rkl": NAN},
            ),
            (1100, 0.543, 0.55, -0.0124, 0.713, 0.286, 0.273, 0.94, 2, 0, None),
            (1200, 0.543, 0.562, -0.012, 0.719, 0.353, 0.308, 0.945, 5, 0, None),
            (1300, 0.559, 0.571, -0.0126, 0.719, 0.378, 0.337, 0.951, 8, 0, None),
            (1400, 0.558, 0.589, -0.0257, 0.728, 0.394, 0.365, 0.905, 2, 0, None),
            (
                1500,
                0.559,
                0.594,
                -0.0311,
                0.735,
                0.443,
                0.432,
                0.9,
                3,
                0,
                {"modes": 3, "rkl": 2.21},
            ),
            (1600, 0.588, 0.601, -0.044, 0.738, 0.471, 0.487, 0.934, 2, 0, None),
            (1700, 0.604, 0.595, -0.052, 0.749, 0.544, 0.539, 0.965, 3, 0, None),
            (1800, 0.609, 0.611, -0.0512, 0.741, 0.542, 0.541, 0.966, 4, 0, None),
            (1900, 0.602, 0.581, -0.0442, 0.732, 0.575, 0.514, 0.977, 4, 0, None),
            (
                2000,
                0.609,
                0.585,
                -0.0473,
                0.733,
                0.622,
                0.52,
                0.975,
                7,
                0,
                {"modes": 7, "rkl": 1.4},
            ),
        ],
    ),
    "ring, lr 0.05": (
        "ring",
        2000,
        "nonsaturating",
        ["mode-collapse@100", "failure-to-converge@600", "fleeting-convergence@1000"],
        [
            (100, 0.68, 0.714, 0.0414, 1.65, 1.8, 3.97, 0.00111, 0, 0, None),
            (200, 0.776, 0.79, -0.688, 6.81, 9.44, 2.71, 0.288, 0, 0, None),
            (300, 0.661, 0.695, -0.269, 1.09, 1.18, 1.05, 0.745, 1, 0, None),
            (400, 0.592, 0.578, -0.0659, 0.794, 0.64, 0.512, 0.962, 3, 0, None),
            (
                500,
                0.557,
                0.519,
                -0.0285,
                0.754,
                0.421,
                0.44,
                0.935,
                3,
                0,
                {"modes": 4, "rkl": 0.961},
            ),
            (600, 0.514, 0.474, 84.5, 50.6, 47.6, 141.0, 0.277, 0, 0, None),
            (700, 0.707, 0.751, -0.617, 1.2, 1.09, 7.17, 0.284, 0, 0, None),
            (800, 0.63, 0.518, -0.449, 1.2, 1.42, 10.7, 0.584, 1, 0, None),
            (900, 0.55, 0.514, -0.256, 1.04, 1.24, 8.9, 0.775, 2, 0, None),
            (1000, 0.513, 0.548, -0.166, 0.93, 0.983, 6.26, 0.87, 3, 0, {"modes": 7, "rkl": 0.347}),
            (1100, 0.51, 0.529, -0.0977, 0.863, 0.777, 4.69, 0.923, 4, 0, None),
            (1200, 0.536, 0.539, -0.112, 0.94, 0.959, 3.59, 0.914, 4, 0, None),
            (1300, 0.504, 0.524, -0.0799, 0.881, 0.651, 2.74, 0.93, 3, 0, None),
            (1400, 0.489, 0.524, -0.0467, 0.783, 0.419, 1.54, 0.958, 3, 0, None),
            (1500, 0.477, 0.5, 16.4, 28.4, 31.0, 26.6, 0.667, 0, 0, {"modes": 1, "rkl": 2.08}),
            (1600, 0.5, 0.502, -0.387, 1.54, 1.06, 11.0, 0.474, 1, 0, None),
            (1700, 0.503, 0.503, -0.218, 1.06, 1.21, 5.79, 0.481, 1, 0, None),
            (1800, 0.513, 0.513, -0.142, 0.912, 1.1, 3.39, 0.548, 1, 0, None),
            (1900, 0.517, 0.54, -0.112, 0.851, 0.912, 1.98, 0.635, 0, 0, None),
            (
                2000,
                0.528,
                0.566,
                -0.0829,
                0.801,
                0.749,
                1.17,
                0.706,
                2,
                0,
                {"modes": 0, "rkl": NAN},
            ),
        ],
    ),
    "ring, lr 10, skip": (
        "ring",
        500,
        "least-squares",
        ["mode-collapse@50", "non-finite@50"],
        [
            (50, 0.989, 0.0184, 3860000000000.0, 8.18e24, INF, INF, 2430000.0, 0, 98, None),
            (100, 1.0, 0.0, 3950000000000.0, 8.39e24, INF, INF, 2430000.0, 0, 198, None),
            (150, 1.0, 0.0, 3950000000000.0, 8.36e24, INF, INF, 2430000.0, 0, 298, None),
            (200, 1.0, 0.0, 3940000000000.0, 8.4e24, INF, INF, 2430000.0, 0, 398, None),
            (
                250,
                1.0,
                0.0,
                3930000000000.0,
                8.35e24,
                INF,
                INF,
                2430000.0,
                0,
                498,
                {"modes": 0, "rkl": NAN},
            ),
            (300, 1.0, 0.0, 3950000000000.0, 8.32e24, INF, INF, 2430000.0, 0, 598, None),
            (350, 1.0, 0.0, 3930000000000.0, 8.33e24, INF, INF, 2430000.0, 0, 698, None),
            (400, 1.0, 0.0, 3930000000000.0, 8.4e24, INF, INF, 2430000.0, 0, 798, None),
            (450, 1.0, 0.0, 3940000000000.0, 8.39e24, INF, INF, 2430000.0, 0, 898, None),
            (
                500,
                1.0,
                0.0,
                3960000000000.0,
                8.34e24,
                INF,
                INF,
                2430000.0,
                0,
                998,
                {"modes": 0, "rkl": NAN},
            ),
        ],
    ),
    "digits, lr 0.02": (
        "digits",
        800,
        "nonsaturating",
        ["fleeting-convergence@600", "mode-collapse@640", "failure-to-converge@640"],
        [
            (40, 0.773, 0.579, 0.829, 3.16, 4.17, 11.5, 0.625, None, 0, None),
            (80, 0.738, 0.733, -0.361, 1.04, 0.604, 1.93, 0.778, None, 0, None),
            (120, 0.644, 0.691, -0.165, 0.827, 0.285, 0.957, 0.896, None, 0, None),
            (160, 0.612, 0.649, -0.0576, 0.757, 0.255, 0.6, 0.9, None, 0, None),
            (200, 0.573, 0.595, -0.0399, 0.754, 0.22, 0.529, 0.921, None, 0, {"fd": 1.93}),
            (240, 0.583, 0.556, -0.0261, 0.757, 0.227, 0.526, 0.931, None, 0, None),
            (280, 0.568, 0.592, -0.025, 0.737, 0.173, 0.446, 0.948, None, 0, None),
            (320, 0.567, 0.557, -0.0146, 0.734, 0.162, 0.42, 0.939, None, 0, None),
            (360, 0.536, 0.562, -0.0165, 0.734, 0.139, 0.365, 0.942, None, 0, None),
            (400, 0.52, 0.58, -0.0162, 0.731, 0.134, 0.367, 0.946, None, 0, {"fd": 0.664}),
            (440, 0.55, 0.54, -0.00991, 0.726, 0.118, 0.326, 0.939, None, 0, None),
            (480, 0.511, 0.541, -0.00561, 0.726, 0.112, 0.313, 0.944, None, 0, None),
            (520, 0.51, 0.541, -0.00575, 0.72, 0.0906, 0.277, 0.948, None, 0, None),
            (560, 0.518, 0.527, -0.00325, 0.716, 0.0859, 0.247, 0.947, None, 0, None),
            (600, 0.475, 0.539, -0.00181, 0.714, 0.0688, 0.223, 0.941, None, 0, {"fd": 0.601}),
            (640, 0.517, 0.423, 474.0, 133.0, 21.0, 30700.0, 0.473, None, 0, None),
            (680, 0.218, 0.111, 14.0, 2.44, 1.73, 605.0, 0.381, None, 0, None),
            (720, 0.445, 0.338, 3.36, 2.2, 1.86, 172.0, 0.535, None, 0, None),
            (760, 0.526, 0.537, 0.294, 3.05, 1.37, 157.0, 0.559, None, 0, None),
            (800, 0.501, 0.5, 2.23, 2.28, 0.84, 183.0, 0.633, None, 0, {"fd": 50.4}),
        ],
    ),
}


def recorded(name):
    """The records and config.json of a recorded trace, and its findings."""
    data, steps, loss, expected, rows = RECORDED[name]
    records = []
    for row in rows:
        r = {k: v for k, v in zip(COLUMNS, row[:-1], strict=True) if v is not None}
        r.update(row[-1] or {})
        if "modes_covered" in r:
            r["modes_total"] = {"ring": 8, "grid": 25}[data]
        records.append(r)
    return records, {"config": {"steps": steps, "loss": loss}}, expected


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_trace(name):
    records, info, expected = recorded(name)
    found = health.diagnose(records, info)
    assert [f"{f.kind}@{f.step}" for f in found] == expected
    while_training = set()
    for n in range(1, len(records) + 1):
        while_training |= {f.kind for f in health.diagnose(records[:n], info, final=False)}
    assert while_training <= {f.kind for f in found}  # no false alarm on the way
    if name.startswith("healthy"):
        assert while_training == set()


# --- real short runs ------------------------------------------------------------------

SHORT = {"eval_every": 0, "sample_every": 0, "ckpt_every": 0, "threads": 1}


@pytest.fixture(scope="module")
def starved_run(tmp_path_factory):
    """Minimax loss against a much stronger D (wider, 3 updates a step, 50× the learning
    rate, no penalty): D wins at once and G's gradient vanishes."""
    out = tmp_path_factory.mktemp("health") / "starved"
    options = dict(steps=150, log_every=10, loss="minimax", lr_d=5e-3, lr_g=1e-4, n_critic=3)
    options.update(d_width=256, r1_gamma=0.0, **SHORT)
    ganforge.GAN("ring", **options).fit(out=out)
    return out


def test_doctor_finds_nothing_in_a_short_healthy_run(tmp_path):
    ganforge.GAN("ring", steps=600, log_every=30, **SHORT).fit(out=tmp_path / "ring")
    records = health.read_records(RunDir(tmp_path / "ring"))
    assert {"g_grad_norm", "d_grad_norm", "diversity", "modes_covered"} <= set(records[-1])
    assert health.doctor(tmp_path / "ring") == []


def test_doctor_finds_vanishing_gradients_in_a_real_run(starved_run):
    found = {f.kind: f for f in health.doctor(starved_run)}
    assert "vanishing-gradients" in found
    assert found["vanishing-gradients"].step <= 50
    assert found["vanishing-gradients"].evidence["acc"] > health.WIN_ACC


def test_cli_doctor_prints_the_findings_as_a_list_and_as_json(starved_run):
    listed = run("doctor", starved_run)
    assert listed.returncode == 0, listed.stderr
    assert "⚠ vanishing-gradients" in listed.stdout
    assert "--loss nonsaturating" in listed.stdout
    as_json = run("doctor", starved_run, "--json")
    assert as_json.returncode == 0, as_json.stderr
    out = json.loads(as_json.stdout)
    assert set(out) == {"findings"}
    assert all(
        set(f) == {"kind", "step", "message", "evidence", "remedies"} for f in out["findings"]
    )
    assert out == health.findings_json(health.doctor(starved_run))
