"""The training session and what surrounds it: checkpoints that load without ganforge,
the history and callbacks of ``GAN.fit``, type checks of config files, and an
``import ganforge`` that leaves the process as it found it."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import ganforge as gf
from ganforge.cli import main

SMALL = {"batch_size": 64, "threads": 1, "sample_every": 0, "eval_every": 0}


def _part(path, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint whose names start with ``prefix``, without it."""
    return {k[len(prefix) :]: v for k, v in load_file(path).items() if k.startswith(prefix)}


def _assert_same_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    mine = module.state_dict()
    assert mine.keys() == state.keys()
    for key, value in mine.items():
        assert torch.equal(value, state[key]), key


# -- checkpoints readable without ganforge ----------------------------------------------


def test_checkpoint_parts_load_strictly_into_fresh_builtin_networks(tmp_path):
    run = tmp_path / "run"
    gan = gf.GAN("ring", steps=20, g_width=16, d_width=16, **SMALL).fit(out=run)
    cfg = json.loads((run / "config.json").read_text())["config"]
    dim = 2

    def generator() -> nn.Module:
        return gf.MLPGenerator(cfg["latent_dim"], dim, cfg["g_width"], cfg["g_depth"], cfg["g_act"])

    discriminator = gf.MLPDiscriminator(
        dim, cfg["d_width"], cfg["d_depth"], cfg["d_act"], cfg["spectral_norm"], cfg["pack"]
    )
    path = run / "checkpoints" / "step_000020.safetensors"
    trainer = gan.trainer_
    parts = {
        "generator.": (generator(), trainer.generator),
        "discriminator.": (discriminator, trainer.discriminator),
        "ema.module.": (generator(), trainer.ema.module),
    }
    for prefix, (fresh, trained) in parts.items():
        state = _part(path, prefix)
        fresh.load_state_dict(state, strict=True)
        _assert_same_state(fresh, trained.state_dict())


def test_checkpoint_parts_load_strictly_into_fresh_own_networks(tmp_path):
    def generator() -> nn.Module:
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))

    def discriminator() -> nn.Module:
        return nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    torch.manual_seed(0)
    g, d = generator(), discriminator()
    run = tmp_path / "run"
    gan = gf.GAN("ring", generator=g, discriminator=d, steps=20, **SMALL).fit(out=run)
    path = run / "checkpoints" / "step_000020.safetensors"
    parts = {
        "generator.": (generator(), g),
        "discriminator.": (discriminator(), d),
        "ema.module.": (generator(), gan.trainer_.ema.module),
    }
    for prefix, (fresh, trained) in parts.items():
        fresh.load_state_dict(_part(path, prefix), strict=True)
        _assert_same_state(fresh, trained.state_dict())


# -- history and callbacks --------------------------------------------------------------


def test_history_and_callbacks_without_a_run_directory():
    records: list[dict] = []
    gan = gf.GAN("ring", steps=40, log_every=10, threads=1).fit(callbacks=[records.append])
    history = gan.history_
    assert isinstance(history, pd.DataFrame)
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    assert list(history["step"]) == [10, 20, 30, 40]
    assert list(history.columns) == list(records[0])
    assert all(list(r) == list(records[0]) for r in records)
    assert history.to_dict("records") == records


def test_history_equals_metrics_jsonl_and_continues_on_resume(tmp_path):
    run = tmp_path / "run"
    options = {"g_width": 16, "d_width": 16, "log_every": 10, "ckpt_every": 10, **SMALL}
    records: list[dict] = []
    gan = gf.GAN("ring", steps=20, **options).fit(out=run, callbacks=[records.append])

    def logged() -> list[dict]:
        return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert [r["step"] for r in logged()] == [10, 20]
    assert gan.history_.to_dict("records") == logged() == records
    assert list(gan.history_.columns) == list(logged()[0])

    later: list[dict] = []
    gan = gf.GAN("ring", steps=40, **options).fit(out=run, resume=True, callbacks=[later.append])
    assert [r["step"] for r in logged()] == [10, 20, 30, 40]
    assert gan.history_.to_dict("records") == logged()
    assert later == logged()[2:]  # the callbacks see the records logged in this session


# -- type checks of config files --------------------------------------------------------


@pytest.mark.parametrize("bad", [{"steps": "many"}, {"steps": True}, {"steps": 2.5}])
def test_config_file_of_the_wrong_type_exits_2_naming_the_option(tmp_path, bad, capfd):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(bad))
    capfd.readouterr()
    code = main(["train", "ring", "--config", str(config), "--out", str(tmp_path / "run")])
    assert code == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), lines
    assert "steps" in lines[0]
    assert not (tmp_path / "run").exists()


def test_config_file_int_for_a_float_is_accepted(tmp_path):
    config = tmp_path / "ok.json"
    config.write_text(json.dumps({"lr_g": 1, "steps": 2}))
    run = tmp_path / "run"
    args = ["train", "ring", "--config", str(config), "--g-width", "8", "--d-width", "8"]
    assert main([*args, "--batch-size", "64", "--threads", "1", "--out", str(run), "--quiet"]) == 0
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["lr_g"] == 1.0 and isinstance(saved["lr_g"], float)
    assert saved["steps"] == 2


def test_python_options_of_the_wrong_type_name_the_option():
    with pytest.raises(gf.GanforgeError, match="steps"):
        gf.GAN("ring", steps="many", threads=1).fit()


# -- import ganforge leaves the process alone -------------------------------------------

# Records what `import ganforge` changes: the matplotlib backend, the warning filters, the
# logging handlers and, to tell ganforge's own filters from those its dependencies add
# on import (torch, numpy and scipy add some), every filter call made by a ganforge module.
IMPORT_PROBE = """
import json, logging, sys, warnings
import matplotlib

backend = matplotlib.get_backend()
filters = list(warnings.filters)
root_handlers = list(logging.getLogger().handlers)
own_calls = []


def spy(original):
    def wrapper(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.split(".")[0] == "ganforge":
            own_calls.append(f"{caller}: {original.__name__}{args}")
        return original(*args, **kwargs)

    return wrapper


warnings.filterwarnings = spy(warnings.filterwarnings)
warnings.simplefilter = spy(warnings.simplefilter)
import ganforge

print(json.dumps({
    "backend": [backend, matplotlib.get_backend()],
    "own_filter_calls": own_calls,
    "filters_added": [repr(f) for f in warnings.filters if f not in filters],
    "ganforge_handlers": [repr(h) for h in logging.getLogger("ganforge").handlers],
    "root_handlers_same": logging.getLogger().handlers == root_handlers,
}))
"""


def test_import_ganforge_leaves_backend_filters_and_logging_alone(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=tmp_path, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.splitlines()[-1])
    before, after = seen["backend"]
    assert after == before, "import ganforge switched the matplotlib backend"
    assert seen["own_filter_calls"] == []
    assert seen["ganforge_handlers"] == []
    assert seen["root_handlers_same"]
