"""The command line end to end, in real subprocesses."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run

TINY = [
    "--steps",
    "30",
    "--batch-size",
    "32",
    "--g-width",
    "16",
    "--d-width",
    "16",
    "--log-every",
    "10",
    "--sample-every",
    "15",
    "--eval-every",
    "15",
    "--quiet",
]


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ring"
    result = run("train", "ring", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_the_run_directory(ring_run):
    out, result = ring_run
    assert f"run written to {out}" in result.stdout
    assert "modes" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["steps"] == 30 and config["data"]["dim"] == 2
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 15, 20, 30]
    assert {"d_loss", "g_loss", "acc_real", "acc_fake", "d_real", "d_fake"} <= set(records[0])
    assert {"modes", "hq", "rkl"} <= set(records[1])
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "final.png",
        "step_000015.png",
        "step_000030.png",
    ]
    assert (out / "losses.png").read_bytes()[:4] == b"\x89PNG"
    found = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert found == ["best.safetensors", "step_000030.safetensors"]  # best: by --eval-every


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".png"])
def test_sample_formats_and_seed(ring_run, tmp_path, suffix):
    out, _ = ring_run
    target = tmp_path / f"s{suffix}"
    result = run("sample", out, "-n", 50, "-o", target, "--seed", 3)
    assert result.returncode == 0, result.stderr
    if suffix == ".npy":
        x = np.load(target)
        assert x.shape == (50, 2) and x.dtype == np.float32
        again = tmp_path / "again.npy"
        run("sample", out, "-n", 50, "-o", again, "--seed", 3)
        np.testing.assert_array_equal(np.load(again), x)
    elif suffix == ".npz":
        assert np.load(target)["x"].shape == (50, 2)
    elif suffix == ".csv":
        lines = target.read_text().splitlines()
        assert lines[0] == "x0,x1" and len(lines) == 51
    else:
        assert target.read_bytes()[:4] == b"\x89PNG"


def test_existing_run_is_not_overwritten(ring_run):
    out, _ = ring_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    result = run("train", "ring", *TINY, "--out", out)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--resume" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_resume_continues_to_the_total(tmp_path):
    out = tmp_path / "r"
    assert (
        run("train", "grid", *TINY, "--steps", "20", "--ckpt-every", "10", "--out", out).returncode
        == 0
    )
    result = run("train", "grid", *TINY, "--ckpt-every", "10", "--out", out, "--resume")
    assert result.returncode == 0, result.stderr
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 15, 20, 30]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nowhere.npy"], "does not exist"),
        (["train", "spiral"], "unknown data set 'spiral'"),
        (["train", "--loss", "hing"], "invalid choice: 'hing'"),
        (["train", "--steps", "0"], "--steps must be at least 1"),
        (["train", "--batch-size", "-3"], "--batch-size must be at least 1"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["sample", "."], "is not a ganforge run"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_bad_csv_values(tmp_path):
    (tmp_path / "p.csv").write_text("1,2\n3,nan\n")
    result = run("train", tmp_path / "p.csv", *TINY, cwd=tmp_path)
    assert result.returncode == 2 and "NaN or Inf" in result.stderr


def test_user_csv_default_out_and_config_file(tmp_path):
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "pts.csv", rng.normal(size=(100, 2)), delimiter=",")
    (tmp_path / "opts.json").write_text(json.dumps({"steps": 12, "seed": 4}))
    result = run("train", "pts.csv", *TINY[2:], "--config", "opts.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("pts-")
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["steps"] == 12 and config["seed"] == 4 and config["batch_size"] == 32


def test_help_explains_every_flag_with_default():
    result = run("train", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag in (
        "--steps",
        "--batch-size",
        "--loss",
        "--latent-dim",
        "--lr-g",
        "--lr-d",
        "--n-critic",
        "--seed",
        "--out",
        "--resume",
        "--overwrite",
        "--ckpt-every",
        "--eval-every",
        "--sample-every",
        "--device",
        "--config",
    ):
        assert flag in text
    assert "(default: 1, or the data set's preset)" in text  # n_critic


def test_console_script_is_the_same_program():
    exe = Path(sys.executable).with_name("ganforge")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ganforge ")
