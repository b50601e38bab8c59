"""`--eval-every`: metrics logged during training and the best checkpoint they keep."""

import json
import math

import numpy as np
import pytest
import torch
from helpers import run

import ganforge as gf
from ganforge.api import evaluate
from ganforge.data import load_data
from ganforge.errors import GanforgeError
from ganforge.evaluate import Evaluator, best_key, is_better

RING = {
    "steps": 200,
    "g_width": 16,
    "d_width": 16,
    "batch_size": 64,
    "eval_every": 50,
    "ckpt_every": 100,
    "sample_every": 0,
    "threads": 1,
}


def _records(out):
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _best(out):
    return gf.GAN.load(out, checkpoint="best")


def test_is_better_follows_each_numbers_direction():
    assert is_better("fd", 1.0, 2.0) and not is_better("fd", 2.0, 1.0)
    assert is_better("coverage", 0.9, 0.8) and not is_better("coverage", 0.8, 0.9)
    assert is_better("rkl", 0.5, None) and is_better("rkl", 0.5, math.nan)
    assert not is_better("rkl", math.nan, 0.5) and not is_better("fd", 1.0, 1.0)
    assert is_better("rkl", math.nan, None)  # the first evaluation is the best so far


def test_metrics_logged_and_best_checkpoint_is_the_best_step(tmp_path):
    out = tmp_path / "run"
    gan = gf.GAN("ring", **RING).fit(out=out)
    evals = [r for r in _records(out) if "rkl" in r]
    assert [r["step"] for r in evals] == [50, 100, 150, 200]
    assert all({"modes", "hq", "rkl"} <= set(r) for r in evals)
    finite = [r for r in evals if not math.isnan(r["rkl"])] or evals[:1]
    expected = min(finite, key=lambda r: r["rkl"])  # the first of equals wins
    assert gan.best_ == {"metric": "rkl", "value": expected["rkl"], "step": expected["step"]}
    best = _best(out)
    assert best.trainer_.num_steps == expected["step"] and best.best_ == gan.best_
    assert gf.GAN.load(out).trainer_.num_steps == 200


def test_best_checkpoint_survives_an_interrupted_and_resumed_run(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    gf.GAN("ring", **RING).fit(out=whole)
    gf.GAN("ring", **{**RING, "steps": 170}).fit(out=parts)
    (parts / "checkpoints" / "step_000170.safetensors").unlink()  # as if killed at 170
    gf.GAN("ring", **RING).fit(out=parts, resume=True)  # replays 101..200
    a, b = _best(whole), _best(parts)
    assert a.best_ == b.best_
    pairs = zip(a.trainer_.generator.parameters(), b.trainer_.generator.parameters(), strict=True)
    assert all(torch.equal(x, y) for x, y in pairs)
    strip = [{k: v for k, v in r.items() if k != "steps_per_s"} for r in _records(whole)]
    again = [{k: v for k, v in r.items() if k != "steps_per_s"} for r in _records(parts)]
    assert json.dumps(strip) == json.dumps(again)  # NaN-safe equality of every record


def test_pictures_with_chosen_metrics_and_best_metric(tmp_path):
    out = tmp_path / "run"
    tiny = {"steps": 20, "g_width": 8, "d_width": 8, "batch_size": 32, "threads": 1}
    opts = {"eval_every": 10, "eval_metrics": "fd,kid", "eval_n": 300, "best_metric": "kid"}
    gan = gf.GAN("digits", **tiny, **opts, sample_every=0).fit(out=out)
    evals = [r for r in _records(out) if "kid" in r]
    assert [r["step"] for r in evals] == [10, 20]
    assert all({"fd", "kid", "kid_std"} <= set(r) for r in evals)
    assert gan.best_["metric"] == "kid"
    assert gan.best_["value"] == min(r["kid"] for r in evals)


def test_evaluator_matches_evaluate_and_repeats_itself():
    gan = gf.GAN("ring", **{**RING, "steps": 30, "eval_every": 0}).fit()
    evaluator = Evaluator(load_data("ring"), n=300, seed=2)
    first = evaluator(gan.sample_chunks)
    assert first == {k: v for k, v in evaluate(gan, n=300, seed=2).items() if k in first}
    np.testing.assert_equal(evaluator(gan.sample_chunks), first)
    assert best_key(evaluator) == "fd" and best_key(evaluator, "coverage") == "coverage"
    with pytest.raises(GanforgeError, match="--best-metric 'cs' is not among"):
        best_key(evaluator, "cs")


def test_bad_eval_options_fail_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(GanforgeError, match="--best-metric 'coverage'"):
        gf.GAN("ring", **RING, eval_metrics="fd", best_metric="coverage").fit(out=out)
    assert not out.exists()
    result = run("train", "ring", "--eval-metrics", "fid", "--out", out, "--quiet")
    assert result.returncode == 2 and "unknown metric(s) fid" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_cli_sample_and_eval_from_the_best_checkpoint(tmp_path):
    out = tmp_path / "run"
    base = ["train", "ring", "--steps", "100", "--g-width", "16", "--d-width", "16", "--quiet"]
    assert run(*base, "--eval-every", "0", "--out", out).returncode == 0
    result = run("sample", out, "--checkpoint", "best", "-o", tmp_path / "x.npy")
    assert result.returncode == 2 and "no best checkpoint" in result.stderr
    assert run(*base, "--eval-every", "50", "--out", out, "--overwrite").returncode == 0
    result = run("sample", out, "--checkpoint", "best", "-n", "10", "-o", tmp_path / "x.npy")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "x.npy").shape == (10, 2)
    result = run("eval", out, "--checkpoint", "best", "--metrics", "modes")
    assert result.returncode == 0 and "rkl" in result.stdout
