import logging
import sys

import numpy as np
import pytest
import torch

from ganforge.data.sequences import (
    SEQUENCE_BUILTIN,
    SequenceSet,
    SequenceSource,
    is_sequence_data,
    load_sequences,
    sines,
    write_long_csv,
)
from ganforge.errors import GanforgeError


def _write(path, text):
    path.write_text(text)
    return path


def _source(windows, seed=0):
    x = np.asarray(windows, dtype=np.float32)
    features = [f"x{k}" for k in range(x.shape[2])]
    return SequenceSource(SequenceSet(x, features, "array", seq_len=x.shape[1]), seed=seed)


# ---------------------------------------------------------------- sines


def test_sines_shape_range_and_seed():
    x = sines(n=40, seq_len=24, dim=5, seed=3)
    assert x.shape == (40, 24, 5) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_array_equal(x, sines(n=40, seq_len=24, dim=5, seed=3))
    assert not np.array_equal(x, sines(n=40, seq_len=24, dim=5, seed=4))
    found = load_sequences("sines", seq_len=12, seed=3)
    assert found.windows.shape == (10000, 12, 5) and found.name == "sines"
    np.testing.assert_array_equal(found.windows, sines(seq_len=12, seed=3))
    assert load_sequences("sines").windows.shape == (10000, 24, 5)
    assert SEQUENCE_BUILTIN == ("sines", "macro")


def test_sines_are_sinusoids_with_small_frequency_and_phase():
    x = sines(n=300, seq_len=24, dim=5, seed=1).astype(np.float64)
    y = 2.0 * x - 1.0  # undo the rescaling to [0, 1]
    # f, phi in [0, 0.1], so the first two arguments phi and f + phi lie well inside arcsin's
    # range; the later ones (up to 2.4) do not, hence the check by prediction below.
    phase = np.arcsin(y[:, 0, :])
    freq = np.arcsin(y[:, 1, :]) - phase
    tol = 1e-6
    assert phase.min() >= -tol and phase.max() <= 0.1 + tol
    assert freq.min() >= -tol and freq.max() <= 0.1 + tol
    t = np.arange(24)[None, :, None]
    predicted = np.sin(freq[:, None, :] * t + phase[:, None, :])
    assert np.abs(predicted - y).max() < 2e-5
    # Uniform draws over the whole interval, independently per sequence and feature.
    for v in (freq, phase):
        assert v.min() < 0.005 and v.max() > 0.095 and abs(v.mean() - 0.05) < 0.005
    assert len(np.unique(np.round(freq, 5))) > 1400


# ---------------------------------------------------------------- long-format CSV


def test_csv_two_entities_numeric_time_shuffled(tmp_path):
    rows = [("b", 2, 20.0, 1), ("a", 3, 3.0, 0), ("a", 1, 1.0, 0), ("b", 1, 10.0, 1)]
    rows += [("a", 2, 2.0, 0), ("a", 4, 4.0, 0), ("b", 3, 30.0, 1)]
    text = "id,value,t,flag\n" + "".join(f"{e},{v},{t},{f}\n" for e, t, v, f in rows)
    found = load_sequences(_write(tmp_path / "long.csv", text), seq_len=3, entity="id", time="t")
    assert found.features == ["value", "flag"]
    assert (found.entity, found.time, found.seq_len, found.stride) == ("id", "t", 3, 1)
    assert found.windows.dtype == np.float32
    # entity "b" appears first in the file, so its window comes first
    expected = [
        [[10, 1], [20, 1], [30, 1]],
        [[1, 0], [2, 0], [3, 0]],
        [[2, 0], [3, 0], [4, 0]],
    ]
    np.testing.assert_array_equal(found.windows, np.array(expected, dtype=np.float32))


def test_csv_dates_as_time_in_shuffled_order(tmp_path):
    values = {"2021-01-04": 4.5, "2021-01-01": 1.5, "2020-12-31": 0.5, "2021-01-03": 3.5}
    values["2021-01-02"] = 2.5
    text = "day,x,y\n" + "".join(f"{d},{v},{-v}\n" for d, v in values.items())
    found = load_sequences(_write(tmp_path / "days.csv", text), seq_len=4, time="day")
    assert found.entity is None and found.time == "day" and found.features == ["x", "y"]
    chrono = np.array([0.5, 1.5, 2.5, 3.5, 4.5], dtype=np.float32)
    expected = np.stack([np.stack([chrono[i : i + 4], -chrono[i : i + 4]], 1) for i in (0, 1)])
    np.testing.assert_array_equal(found.windows, expected)


