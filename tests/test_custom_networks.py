"""The user's own networks: as Python objects (``GAN(generator=G, discriminator=D)``) and
from the command line (``--generator MODULE:CALLABLE``), through training, loading,
sampling, evaluation, the doctor, the report, bad input and a resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ganforge as gf
from ganforge.cli import main

# The user's module, written to the folder the commands run from. The generator's default
# latent_dim is the configured one (8 on points, 64 on pictures): the CLI passes only
# --net-kwargs to the callables.
MYNETS = """
import torch
from torch import nn


def generator(latent_dim=8, width=32, dim=2):
    return nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, dim))


def discriminator(width=32, dim=2):
    return nn.Sequential(nn.Linear(dim, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))


def picture_generator(latent_dim=64, width=32):
    return nn.Sequential(
        nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, 64), nn.Tanh(),
        nn.Unflatten(1, (1, 8, 8)),
    )


def picture_discriminator(width=32):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))


def not_a_module(width=32):
    return "a string"


def wrong_shape(latent_dim=8, width=32):
    return nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, 3))
"""
NETS: dict = {}
exec(MYNETS, NETS)  # the same networks, for the tests that pass Python objects

OWN = ["--generator", "mynets:generator", "--discriminator", "mynets:discriminator"]
QUICK = ["--batch-size", "64", "--threads", "1", "--sample-every", "0", "--eval-every", "0"]


def _env(folder):
    """The test's environment for a subprocess: one thread, PYTHONPATH without the folder
    the module lies in (it must be found because it is the current folder)."""
    env = dict(os.environ)
    paths = env.pop("PYTHONPATH", "").split(os.pathsep)
    kept = [p for p in paths if p and Path(p).resolve() != Path(folder).resolve()]
    return {**env, "PYTHONPATH": os.pathsep.join(kept), "OMP_NUM_THREADS": "1"}


def _ganforge(args, cwd, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "ganforge", *map(str, args)],
        cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=300, **kwargs,
    )  # fmt: skip


def _one_error_line(err: str) -> str:
    """The single line of a usage error on stderr."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ganforge: error: "), err
    return lines[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def nets_dir(tmp_path, monkeypatch):
    """``tmp_path`` holding ``mynets.py``, as the current folder; the module is forgotten
    (and ``sys.path`` restored) afterwards, so that no other test sees it."""
    (tmp_path / "mynets.py").write_text(MYNETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("mynets", None)
    yield tmp_path
    sys.modules.pop("mynets", None)


# -- own networks as Python objects -----------------------------------------------------


@pytest.fixture(scope="module")
def object_run(tmp_path_factory):
    """A ring run of Python-object networks: the fitted GAN and its run directory."""
    run = tmp_path_factory.mktemp("objects") / "run"
    torch.manual_seed(0)
    generator, discriminator = NETS["generator"](), NETS["discriminator"]()
    gan = gf.GAN(
        "ring", generator=generator, discriminator=discriminator, steps=30, batch_size=64,
        log_every=10, sample_every=0, eval_every=0, threads=1,
    ).fit(out=run)  # fmt: skip
    return gan, run, (generator, discriminator)


def test_object_networks_are_trained_as_given_and_write_the_whole_run(object_run):
    gan, run, (generator, discriminator) = object_run
    assert gan.trainer_.generator is generator
    assert gan.trainer_.discriminator is discriminator
    for name in ("config.json", "metrics.jsonl", "losses.png", "samples/final.png"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000030.safetensors"]
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["net"] == "custom"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 20, 30]


def test_load_into_fresh_objects_samples_as_the_fitted_gan(object_run):
    gan, run, (generator, _) = object_run
    torch.manual_seed(1)  # other initial weights, which the checkpoint replaces
    fresh_g, fresh_d = NETS["generator"](), NETS["discriminator"]()
    loaded = gf.GAN.load(run, generator=fresh_g, discriminator=fresh_d)
    assert loaded.trainer_.generator is fresh_g
    assert loaded.trainer_.discriminator is fresh_d
    for (name, mine), theirs in zip(
        fresh_g.state_dict().items(), generator.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, theirs), name
    np.testing.assert_array_equal(loaded.sample(200, seed=3), gan.sample(200, seed=3))
    np.testing.assert_array_equal(loaded.sample(200), gan.sample(200))


def test_evaluate_in_python_works_on_object_networks(object_run):
    gan, run, _ = object_run
    scores = gf.evaluate(gan, n=200)
    assert scores["n"] == 200
    assert {"fd", "modes", "hq", "rkl"} <= set(scores)
    assert scores["modes"] in range(9)
    loaded = gf.GAN.load(run, generator=NETS["generator"](), discriminator=NETS["discriminator"]())
    np.testing.assert_equal(gf.evaluate(loaded, n=200), scores)  # NaN (rkl of no HQ) == NaN


def test_load_of_an_object_run_needs_both_networks(object_run):
    _, run, _ = object_run
    with pytest.raises(gf.GanforgeError, match=r"GAN\.load\(RUN, generator="):
        gf.GAN.load(run)
    with pytest.raises(gf.GanforgeError):
        gf.GAN.load(run, generator=NETS["generator"]())


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_cli_cannot_rebuild_object_networks_and_says_how_to_load(object_run, command, capfd):
    _, run, _ = object_run
    before = _files(run)
    assert main([command, str(run), "-n", "50"]) == 2
    line = _one_error_line(capfd.readouterr().err)
    assert "GAN.load(RUN, generator=" in line and "discriminator=" in line, line
    assert _files(run) == before


def test_doctor_and_report_read_an_object_run(object_run, capfd):
    _, run, _ = object_run
    capfd.readouterr()
    assert main(["doctor", str(run), "--json"]) == 0
    assert isinstance(json.loads(capfd.readouterr().out)["findings"], list)
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").stat().st_size > 0


def test_own_optimizers_are_the_ones_that_train():
    torch.manual_seed(0)
    generator, discriminator = NETS["generator"](), NETS["discriminator"]()
    g_opt = torch.optim.SGD(generator.parameters(), lr=0.01)
    d_opt = torch.optim.SGD(discriminator.parameters(), lr=0.01)
    before = [p.detach().clone() for p in generator.parameters()]
    gan = gf.GAN(
        "ring", generator=generator, discriminator=discriminator, g_optimizer=g_opt,
        d_optimizer=d_opt, steps=3, batch_size=64, threads=1,
    ).fit()  # fmt: skip
    assert gan.trainer_.g_optimizer is g_opt
    assert gan.trainer_.d_optimizer is d_opt
    assert all(not torch.equal(a, p) for a, p in zip(before, generator.parameters(), strict=True))


# -- own networks from the command line -------------------------------------------------

# Run from the run's folder with that folder removed from sys.path: ganforge itself must
# find mynets in the current folder. Prints the exit codes and whether GAN.load samples
# what `sample` wrote.
AFTER_TRAINING = """
import contextlib, io, json, os, sys
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
import numpy as np
from ganforge import GAN
from ganforge.cli import main
codes = {"sample": main(["sample", "run", "-n", "200", "--seed", "1", "-o", "x.npy"])}
codes["eval"] = main(["eval", "run", "-n", "200", "--json", "eval.json"])
doctor = io.StringIO()
with contextlib.redirect_stdout(doctor):
    codes["doctor"] = main(["doctor", "run", "--json"])
codes["report"] = main(["report", "run"])
same = bool(np.array_equal(GAN.load("run").sample(200, seed=1), np.load("x.npy")))
print("RESULT " + json.dumps({"codes": codes, "same": same, "doctor": doctor.getvalue()}))
"""


def test_cli_own_networks_from_the_current_folder(tmp_path):
    (tmp_path / "mynets.py").write_text(MYNETS)
    train = ["train", "ring", *OWN, "--net-kwargs", '{"width": 32}', "--steps", "60"]
    proc = _ganforge([*train, *QUICK, "--log-every", "20", "--out", "run", "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["generator"] == "mynets:generator"
    assert config["discriminator"] == "mynets:discriminator"
    assert json.loads(config["net_kwargs"]) == {"width": 32}
    assert config["net"] == "custom"

    proc = subprocess.run(
        [sys.executable, "-c", AFTER_TRAINING],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1].removeprefix("RESULT "))
    assert result["codes"] == {"sample": 0, "eval": 0, "doctor": 0, "report": 0}, proc.stderr
    assert result["same"]
    assert isinstance(json.loads(result["doctor"])["findings"], list)
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (200, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    assert json.loads((tmp_path / "eval.json").read_text())["n"] == 200
    assert (tmp_path / "run" / "report.html").is_file()


def test_cli_own_picture_networks(nets_dir, capfd):
    pictures = ["--generator", "mynets:picture_generator"]
    pictures += ["--discriminator", "mynets:picture_discriminator"]
    args = ["train", "digits", *pictures, "--steps", "4", "--batch-size", "32", "--threads", "1"]
    assert main([*args, "--sample-every", "0", "--out", "run", "--quiet"]) == 0
    assert main(["sample", "run", "-n", "16", "--seed", "1", "-o", "x.npy"]) == 0
    x = np.load(nets_dir / "x.npy")
    assert x.shape == (16, 8, 8, 1) and x.dtype == np.uint8
    np.testing.assert_array_equal(gf.GAN.load("run").sample(16, seed=1), x)


# -- bad input --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    """A finished run that failed commands with --overwrite must leave as it was."""
    run = tmp_path_factory.mktemp("existing") / "run"
    args = ["train", "ring", "--steps", "5", "--g-width", "8", "--d-width", "8", *QUICK]
    assert main([*args, "--out", str(run), "--quiet"]) == 0
    return run


BAD = {
    "no such module": (
        ["--generator", "nosuchmod_gf:g", "--discriminator", "mynets:discriminator"],
        ["nosuchmod_gf"],
    ),
    "no such callable": (
        ["--generator", "mynets:missing", "--discriminator", "mynets:discriminator"],
        ["mynets", "missing"],
    ),
    "not a module": (
        ["--generator", "mynets:not_a_module", "--discriminator", "mynets:discriminator"],
        ["not_a_module", "nn.Module"],
    ),
    "kwargs not an object": ([*OWN, "--net-kwargs", "[1]"], ["--net-kwargs"]),
    "kwargs not json": ([*OWN, "--net-kwargs", "{width: 32"], ["--net-kwargs"]),
    "generator alone": (["--generator", "mynets:generator"], ["--generator", "--discriminator"]),
    "discriminator alone": (
        ["--discriminator", "mynets:discriminator"],
        ["--generator", "--discriminator"],
    ),
    "wrong output shape": (
        ["--generator", "mynets:wrong_shape", "--discriminator", "mynets:discriminator"],
        ["the generator makes samples of shape (3,)", "(2,)"],
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_own_networks_exit_2_with_one_line_and_write_nothing(
    case, nets_dir, existing_run, capfd
):
    flags, named = BAD[case]
    before = _files(existing_run)
    args = ["train", "ring", *flags, "--steps", "5", *QUICK, "--quiet"]
    capfd.readouterr()
    assert main([*args, "--out", str(existing_run), "--overwrite"]) == 2
    line = _one_error_line(capfd.readouterr().err)
    for text in named:
        assert text in line, line
    assert _files(existing_run) == before
    assert main([*args, "--out", "new"]) == 2
    _one_error_line(capfd.readouterr().err)
    assert not (nets_dir / "new").exists()


# -- SIGKILL and --resume with own networks ---------------------------------------------

LONG = ["train", "ring", *OWN, "--net-kwargs", '{"width": 32}', "--steps", "400"]
LONG += ["--ckpt-every", "50", "--log-every", "50", *QUICK, "--quiet"]


def _start(args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "ganforge", *args],
        cwd=cwd, env=_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "steps_per_s"} for line in lines]


def test_sigkill_then_resume_with_own_networks_is_bitwise_identical(nets_dir):
    reference = _start([*LONG, "--out", "reference"], nets_dir)  # alongside the killed run
    killed = _start([*LONG, "--out", "killed"], nets_dir)
    marker = nets_dir / "killed" / "checkpoints" / "step_000100.safetensors"
    deadline = time.time() + 240
    while not marker.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert marker.exists() and killed.poll() is None, killed.communicate()[1]
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    assert not (nets_dir / "killed" / "checkpoints" / "step_000400.safetensors").exists()

    resumed = _ganforge([*LONG, "--out", "killed", "--resume"], nets_dir)
    assert resumed.returncode == 0, resumed.stderr
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err

    for run in ("reference", "killed"):  # in this process, from the same folder
        assert main(["sample", run, "-n", "200", "--seed", "1", "-o", f"{run}.npy"]) == 0
    np.testing.assert_array_equal(np.load("killed.npy"), np.load("reference.npy"))
    assert _records(nets_dir / "killed") == _records(nets_dir / "reference")


def test_cli_own_networks_start_from_the_run_seed(nets_dir):
    """Networks that --generator/--discriminator build are initialised from --seed (as the
    built-in ones are), not from whatever state torch's global generator is in."""
    args = ["train", "ring", *OWN, "--steps", "2", *QUICK, "--quiet"]
    torch.manual_seed(123)
    assert main([*args, "--out", "first"]) == 0
    torch.manual_seed(456)
    assert main([*args, "--out", "second"]) == 0
    first = load_file(nets_dir / "first" / "checkpoints" / "step_000002.safetensors")
    second = load_file(nets_dir / "second" / "checkpoints" / "step_000002.safetensors")
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
