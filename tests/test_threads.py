"""CPU threads chosen by measurement, passive OpenMP waits, and the slowdown note: the
choice's order of precedence, a timing that changes nothing of the run (bitwise the run
with ``--threads N``), resume with the recorded count, and the note on synthetic records."""

import copy
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import run

import ganforge as gf
from ganforge import health, threads
from ganforge.config import make_config
from ganforge.modalities.build import build_trainer
from ganforge.threads import SpeedWatch, ThreadChoice, choose_threads, slowdown_notes


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch):
    """Each test starts with torch's thread count as it was and ganforge's memory of its own
    setting empty; the count is put back afterwards (it is global)."""
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_ours", [])
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def two_cores(monkeypatch):
    """A machine of two cores whose torch default is two threads, no count set by the user."""
    monkeypatch.setattr(threads, "all_cores", lambda: 2)
    monkeypatch.setattr(threads, "_AT_IMPORT", 2)
    monkeypatch.setattr(threads, "TORCH_FIRST", False)
    monkeypatch.setattr(threads, "user_threads", lambda: None)


def _fake_timings(monkeypatch, seconds):
    """``measure`` runs for real (the twin trains at 1 and 2 threads) but reports
    ``seconds``, so that the choice is known in advance."""
    real = threads.measure
    calls = []

    def fake(step, counts, **kwargs):
        calls.append(real(step, counts, **kwargs))
        return dict(seconds)

    monkeypatch.setattr(threads, "measure", fake)
    return calls


