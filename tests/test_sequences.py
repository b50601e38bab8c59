"""Sequences end to end: the networks, training from the command line and from Python,
samples as arrays and long CSV rows, the metrics, exact resume, torchrun, the doctor and
the report, and bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import run

import ganforge as gf
from ganforge.config import make_config
from ganforge.modalities.build import build_trainer
from ganforge.modalities.sequences import KIND_PRESETS
from ganforge.sequence_nets import (
    RecurrentDiscriminator,
    RecurrentGenerator,
    SequenceDiscriminator,
    SequenceGenerator,
)

TINY = [
    "--steps", "30", "--batch-size", "32", "--g-width", "8", "--d-width", "8",
    "--log-every", "10", "--sample-every", "0", "--eval-every", "0", "--quiet",
    "--threads", "1",
]  # fmt: skip


def _series_csv(path, lengths=(40, 30), shuffle=True):
    """A long CSV: an entity per length, daily dates, two features that move smoothly."""
    rows = []
    for e, n in enumerate(lengths):
        for t in range(n):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=t)
            rows.append({"id": f"unit{e}", "day": day.date().isoformat(),
                         "load": np.sin(0.3 * t + e), "temp": 10 + 0.1 * t})  # fmt: skip
    frame = pd.DataFrame(rows)
    if shuffle:
        frame = frame.sample(frac=1, random_state=0)
    frame.to_csv(path, index=False)
    return frame


# -- networks ---------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["seq", "rcgan"])
def test_sequence_nets_map_flat_noise_to_windows_in_the_unit_interval(net):
    torch.manual_seed(0)
    if net == "seq":
        g, d = SequenceGenerator(3, 12, 4, 16, 2), SequenceDiscriminator(12, 4, 16, 3)
        assert g.noise_dim == (12 + 1) * 3  # a code, then noise per step
    else:
        g, d = RecurrentGenerator(3, 12, 4, 16), RecurrentDiscriminator(4, 16)
        assert g.noise_dim == 12 * 3
    x = g(torch.randn(5, g.noise_dim))
    assert x.shape == (5, 12, 4) and x.min() >= 0 and x.max() <= 1
    assert d(x).shape == (5,)


def test_the_code_sets_what_stays_fixed_along_a_sequence():
    """Same code, fresh step noise: the sequences differ; the code alone moves them too."""
    torch.manual_seed(0)
    g = SequenceGenerator(3, 10, 2, 16, 2)
    z = torch.randn(2, g.noise_dim)
    z[1, :3] = z[0, :3]
    a = g(z)
    assert not torch.equal(a[0], a[1])
    z2 = z.clone()
    z2[0, :3] += 1.0
    assert not torch.equal(g(z2)[0], a[0])


def test_the_temporal_discriminator_sees_the_first_differences():
    """A window and its time-reversal have the same values but opposite steps."""
    torch.manual_seed(0)
    d = SequenceDiscriminator(8, 1, 8, 2)
    x = torch.linspace(0, 1, 8).reshape(1, 8, 1)
    assert not torch.allclose(d(x), d(x.flip(1)))


@pytest.mark.parametrize("net", ["seq", "rcgan"])
def test_each_step_leaves_the_other_sequence_network_bitwise_unchanged(net):
    cfg = make_config(KIND_PRESETS, data="sines", net=net, g_width=8, d_width=8, batch_size=16)
    trainer = build_trainer(cfg, (10, 3), torch.device("cpu"))
    g, d = trainer.generator, trainer.discriminator
    trainer.discriminator_step(torch.rand(16, 10, 3))  # D has state and gradients
    before = {k: v.clone() for k, v in d.state_dict().items()}
    grads = [p.grad.clone() for p in d.parameters()]
    g_before = {k: v.clone() for k, v in g.state_dict().items()}
    trainer.generator_step(16)
    assert all(torch.equal(v, before[k]) for k, v in d.state_dict().items())
    assert all(torch.equal(p.grad, q) for p, q in zip(d.parameters(), grads, strict=True))
    assert any(not torch.equal(v, g_before[k]) for k, v in g.state_dict().items())
    g_now = {k: v.clone() for k, v in g.state_dict().items()}
    trainer.discriminator_step(torch.rand(16, 10, 3))
    assert all(torch.equal(v, g_now[k]) for k, v in g.state_dict().items())


# -- the command line -------------------------------------------------------------------


def test_train_sample_and_eval_sines_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    result = run("train", "sines", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "config.json").read_text())["data"]
    assert info["kind"] == "sequences" and info["shape"] == [24, 5]
    assert {p.name for p in (out / "samples").iterdir()} >= {"final.png", "pca.png", "tsne.png"}

    assert run("sample", out, "-n", "7", "-o", tmp_path / "x.npy").returncode == 0
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (7, 24, 5) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1  # sines live in [0, 1]

    assert run("sample", out, "-n", "3", "-o", tmp_path / "x.csv").returncode == 0
    rows = pd.read_csv(tmp_path / "x.csv")
    assert list(rows.columns) == ["sequence", "step", "x0", "x1", "x2", "x3", "x4"]
    assert len(rows) == 3 * 24 and rows["step"].tolist()[:24] == list(range(24))

    result = run("eval", out, "--metrics", "acf", "-n", "200", "--json", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr
    scores = json.loads((tmp_path / "e.json").read_text())
    assert scores["n"] == 200 and 0 <= scores["acf"] < 2


def test_a_long_csv_trains_in_windows_and_samples_keep_its_column_names(tmp_path):
    _series_csv(tmp_path / "s.csv")
    out = tmp_path / "run"
    flags = ["--entity", "id", "--time", "day", "--seq-len", "8", "--stride", "2"]
    result = run("train", tmp_path / "s.csv", *flags, *TINY, "--batch-size", "8", "--out", out)
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "config.json").read_text())["data"]
    assert info["shape"] == [8, 2] and info["features"] == ["load", "temp"]
    assert info["windows"] == (40 - 8) // 2 + 1 + (30 - 8) // 2 + 1
    assert run("sample", out, "-n", "2", "-o", tmp_path / "x.csv").returncode == 0
    assert list(pd.read_csv(tmp_path / "x.csv").columns) == ["id", "day", "load", "temp"]


@pytest.mark.parametrize(
    "make, flags, words",
    [
        (lambda p: np.savez(p / "d.npz", np.zeros((5, 2)), np.zeros((6, 2))), [], "ragged"),
        (
            lambda p: _series_csv(p / "d.csv").assign(temp="warm").to_csv(p / "d.csv"),
            ["--entity", "id", "--time", "day"],
            "temp",
        ),  # fmt: skip
        (
            lambda p: _series_csv(p / "d.csv"),
            ["--entity", "id", "--time", "day", "--seq-len", "50"],
            "seq-len",
        ),
    ],
)
def test_bad_sequences_exit_2_with_one_line_and_write_nothing(tmp_path, make, flags, words):
    make(tmp_path)
    data = next(p for p in tmp_path.iterdir() if p.name.startswith("d."))
    out = tmp_path / "run"
    result = run("train", data, *flags, *TINY, "--out", out)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert not out.exists()


# -- Python, resume, torchrun, doctor, report -----------------------------------------


def test_python_fit_on_an_array_samples_and_scores():
    rng = np.random.default_rng(0)
    t = np.arange(16)[None, :, None]
    x = np.sin(0.2 * t + rng.uniform(0, 6, (64, 1, 2))).astype(np.float32)  # (64, 16, 2)
    gan = gf.GAN(x, steps=20, batch_size=16, g_width=8, d_width=8, threads=1).fit()
    samples = gan.sample(5)
    assert samples.shape == (5, 16, 2)
    assert x.min() - 1e-6 <= samples.min() and samples.max() <= x.max() + 1e-6  # data units
    assert gan.history_["step"].iloc[-1] == 20


def _samples(out, path):
    assert run("sample", out, "-n", "50", "-o", path, "--seed", "1").returncode == 0
    return np.load(path)


def test_sigkill_then_resume_gives_the_samples_of_an_uninterrupted_run(tmp_path):
    flags = [*TINY, "--steps", "150", "--ckpt-every", "20"]
    assert run("train", "sines", *flags, "--out", tmp_path / "ref").returncode == 0
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganforge", "train", "sines", *flags, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any((out / "checkpoints").glob("step_*")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = run("train", "sines", *flags, "--out", out, "--resume")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(
        _samples(out, tmp_path / "a.npy"), _samples(tmp_path / "ref", tmp_path / "b.npy")
    )


def test_doctor_and_report_read_a_sequence_run(tmp_path):
    out = tmp_path / "run"
    assert run("train", "sines", *TINY, "--out", out).returncode == 0
    doctor = run("doctor", out)
    assert doctor.returncode in (0, 1) and doctor.stdout.strip(), doctor.stderr
    report = run("report", out)
    assert report.returncode == 0, report.stderr
    html = (out / "report.html").read_text()
    assert "final.png" in html or "data:image/png" in html


def test_two_ranks_train_sines_under_torchrun(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "ganforge", "train", "sines", *TINY, "--batch-size", "16", "--out",
           str(out)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((out / "config.json").read_text())
    assert info["distributed"]["world_size"] == 2
    assert gf.GAN.load(out).sample(4).shape == (4, 24, 5)


def test_data_on_the_unit_interval_keep_their_scale_others_are_min_max_scaled():
    from ganforge.data.sequences import SequenceSource, load_sequences

    sines = SequenceSource(load_sequences("sines", seed=0))
    assert torch.equal(sines.shift, torch.zeros(5)) and torch.equal(sines.scale, torch.ones(5))
    x = np.stack([np.linspace(-2, 3, 20), np.full(20, 0.5)], axis=1)[None].repeat(4, 0)
    source = SequenceSource(load_sequences(x.astype(np.float32)))
    assert source.shift.tolist() == [-2.0, 0.5] and source.scale.tolist() == [5.0, 1.0]
    batch = source.batch(4)
    assert batch[..., 0].min() == 0 and batch[..., 0].max() == 1
