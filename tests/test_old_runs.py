"""Run directories written by an earlier version (commit 0ba6478, before the session and
modalities redesign) still load, sample exactly as that version sampled, and resume.

tests/data/README.md says how the runs and their samples were made.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ganforge as gf
from ganforge.cli import main

DATA = Path(__file__).parent / "data"
RING = ["ring", "--g-width", "16", "--d-width", "16", "--ckpt-every", "20"]
RING += ["--sample-every", "0", "--eval-every", "0", "--threads", "1", "--quiet"]
TABLE = ["--batch-size", "60", "--g-width", "32", "--d-width", "32", "--latent-dim", "8"]
TABLE += ["--threads", "1", "--quiet"]


@pytest.fixture
def ring_run(tmp_path):
    return Path(shutil.copytree(DATA / "old_ring_run", tmp_path / "run"))


@pytest.fixture
def table_run(tmp_path):
    """The old table run, and its CSV in another place than config.json records."""
    shutil.copy(DATA / "wine.csv", tmp_path / "wine.csv")
    return Path(shutil.copytree(DATA / "old_table_run", tmp_path / "run"))


def _steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def _checkpoints(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir())


# -- points ------------------------------------------------------------------------------


def test_old_ring_run_samples_exactly_as_the_old_code(ring_run, tmp_path):
    expected = np.load(DATA / "old_ring_samples.npy")
    np.testing.assert_array_equal(gf.GAN.load(ring_run).sample(100, seed=1), expected)
    out = tmp_path / "x.npy"
    assert main(["sample", str(ring_run), "-n", "100", "--seed", "1", "-o", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), expected)


def test_old_ring_run_is_read_by_eval_and_doctor(ring_run, capfd):
    assert main(["eval", str(ring_run), "-n", "200", "--metrics", "modes"]) == 0
    capfd.readouterr()
    assert main(["doctor", str(ring_run), "--json"]) == 0
    assert isinstance(json.loads(capfd.readouterr().out)["findings"], list)


def test_old_ring_run_resumes_to_more_steps(ring_run, tmp_path):
    assert _checkpoints(ring_run) == ["step_000020.safetensors", "step_000040.safetensors"]
    assert main(["train", *RING, "--steps", "60", "--out", str(ring_run), "--resume"]) == 0
    assert _checkpoints(ring_run) == [f"step_0000{s}.safetensors" for s in (20, 40, 60)]
    assert _steps(ring_run) == [40, 60]
    out = tmp_path / "x.npy"
    assert main(["sample", str(ring_run), "-n", "100", "--seed", "1", "-o", str(out)]) == 0
    # exactly where the old code's own --resume --steps 60 of this run ends
    np.testing.assert_array_equal(np.load(out), np.load(DATA / "old_ring_resumed_samples.npy"))


# -- tables ------------------------------------------------------------------------------


def test_old_table_run_samples_exactly_as_the_old_code(table_run, tmp_path):
    expected_csv = (DATA / "old_table_samples.csv").read_text()
    rows = gf.GAN.load(table_run).sample(100, seed=1)
    assert isinstance(rows, pd.DataFrame)
    assert list(rows.columns) == expected_csv.splitlines()[0].split(",")
    np.testing.assert_array_equal(rows.to_numpy(), np.load(DATA / "old_table_samples.npy"))
    out = tmp_path / "x.csv"
    assert main(["sample", str(table_run), "-n", "100", "--seed", "1", "-o", str(out)]) == 0
    assert out.read_text() == expected_csv


def test_old_table_run_evaluates_with_its_csv_given(table_run, tmp_path, capfd):
    csv = tmp_path / "wine.csv"
    args = ["eval", str(table_run), "-n", "100", "--metrics", "shapes"]
    capfd.readouterr()
    assert main(args) == 2  # the recorded path is gone: the error says to pass --data
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data" in err[0], err
    assert main([*args, "--data", str(csv)]) == 0


def test_old_table_run_resumes_to_more_steps(table_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "wine.csv", *TABLE, "--steps", "40", "--out", "run", "--resume"]) == 0
    assert _checkpoints(table_run) == ["step_000030.safetensors", "step_000040.safetensors"]
    assert _steps(table_run) == [30, 40]
    out = tmp_path / "x.csv"
    assert main(["sample", "run", "-n", "100", "--seed", "1", "-o", str(out)]) == 0
    # exactly where the old code's own --resume --steps 40 of this run ends
    assert out.read_text() == (DATA / "old_table_resumed_samples.csv").read_text()