def _refuse_to_measure(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(threads, "measure", refuse)


def _same_state(a, b):
    """Whether two nested states (dicts, lists, tensors, numbers) are bitwise equal."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return a == b


# --- the slowdown note ------------------------------------------------------------------


def test_a_drop_from_30_to_10_steps_per_s_is_one_slowdown_of_3x():
    watch = SpeedWatch()
    records = [
        {"step": 100 * (i + 1), "steps_per_s": v} for i, v in enumerate([30, 30, 30] + [10] * 3)
    ]
    notes = [watch.mark(r) for r in records]
    # the first slow record may be an evaluation or a checkpoint: the second one tells
    assert notes == [
        "",
        "",
        "",
        "",
        "slowed 3.0x: another process?",
        "slowed 3.0x: another process?",
    ]
    assert [r.get("slowdown") for r in records] == [None] * 4 + [3.0, 3.0]
    found = slowdown_notes(records)
    assert len(found) == 1
    assert found[0].startswith("training ran up to 3.0x slower than its best speed (from step 500")


def test_one_slow_record_and_a_recovery_are_no_slowdown():
    watch = SpeedWatch()
    assert [watch.update(v) for v in [30, 12, 30, 14, 29]] == [None] * 5
    assert [watch.update(v) for v in [10, 5, 40]] == [None, 6.0, None]  # over again at 40
    assert watch.note == ""
    assert slowdown_notes([{"step": 1, "steps_per_s": 30}, {"step": 2}]) == []


def test_the_doctor_notes_a_slowdown_apart_from_the_problems(tmp_path):
    records = [{"step": 100 * (i + 1), "steps_per_s": v} for i, v in enumerate([30, 30, 10, 10])]
    watch = SpeedWatch()
    for r in records:
        watch.mark(r)
    (tmp_path / "config.json").write_text(json.dumps({"config": {"steps": 400}}))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert health.doctor(tmp_path) == []  # not a training-health problem
    notes = health.doctor_notes(tmp_path)
    assert len(notes) == 1 and "3.0x slower" in notes[0]
    assert health.format_findings([], notes) == f"no problems found\nnote: {notes[0]}"
    assert health.findings_json([], notes) == {"findings": [], "notes": notes}
    assert health.findings_json([]) == {"findings": []}  # the contract's keys when no notes


DROP = [30.0, 30.0, 30.0, 10.0, 10.0, 10.0]  # steps per second: another process from the 4th


def test_a_slowed_run_says_so_and_marks_its_records_for_the_doctor(tmp_path, monkeypatch, capsys):
    speeds, real = iter(DROP), SpeedWatch.mark

    def mark(self, record):
        record["steps_per_s"] = next(speeds)
        return real(self, record)

    monkeypatch.setattr(SpeedWatch, "mark", mark)
    options = dict(steps=60, log_every=10, sample_every=0, eval_every=0, threads=1)
    gf.GAN("ring", **options).fit(out=tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    assert "train ring, 1 thread" in err and "slowed 3.0x: another process?" in err
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r.get("slowdown") for r in records] == [None] * 4 + [3.0, 3.0]
    assert len(health.doctor_notes(tmp_path / "run")) == 1


def test_a_slowed_table_run_marks_its_records(tmp_path, monkeypatch):
    speeds, real = iter(DROP), SpeedWatch.mark

    def mark(self, record):  # the same session loop as every kind of data
        record["steps_per_s"] = next(speeds)
        return real(self, record)

    monkeypatch.setattr(SpeedWatch, "mark", mark)
    opts = dict(steps=300, log_every=50, batch_size=50, g_width=16, d_width=16, latent_dim=8)
    gf.GAN(_table(), threads=1, **opts).fit(out=tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r.get("slowdown") for r in records] == [None] * 4 + [3.0, 3.0]


# --- the choice -------------------------------------------------------------------------


def test_a_given_count_wins_and_is_set():
    choice = choose_threads(1, lambda: pytest.fail("timed"))
    assert choice == ThreadChoice(1, "given") and torch.get_num_threads() == 1
    assert threads.user_threads() is None  # ganforge's own setting is not the user's


def test_the_users_count_wins_over_measuring(monkeypatch):
    monkeypatch.setattr(threads, "_AT_IMPORT", 2)
    monkeypatch.setattr(threads, "TORCH_FIRST", False)
    torch.set_num_threads(1)  # torch.set_num_threads after import ganforge
    assert choose_threads(0, lambda: pytest.fail("timed")) == ThreadChoice(1, "user")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert choose_threads(0, lambda: pytest.fail("timed")).how == "env"


def test_a_resumed_run_takes_its_recorded_count(two_cores):
    choice = choose_threads(0, lambda: pytest.fail("timed"), recorded={"chosen": 2})
    assert choice == ThreadChoice(2, "resumed") and torch.get_num_threads() == 2


def test_no_timing_off_the_cpu_for_short_runs_or_one_core(two_cores, monkeypatch):
    _refuse_to_measure(monkeypatch)
    now = torch.get_num_threads()
    assert choose_threads(0, lambda: None, device="cuda") == ThreadChoice(now, "default")
    assert choose_threads(0, None) == ThreadChoice(now, "default")
    assert choose_threads(0, lambda: None, steps=99) == ThreadChoice(now, "default")
    monkeypatch.setattr(threads, "all_cores", lambda: 1)
    assert choose_threads(0, lambda: None) == ThreadChoice(1, "one core")


@pytest.mark.parametrize(("ms_two", "chosen"), [(9.4, 2), (9.6, 1), (12.0, 1)])
def test_all_cores_must_be_faster_by_the_margin(two_cores, monkeypatch, ms_two, chosen):
    monkeypatch.setattr(threads, "measure", lambda step, counts, **kw: {1: 0.010, 2: ms_two / 1e3})
    choice = choose_threads(0, lambda: lambda: None)
    assert choice == ThreadChoice(chosen, "measured", {"1": 10.0, "2": ms_two})
    assert torch.get_num_threads() == chosen


def test_measure_alternates_the_counts_and_puts_everything_back():
    torch.set_num_threads(2)
    seen = []

    def step():  # about 12 ms: one call per timed sample
        seen.append(torch.get_num_threads())
        torch.rand(3)  # draws from the global random stream
        time.sleep(0.012)

    state = torch.random.get_rng_state()
    seconds = threads.measure(step, (1, 2))
    assert seen == [1, 2] + [1, 2] * threads.ROUNDS  # warm-up, then rounds taking turns
    assert set(seconds) == {1, 2} and all(0.011 < s < 0.5 for s in seconds.values())
    assert torch.get_num_threads() == 2
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("conditional", [False, True])
def test_timing_a_twin_leaves_the_trainer_untouched(conditional):
    options = dict(g_width=8, d_width=8, ema_decay=0.9, conditional=conditional)
    cfg = make_config(data="digits", **options)
    trainer = build_trainer(cfg, (1, 8, 8), torch.device("cpu"), class_shares=[0.1] * 10)
    before = copy.deepcopy(trainer.state_dict())
    rng = torch.random.get_rng_state()
    step = threads.trainer_step(trainer, (16, 1, 8, 8))
    for _ in range(3):
        step()
    assert _same_state(trainer.state_dict(), before)
    assert torch.equal(torch.random.get_rng_state(), rng)


# --- whole runs -------------------------------------------------------------------------

RING = dict(steps=200, log_every=50, ckpt_every=100, sample_every=0, eval_every=0, seed=4)


def test_a_measured_run_is_bitwise_the_run_with_its_count_and_resumes_with_it(
    tmp_path, two_cores, monkeypatch
):
    given = gf.GAN("ring", threads=1, **RING).fit(out=tmp_path / "given")
    torch.set_num_threads(2)
    calls = _fake_timings(monkeypatch, {1: 0.5, 2: 1.0})  # one thread "wins"
    auto = gf.GAN("ring", **RING).fit(out=tmp_path / "auto")
    assert len(calls) == 1 and set(calls[0]) == {1, 2}  # the twin did train at both counts
    assert auto.threads_ == ThreadChoice(1, "measured", {"1": 500.0, "2": 1000.0})
    recorded = json.loads((tmp_path / "auto" / "config.json").read_text())["threads"]
    assert recorded == {"chosen": 1, "how": "measured", "ms_per_step": {"1": 500.0, "2": 1000.0}}
    assert _same_state(auto.trainer_.state_dict(), given.trainer_.state_dict())
    np.testing.assert_array_equal(auto.sample(300), given.sample(300))

    # killed after step 100: the resumed run takes the recorded count, measuring nothing
    (tmp_path / "auto" / "checkpoints" / "step_000200.safetensors").unlink()
    torch.set_num_threads(2)
    _refuse_to_measure(monkeypatch)
    resumed = gf.GAN("ring", **RING).fit(out=tmp_path / "auto", resume=True)
    assert resumed.threads_ == ThreadChoice(1, "resumed") and torch.get_num_threads() == 1
    assert _same_state(resumed.trainer_.state_dict(), given.trainer_.state_dict())
    info = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert info["threads"]["chosen"] == 1


def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b", "c"], n), "k": rng.integers(0, 3, n)}
    )


def test_a_table_run_measures_alike_and_resumes_with_its_count(tmp_path, two_cores, monkeypatch):
    df = _table()
    opts = dict(steps=100, seed=2, batch_size=50, g_width=16, d_width=16, latent_dim=8)
    opts.update(holdout=0, ckpt_every=50)
    given = gf.GAN(df, threads=1, **opts).fit()
    torch.set_num_threads(2)
    _fake_timings(monkeypatch, {1: 0.5, 2: 1.0})
    auto = gf.GAN(df, **opts).fit(out=tmp_path / "auto")
    assert auto.threads_ == ThreadChoice(1, "measured", {"1": 500.0, "2": 1000.0})
    assert _same_state(auto.trainer_.state_dict(), given.trainer_.state_dict())
    pd.testing.assert_frame_equal(auto.sample(200, seed=1), given.sample(200, seed=1))

    # killed after step 50: the resumed run takes the recorded count, measuring nothing
    (tmp_path / "auto" / "checkpoints" / "step_000100.safetensors").unlink()
    torch.set_num_threads(2)
    _refuse_to_measure(monkeypatch)
    resumed = gf.GAN(df, **opts).fit(out=tmp_path / "auto", resume=True)
    assert resumed.threads_ == ThreadChoice(1, "resumed") and torch.get_num_threads() == 1
    assert _same_state(resumed.trainer_.state_dict(), given.trainer_.state_dict())


def test_the_cli_records_the_choice_and_shows_it(tmp_path):
    out = tmp_path / "run"
    result = run("train", "ring", "--steps", "100", "--sample-every", "0", "--out", out)
    assert result.returncode == 0, result.stderr
    recorded = json.loads((out / "config.json").read_text())["threads"]
    assert recorded["how"] in ("measured", "one core", "env")  # env: a CI's OMP_NUM_THREADS
    label = ThreadChoice(recorded["chosen"], recorded["how"]).label
    assert f"train ring, {label}" in result.stderr


# --- passive waits ----------------------------------------------------------------------

PROBE = """
import os, sys
{before}
import ganforge
print(os.environ.get("OMP_WAIT_POLICY"), ganforge.threads.user_threads())
"""


@pytest.mark.skipif(threads.all_cores() < 2, reason="one core: any count is all cores")
@pytest.mark.parametrize(
    ("before", "env", "expected"),
    [
        ("", {}, "PASSIVE None"),  # set before torch loads
        ("", {"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE None"),  # the user's value wins
        ("import torch; torch.set_num_threads(1)", {}, "None (1, 'user')"),  # too late to set
    ],
)
def test_import_ganforge_asks_for_passive_waits_only_before_torch(before, env, expected):
    environ = {
        k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", *threads.ENV_VARS)
    }
    probe = PROBE.format(before=before)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env={**environ, **env}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