def test_csv_without_time_keeps_file_order_and_stride(tmp_path):
    text = "v\n" + "".join(f"{v}\n" for v in (7, 3, 9, 1, 4, 8, 2))
    path = _write(tmp_path / "one.csv", text)
    found = load_sequences(path, seq_len=3, stride=2)
    np.testing.assert_array_equal(found.windows[..., 0], [[7, 3, 9], [9, 1, 4], [4, 8, 2]])
    assert found.stride == 2 and found.features == ["v"]
    assert load_sequences(path, seq_len=3, stride=3).windows.shape == (2, 3, 1)
    assert load_sequences(path, seq_len=2).windows.shape == (6, 2, 1)
    # seq_len 0 is the default 24, longer than this file
    with pytest.raises(GanforgeError, match=r"--seq-len 24 is longer than the series"):
        load_sequences(path)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_short_entities_are_skipped_with_a_warning(tmp_path):
    lengths = {"long": 5, "tiny": 2, "mid": 3, "short": 1}
    text = "who,x\n" + "".join(f"{e},{i}\n" for e, n in lengths.items() for i in range(n))
    handler = _Lines()
    logger = logging.getLogger("ganforge")
    logger.addHandler(handler)
    try:
        found = load_sequences(_write(tmp_path / "e.csv", text), seq_len=3, entity="who")
    finally:
        logger.removeHandler(handler)
    np.testing.assert_array_equal(
        found.windows[..., 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4], [0, 1, 2]]
    )
    assert len(handler.lines) == 1
    assert "skipped 2 of 4 entities shorter than --seq-len 3" in handler.lines[0]


# ---------------------------------------------------------------- errors


CSV_ERRORS = [
    (
        "id,x\na,1\na,2\nb,1\n",
        {"seq_len": 50, "entity": "id"},
        (
            r"--seq-len 50 is longer than every series \(longest: 2 steps\); "
            r"choose a smaller --seq-len"
        ),
    ),
    (
        "id,x\na,1\na,hello\n",
        {"seq_len": 2},
        (
            r"column 'id' holds non-numeric values such as 'a' \(data row 1\); drop the column "
            r"or give it as --entity or --time"
        ),
    ),
    ("id,x\na,1\na,hello\n", {"seq_len": 2, "entity": "id"}, r"column 'x' .* such as 'hello'"),
    (
        "x,y\n1,2\n2,nan\n3,inf\n4,\n",
        {"seq_len": 2},
        (r"3 NaN, Inf or empty value\(s\), first in column 'y', data row 2; remove or impute them"),
    ),
    (
        "x\n1\n2\n",
        {"seq_len": 2, "entity": "who"},
        (r"no column 'who' for --entity; its columns are: x"),
    ),
    ("x,t\n1,1\n2,2\n", {"seq_len": 2, "time": "when"}, r"no column 'when' for --time; .*: x, t"),
    (
        "id,t,x\na,1,1\na,2,2\nb,1,1\nb,1,2\n",
        {"seq_len": 2, "entity": "id", "time": "t"},
        (r"entity 'b' has two rows at time 1 \(data rows 3 and 4\)"),
    ),
    (
        "t,x\n2020-01-01,1\n2020-01-02,2\n2020-01-01,3\n",
        {"seq_len": 2, "time": "t"},
        (r"the series has two rows at time '2020-01-01' \(data rows 1 and 3\)"),
    ),
    (
        "t,x\n2020-01-01,1\nsoon,2\n",
        {"seq_len": 2, "time": "t"},
        (r"time column 't' holds values that are neither numbers nor dates.*'soon'"),
    ),
    ("x\n1\n2\n3\n", {"seq_len": 3}, r"gives only 1 window of 3 steps; training needs at least 2"),
    ("x\n1\n2\n3\n", {"seq_len": 1}, r"--seq-len 1 is too short"),
    ("x\n1\n2\n3\n", {"seq_len": 2, "stride": 0}, r"--stride 0 must be at least 1"),
    ("id,x\n,1\na,2\n", {"seq_len": 2, "entity": "id"}, r"'id' \(--entity\) has 1 empty value"),
    ("", {"seq_len": 2}, r"is empty"),
    ("t,x\n", {"seq_len": 2, "time": "t"}, r"has a header but no rows"),
]


