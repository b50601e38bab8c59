"""Health signals logged at every log step: gradient norms, diversity, mode coverage."""

import json

import numpy as np
import pytest
from scipy.spatial.distance import pdist

import ganforge as gf
from ganforge.modalities.tensor import spread as _spread


def test_spread_is_the_mean_pairwise_distance():
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert _spread(x) == pytest.approx(pdist(x).mean(), rel=1e-12)
    pics = np.random.default_rng(1).integers(0, 256, size=(20, 4, 4, 1), dtype=np.uint8)
    expected = pdist(pics.reshape(20, -1) / 127.5 - 1).mean()
    assert _spread(pics) == pytest.approx(expected, rel=1e-12)


def test_every_log_record_carries_the_health_signals(tmp_path):
    opts = {"steps": 60, "g_width": 16, "d_width": 16, "log_every": 20, "eval_every": 0}
    gf.GAN("ring", **opts, sample_every=0, threads=1).fit(out=tmp_path / "run")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == [20, 40, 60]
    for r in records:
        assert r["g_grad_norm"] > 0 and r["d_grad_norm"] > 0
        assert 0 < r["diversity"] < 10 and r["modes_total"] == 8
        assert 0 <= r["modes_covered"] <= 8


def test_tensorboard_events_hold_the_logged_numbers(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    opts = {"steps": 40, "g_width": 16, "d_width": 16, "log_every": 20, "eval_every": 0}
    gf.GAN("ring", **opts, sample_every=0, threads=1, tensorboard=True).fit(out=tmp_path / "r")
    events = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    events.Reload()
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    scalars = events.Scalars("g_loss")
    assert [e.step for e in scalars] == [r["step"] for r in records]
    assert [e.value for e in scalars] == pytest.approx([r["g_loss"] for r in records], rel=1e-6)
    assert "diversity" in events.Tags()["scalars"]


def test_findings_show_in_the_progress_line_and_in_doctor_and_report(tmp_path):
    from helpers import run

    out = tmp_path / "run"
    args = ["train", "grid", "--latent-dim", "1", "--steps", "600", "--log-every", "50"]
    result = run(*args, "--threads", "1", "--eval-every", "0", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "⚠ mode-collapse@" in result.stderr  # the progress bar's line
    result = run("doctor", out, "--json")
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert findings and findings[0]["kind"] == "mode-collapse"
    assert set(findings[0]) == {"kind", "step", "message", "evidence", "remedies"}
    result = run("report", out)
    assert result.returncode == 0 and (out / "report.html").is_file()
    assert "mode-collapse" in (out / "report.html").read_text()
    result = run("doctor", tmp_path)
    assert result.returncode == 2 and "is not a ganforge run" in result.stderr
