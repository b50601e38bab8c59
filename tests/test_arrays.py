import numpy as np
import pytest
import torch

from ganforge.data import load_data
from ganforge.data.arrays import load_points
from ganforge.errors import GanforgeError

POINTS = np.array([[0.0, 1.0], [2.0, 3.5], [-1.0, 4.0], [7.0, -2.0]], dtype=np.float32)


def test_npy_npz_csv_round_trip(tmp_path):
    np.save(tmp_path / "a.npy", POINTS)
    np.savez(tmp_path / "b.npz", x=POINTS)
    np.savez(tmp_path / "c.npz", POINTS)  # arr_0
    (tmp_path / "d.csv").write_text("u,v\n" + "\n".join(f"{a},{b}" for a, b in POINTS))
    (tmp_path / "e.csv").write_text("\n".join(f"{a},{b}" for a, b in POINTS) + "\n")
    for name in ("a.npy", "b.npz", "c.npz", "d.csv", "e.csv"):
        x = load_points(tmp_path / name)
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, POINTS)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("x,y\n1,2\n3,abc\n", "row 2 holds non-numeric text"),
        ("1,2\n3,nan\n", "NaN or Inf"),
        ("1,2\n3,inf\n", "NaN or Inf"),
        ("1,2\n3\n", "different numbers of columns"),
        ("x,y\n", "shape"),
    ],
)
def test_bad_csv(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(GanforgeError, match=message):
        load_points(path)


def test_bad_arrays(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [0.0, 0.0]]))
    with pytest.raises(GanforgeError, match="first in row 0"):
        load_points(tmp_path / "nan.npy")
    np.save(tmp_path / "img.npy", np.zeros((2, 3, 4)))
    with pytest.raises(GanforgeError, match=r"got \(2, 3, 4\)"):
        load_points(tmp_path / "img.npy")
    np.savez(tmp_path / "two.npz", a=POINTS, b=POINTS)
    with pytest.raises(GanforgeError, match="name it 'x'"):
        load_points(tmp_path / "two.npz")
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(GanforgeError, match="cannot read"):
        load_points(tmp_path / "broken.npy")
    with pytest.raises(GanforgeError, match="does not exist"):
        load_points(tmp_path / "missing.npy")
    (tmp_path / "x.txt").write_text("1 2")
    with pytest.raises(GanforgeError, match=r"expected one of \.npy, \.npz, \.csv"):
        load_points(tmp_path / "x.txt")


def test_unknown_data_set_lists_names():
    with pytest.raises(GanforgeError, match="unknown data set 'rng'; choose one of: ring, grid"):
        load_data("rng")


def test_array_source_shuffles_each_epoch_and_covers_all(tmp_path):
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    src = load_data(x, seed=0)
    seen = torch.cat([src.batch(5) for _ in range(2)]) * src.scale + src.shift
    assert sorted(seen[:, 0].round().tolist()) == list(range(0, 20, 2))
    with pytest.raises(GanforgeError, match="larger than the data"):
        src.batch(11)


def test_array_source_state_round_trip():
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    a = load_data(x, seed=1)
    a.batch(20)
    state = a.state_dict()
    expected = [a.batch(20) for _ in range(3)]
    b = load_data(x, seed=2)
    b.load_state_dict(state)
    for e in expected:
        assert torch.equal(b.batch(20), e)
