import os
import signal

import pytest

import ganforge as gf
from ganforge.loop import Meter, TrainingInterrupted


def test_meter_averages_between_flushes():
    m = Meter()
    m.add({"a": 1.0, "b": 4.0})
    m.add({"a": 3.0, "b": 0.0})
    record = m.flush()
    assert record["a"] == 2.0 and record["b"] == 2.0 and record["steps_per_s"] > 0
    m.add({"a": 5.0, "b": 1.0})
    assert m.flush()["a"] == 5.0


def test_ctrl_c_stops_fit_without_a_run_directory_after_a_whole_step(monkeypatch):
    add = Meter.add
    calls = []

    def add_then_interrupt(self, stats):  # Ctrl-C arrives during step 10
        add(self, stats)
        calls.append(1)
        if len(calls) == 10:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Meter, "add", add_then_interrupt)
    before = signal.getsignal(signal.SIGINT)  # ignored when started in the background
    gan = gf.GAN("ring", steps=1000, g_width=16, d_width=16, batch_size=32, eval_every=0)
    with pytest.raises(TrainingInterrupted, match="after step 10; nothing saved") as info:
        gan.fit()
    assert info.value.step == gan.trainer_.num_steps == 10
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
