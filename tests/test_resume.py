"""Checkpoints that really resume: SIGKILL, Ctrl-C, damaged files, non-finite values."""

import logging
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.errors import NonFiniteError
from ganforge.noise import Noise
from ganforge.trainer import Trainer

SMALL = [
    "ring",
    "--steps",
    "800",
    "--batch-size",
    "64",
    "--g-width",
    "32",
    "--d-width",
    "32",
    "--ckpt-every",
    "25",
    "--log-every",
    "25",
    "--eval-every",
    "0",
    "--sample-every",
    "0",
    "--quiet",
    "--threads",
    "1",
]


def _cmd(out, extra):
    return [sys.executable, "-m", "ganforge", "train", *SMALL, "--out", str(out), *extra]


def train(out, *extra):
    """Runs `ganforge train` to its end."""
    return subprocess.run(_cmd(out, extra), capture_output=True, text=True, timeout=300)


def start(out, *extra):
    """Starts `ganforge train` in the background."""
    return subprocess.Popen(
        _cmd(out, extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def samples(run, path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ganforge",
            "sample",
            str(run),
            "-n",
            "500",
            "-o",
            str(path),
            "--seed",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    return np.load(path)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    proc = train(folder / "run")
    assert proc.returncode == 0, proc.stderr
    return samples(folder / "run", folder / "x.npy")


def _wait_for_checkpoint(out, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if any((out / "checkpoints").glob("step_*.safetensors")):
            return
        time.sleep(0.05)


def _kill_after_checkpoint(out, delay, sig=signal.SIGKILL):
    """Starts (or resumes) a run and sends ``sig`` ``delay`` s after its first checkpoint."""
    proc = start(out, *(["--resume"] if out.exists() else []))
    _wait_for_checkpoint(out, proc)
    time.sleep(delay)
    proc.send_signal(sig)
    return proc


def _finish_and_compare(out, tmp_path, reference):
    proc = train(out, "--resume")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(samples(out, tmp_path / "x.npy"), reference)


def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path, reference):
    out = tmp_path / "run"
    rng = random.Random(0)
    for _ in range(3):  # killed three times, at random moments after the first checkpoint
        _kill_after_checkpoint(out, rng.uniform(0.0, 1.5)).wait()
    _finish_and_compare(out, tmp_path, reference)


def test_resume_falls_back_past_a_torn_checkpoint_write(tmp_path, reference):
    out = tmp_path / "run"
    _kill_after_checkpoint(out, 0.5).wait()
    ckpts = sorted((out / "checkpoints").glob("step_*.safetensors"))
    newest = ckpts[-1]
    # what a kill inside a write leaves: a half-written temporary file, and (worse, if the
    # file system lost the rename's data) a truncated newest checkpoint
    (out / "checkpoints" / f".{newest.name}.tmp").write_bytes(newest.read_bytes()[:100])
    if len(ckpts) > 1:
        newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    _finish_and_compare(out, tmp_path, reference)


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path, reference):
    out = tmp_path / "run"
    proc = _kill_after_checkpoint(out, 0.0, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint saved to" in err and "--resume" in err and "Traceback" not in err
    _finish_and_compare(out, tmp_path, reference)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['GANFORGE_MARKER']}",))


def test_pickle_payload_in_a_run_is_refused_and_never_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert train(out, "--steps", "30").returncode == 0
    marker = tmp_path / "pwned"
    monkeypatch.setenv("GANFORGE_MARKER", str(marker))
    for path in (out / "checkpoints").glob("*.safetensors"):
        path.write_bytes(pickle.dumps(_Payload()))
    result = subprocess.run(
        [sys.executable, "-m", "ganforge", "sample", str(out), "-o", str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        env={**os.environ, "GANFORGE_MARKER": str(marker)},
    )
    assert result.returncode == 2 and "no readable checkpoint" in result.stderr
    train(out, "--resume", "--steps", "30")  # starts over: nothing readable to resume from
    assert not marker.exists()


def test_diverging_run_stops_with_step_loss_and_advice(tmp_path):
    out = tmp_path / "run"
    proc = train(out, "--lr-g", "1e12", "--lr-d", "1e12", "--r1-gamma", "0", "--ckpt-every", "1")
    err = proc.stderr
    assert proc.returncode == 1, err
    assert "non-finite" in err and "at step" in err and "lower learning rate" in err
    assert "last good checkpoint is" in err and err.count("\n") == 1
    doctor = subprocess.run(
        [sys.executable, "-m", "ganforge", "doctor", str(out)], capture_output=True, text=True
    )
    assert doctor.returncode == 0 and "non-finite" in doctor.stdout  # from the last record


def _toy_trainer(on_nonfinite):
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    d = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    return Trainer(g, d, noise=Noise(2), on_nonfinite=on_nonfinite)


def test_nonfinite_update_is_never_applied():
    bad = torch.full((8, 2), float("nan"))
    tr = _toy_trainer("stop")
    before = [p.clone() for p in tr.discriminator.parameters()]
    with pytest.raises(NonFiniteError, match="discriminator loss or gradient at step 1"):
        tr.discriminator_step(bad)
    for p, q in zip(before, tr.discriminator.parameters(), strict=True):
        assert torch.equal(p, q)
    tr = _toy_trainer("skip")
    tr.discriminator_step(bad)
    assert tr.num_skipped == 1
    for p, q in zip(before, tr.discriminator.parameters(), strict=True):
        assert torch.equal(p, q)
    tr.discriminator_step(torch.zeros(8, 2))  # and training goes on
    assert tr.num_skipped == 1


def _with_foreign_rng_states(path) -> None:
    """Rewrites a checkpoint as if its random streams came from a CUDA generator (16 bytes)."""
    from ganforge.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(path)
    state["noise"]["rng"] = torch.arange(16, dtype=torch.uint8)
    state["rng"] = torch.arange(16, dtype=torch.uint8) * 2
    save_checkpoint(path, state)


def test_resume_from_another_device_type_continues_deterministically_with_a_note(tmp_path, caplog):
    import ganforge as gf
    from ganforge.checkpoint import checkpoint_path

    opts = dict(steps=10, batch_size=32, g_width=16, d_width=16, ckpt_every=10, threads=1)
    opts.update(sample_every=0, eval_every=0, device="cpu")
    resumed = []
    for name in ("a", "b"):
        out = tmp_path / name
        gf.GAN("ring", **opts).fit(out=out)
        _with_foreign_rng_states(checkpoint_path(out / "checkpoints", 10))
        caplog.clear()
        logger = logging.getLogger("ganforge")  # the command line stops it propagating
        logger.addHandler(caplog.handler)
        try:
            with caplog.at_level(logging.WARNING, logger="ganforge"):
                gan = gf.GAN("ring", **{**opts, "steps": 20}).fit(out=out, resume=True)
        finally:
            logger.removeHandler(caplog.handler)
        # the note is a warning of the "ganforge" logger, whatever handlers print it
        assert "trained on another device type; its random streams restart" in caplog.text
        assert gan.trainer_.num_steps == 20
        resumed.append(gan.trainer_.generator.state_dict())
    for key, value in resumed[0].items():
        assert torch.equal(value, resumed[1][key]), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_trained_on_the_cpu_samples_and_resumes_on_cuda(tmp_path):
    import ganforge as gf

    opts = dict(steps=10, batch_size=32, g_width=16, d_width=16, sample_every=0, eval_every=0)
    gf.GAN("ring", **opts, device="cpu").fit(out=tmp_path / "run", progress=False)
    loaded = gf.GAN.load(tmp_path / "run", device="cuda")
    assert loaded.sample(8).shape == (8, 2)
    gan = gf.GAN("ring", **{**opts, "steps": 20}, device="cuda")
    gan.fit(out=tmp_path / "run", resume=True, progress=False)
    assert gan.trainer_.num_steps == 20