@pytest.mark.parametrize(("text", "options", "message"), CSV_ERRORS)
def test_csv_errors(tmp_path, text, options, message):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(GanforgeError, match=message) as caught:
        load_sequences(path, **options)
    assert "\n" not in str(caught.value)


def test_file_and_array_errors(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist; give an existing path"):
        load_sequences(tmp_path / "missing.npy")
    with pytest.raises(GanforgeError, match=r"expected one of \.npy, \.npz, \.csv"):
        load_sequences(_write(tmp_path / "x.txt", "1 2"))
    with pytest.raises(
        GanforgeError, match="unknown sequence data set 'waves'; choose one of: sines, macro"
    ):
        load_sequences("waves")
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((3, 2)), np.zeros((5, 2))
    np.save(tmp_path / "ragged.npy", ragged, allow_pickle=True)
    with pytest.raises(
        GanforgeError, match=r"ragged sequences: .* pad or cut them to one length T"
    ):
        load_sequences(tmp_path / "ragged.npy")
    with pytest.raises(GanforgeError, match="ragged sequences: array is an object array"):
        load_sequences(ragged)
    np.savez(tmp_path / "ragged.npz", np.zeros((3, 2)), np.zeros((5, 2)), np.zeros((3, 2)))
    with pytest.raises(
        GanforgeError,
        match=r"ragged sequences: .*ragged.npz holds 3 sequences of lengths 3, 5; pad or cut",
    ):
        load_sequences(tmp_path / "ragged.npz")
    x = np.zeros((4, 6, 2))
    x[2, 3, 1], x[3, 0, 0] = np.nan, np.inf
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(
        GanforgeError,
        match=r"2 NaN or Inf value\(s\), first in sequence 2, step 3, feature 1; remove or impute",
    ):
        load_sequences(tmp_path / "nan.npy")
    with pytest.raises(GanforgeError, match=r"expected numbers, found dtype <U1"):
        load_sequences(np.array([[["a"]]]))
    with pytest.raises(GanforgeError, match=r"sequences of 1 step are too short.*T ≥ 2"):
        load_sequences(np.zeros((5, 1, 3), dtype=np.float32))
    with pytest.raises(GanforgeError, match=r"gives only 1 window"):
        load_sequences(np.zeros((1, 6, 3), dtype=np.float32))
    with pytest.raises(GanforgeError, match=r"expected sequences of shape \(N, T, d\)"):
        load_sequences(np.zeros((2, 3, 4, 5), dtype=np.float32))
    with pytest.raises(GanforgeError, match=r"--entity and --time name columns of a long-format"):
        load_sequences("sines", entity="id")
    with pytest.raises(
        GanforgeError, match=r"--seq-len 9 is longer than every series \(longest: 6"
    ):
        load_sequences(np.zeros((3, 6, 1), dtype=np.float32), seq_len=9)
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(GanforgeError, match="cannot read .*; check that the file is intact"):
        load_sequences(tmp_path / "broken.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((3, 4, 2)), b=np.zeros(3))
    with pytest.raises(GanforgeError, match=r"cannot tell which array .* name it 'x'"):
        load_sequences(tmp_path / "two.npz")


# ---------------------------------------------------------------- arrays and files


def test_npy_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", x=x, y=np.arange(6))
    np.savez(tmp_path / "c.npz", x)  # arr_0
    np.savez(tmp_path / "d.npz", windows=x)  # the only array
    np.savez(tmp_path / "e.npz", *x)  # one (T, d) array per sequence
    np.savez(tmp_path / "f.npz", data=x.astype(np.float64))
    for name in ("a.npy", "b.npz", "c.npz", "d.npz", "e.npz", "f.npz"):
        found = load_sequences(tmp_path / name)
        assert found.windows.dtype == np.float32 and found.name == str(tmp_path / name)
        assert found.features == ["x0", "x1", "x2"] and (found.entity, found.time) == (None, None)
        np.testing.assert_array_equal(found.windows, x)
    found = load_sequences(torch.from_numpy(x))
    assert found.name == "array" and found.seq_len == 5 and found.stride == 0
    np.testing.assert_array_equal(found.windows, x)
    np.save(tmp_path / "flat.npy", x[..., 0])  # (N, T) is one feature
    np.testing.assert_array_equal(load_sequences(tmp_path / "flat.npy").windows, x[..., :1])
    # a nonzero seq_len below T cuts each sequence into windows
    cut = load_sequences(x, seq_len=3, stride=2)
    np.testing.assert_array_equal(cut.windows, x[:, [[0, 1, 2], [2, 3, 4]]].reshape(12, 3, 3))
    assert (cut.seq_len, cut.stride) == (3, 2)
    np.testing.assert_array_equal(load_sequences(x, seq_len=5).windows, x)


def test_is_sequence_data(tmp_path):
    none: dict[str, object] = {}
    floats = np.zeros((4, 6, 2), dtype=np.float32)
    pixels = np.zeros((4, 6, 6), dtype=np.uint8)
    assert is_sequence_data(floats, none) and is_sequence_data(torch.zeros(4, 6, 2), none)
    assert not is_sequence_data(pixels, none)
    assert not is_sequence_data(np.zeros((4, 6, 6, 3), dtype=np.uint8), none)
    assert not is_sequence_data(np.zeros((4, 6), dtype=np.float32), none)
    assert not is_sequence_data(torch.zeros(4, 6, 6, dtype=torch.uint8), none)
    assert is_sequence_data("sines", none) and is_sequence_data("macro", none)
    assert not is_sequence_data("ring", none) and not is_sequence_data("mnist", none)
    np.save(tmp_path / "f.npy", floats)
    np.save(tmp_path / "p.npy", pixels)
    np.save(tmp_path / "p4.npy", np.zeros((2, 4, 4, 3), dtype=np.uint8))
    np.save(tmp_path / "pts.npy", floats[:, :, 0])
    np.savez(tmp_path / "f.npz", x=floats, y=np.arange(4))
    np.savez(tmp_path / "p.npz", pixels)
    np.savez(tmp_path / "seqs.npz", *floats)
    (tmp_path / "t.csv").write_text("x\n1\n2\n")
    assert is_sequence_data(tmp_path / "f.npy", none)
    assert is_sequence_data(str(tmp_path / "f.npz"), none)
    assert is_sequence_data(tmp_path / "seqs.npz", none)
    for name in ("p.npy", "p4.npy", "pts.npy", "p.npz", "t.csv", "missing.npy"):
        assert not is_sequence_data(tmp_path / name, none), name
    # the options turn any data into sequences
    assert is_sequence_data(tmp_path / "t.csv", {"entity": "id"})
    assert is_sequence_data(tmp_path / "t.csv", {"time": "t", "entity": ""})
    assert is_sequence_data(tmp_path / "pts.npy", {"seq_len": 12})
    assert not is_sequence_data(tmp_path / "t.csv", {"entity": "", "time": "", "seq_len": 0})


# ---------------------------------------------------------------- the batch stream


def test_normalisation_is_exact_min_max():
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(20, 7, 3)) * [1.0, 50.0, 0.0] + [0.0, -3.0, 2.5]).astype(np.float32)
    source = _source(x)
    assert source.shape == (7, 3) and source.dim == 21 and len(source) == 20
    assert source.mixture is None and source.labels is None and source.classes is None
    assert source.features == ["x0", "x1", "x2"] and source.name == "array"
    low, high = x.min(axis=(0, 1)), x.max(axis=(0, 1))
    np.testing.assert_array_equal(source.shift.numpy(), low)
    np.testing.assert_array_equal(source.scale.numpy(), [high[0] - low[0], high[1] - low[1], 1])
    assert source.shift.dtype == source.scale.dtype == torch.float32
    assert source.shift.shape == source.scale.shape == (3,)
    whole = source.batch(20)
    assert whole.shape == (20, 7, 3) and whole.dtype == torch.float32
    np.testing.assert_array_equal(whole.amin(dim=(0, 1)).numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(whole.amax(dim=(0, 1)).numpy(), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(source.normalised(x), ((x - low) / source.scale.numpy()))
    np.testing.assert_allclose(source.denormalised(source.normalised(x)), x, atol=1e-5)
    assert source.normalised(x).dtype == np.float32
    torch.testing.assert_close(source.windows, torch.from_numpy(x), rtol=0, atol=0)


def test_batches_shuffle_once_per_epoch_and_reference():
    x = np.arange(10 * 2 * 1, dtype=np.float32).reshape(10, 2, 1)
    source = _source(x, seed=7)
    firsts = [source.batch(3)[:, 0, 0] * 19 for _ in range(3)]  # 9 of 10 windows, no repeat
    seen = torch.cat(firsts).round().long().tolist()
    assert len(set(seen)) == 9 and all(v % 2 == 0 for v in seen)
    with pytest.raises(
        GanforgeError,
        match=r"batch size 11 is larger than the data \(10 windows\); choose a smaller "
        "--batch-size",
    ):
        source.check_batch_size(11)
    with pytest.raises(GanforgeError, match="must be at least 1"):
        source.batch(0)
    state = source.state_dict()
    ref = source.reference(6, seed=2)
    assert ref.shape == (6, 2, 1) and ref.dtype == np.float32
    assert len({float(r[0, 0]) for r in ref}) == 6  # distinct windows, raw units
    assert set(ref[:, 0, 0].tolist()) <= set(x[:, 0, 0].tolist())
    np.testing.assert_array_equal(ref, source.reference(6, seed=2))
    assert source.reference(50).shape == (10, 2, 1)
    after = source.state_dict()
    assert torch.equal(state["rng"], after["rng"]) and int(after["pos"]) == 9


def test_stream_resume_is_exact():
    x = np.random.default_rng(1).normal(size=(13, 4, 2)).astype(np.float32)
    source = _source(x, seed=11)
    for _ in range(5):  # crosses an epoch boundary: 5 * 4 > 13
        source.batch(4)
    saved = source.state_dict()
    saved = {k: v.clone() for k, v in saved.items()}  # as written to and read from disk
    expected = [source.batch(4) for _ in range(7)]
    fresh = _source(x, seed=999)
    fresh.load_state_dict(saved)
    got = [fresh.batch(4) for _ in range(7)]
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = _source(x, seed=11)
    assert not torch.equal(other.batch(4), expected[0])


# ---------------------------------------------------------------- macro and CSV output


def test_macro_windows():
    found = load_sequences("macro")
    assert found.windows.shape == (203 - 24 + 1, 24, 12) and found.windows.dtype == np.float32
    assert found.features[:3] == ["realgdp", "realcons", "realinv"]
    assert "year" not in found.features and "quarter" not in found.features
    assert (found.name, found.seq_len, found.stride) == ("macro", 24, 1)
    w = found.windows
    np.testing.assert_array_equal(w[1:, :-1], w[:-1, 1:])  # window i+1 is window i a step on
    np.testing.assert_allclose(w[0, 0, :2], [2710.349, 1707.4])  # 1959 Q1
    np.testing.assert_allclose(w[-1, -1, 0], 12990.341)  # 2009 Q3
    assert load_sequences("macro", seq_len=8, stride=4).windows.shape == ((203 - 8) // 4 + 1, 8, 12)
    source = SequenceSource(found, seed=0)
    assert source.shape == (24, 12) and float(source.batch(64).max()) <= 1.0


def test_macro_without_statsmodels(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels.datasets", None)  # import fails
    with pytest.raises(GanforgeError, match="comes with statsmodels; pip install statsmodels"):
        load_sequences("macro")


def test_write_long_csv_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    samples = (rng.normal(size=(4, 5, 2)) * 1000).astype(np.float32)
    path = tmp_path / "out.csv"
    write_long_csv(samples, path, ["price", "volume"], "store", "week")
    lines = path.read_text().splitlines()
    assert lines[0] == "store,week,price,volume" and len(lines) == 1 + 4 * 5
    assert lines[1].startswith("0,0,") and lines[6].startswith("1,0,")
    found = load_sequences(path, seq_len=5, entity="store", time="week")
    assert found.features == ["price", "volume"]
    np.testing.assert_array_equal(found.windows, samples)  # 9 digits give float32 back exactly
    write_long_csv(samples, tmp_path / "plain.csv", ["x0", "x1"], None, None)
    assert (tmp_path / "plain.csv").read_text().startswith("sequence,step,x0,x1\n")
    again = load_sequences(tmp_path / "plain.csv", seq_len=5, entity="sequence", time="step")
    np.testing.assert_array_equal(again.windows, samples)
    with pytest.raises(GanforgeError, match=r"needs samples \(N, T, 3\)"):
        write_long_csv(samples, path, ["a", "b", "c"], None, None)
