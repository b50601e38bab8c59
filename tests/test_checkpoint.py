import json

import pytest
import torch
from safetensors.torch import save_file

from ganforge.checkpoint import (
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from ganforge.errors import GanforgeError


def test_nested_state_round_trip(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.9))
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {
        "net": net.state_dict(),
        "opt": opt.state_dict(),  # int keys, tuples, None, floats
        "rng": torch.Generator().manual_seed(3).get_state(),
        "step": 7,
        "name": "x",
        "flag": None,
        "nan": float("nan"),
    }
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, state)
    back = load_checkpoint(path)
    assert back["step"] == 7 and back["name"] == "x" and back["flag"] is None
    assert back["nan"] != back["nan"]
    assert torch.equal(back["rng"], state["rng"])
    for k, v in state["net"].items():
        assert torch.equal(back["net"][k], v)
    opt2 = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt2.load_state_dict(back["opt"])
    assert list(opt2.param_groups[0]["betas"]) == [0.5, 0.9]
    for k in (0, 1):
        assert torch.equal(
            opt2.state_dict()["state"][k]["exp_avg"], opt.state_dict()["state"][k]["exp_avg"]
        )


def test_write_is_atomic_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"a": torch.ones(2)})
    save_checkpoint(path, {"a": torch.zeros(2)})
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
    assert torch.equal(load_checkpoint(path)["a"], torch.zeros(2))


def test_damaged_or_foreign_files_are_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"a": torch.ones(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GanforgeError, match="damaged"):
        load_checkpoint(path)
    foreign = tmp_path / "f.safetensors"
    save_file({"w": torch.ones(2)}, str(foreign))  # no ganforge metadata
    with pytest.raises(GanforgeError, match="not a ganforge checkpoint"):
        load_checkpoint(foreign)
    pickle = tmp_path / "p.safetensors"
    torch.save({"a": 1}, pickle)
    with pytest.raises(GanforgeError):
        load_checkpoint(pickle)


def test_metadata_is_plain_json(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"step": 3, "w": torch.ones(1), "net": {"0": {"bias": torch.zeros(2)}}})
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    skeleton = {
        "step": 3,
        "w": {"__tensor__": "w"},
        "net": {"0": {"bias": {"__tensor__": "net.0.bias"}}},
    }
    assert json.loads(header["__metadata__"]["state"]) == skeleton
    assert sorted(k for k in header if k != "__metadata__") == ["net.0.bias", "w"]


def test_tensors_are_named_by_their_path_and_old_numbered_files_load(tmp_path):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "c.safetensors"
    state = {
        "generator": {"fc.weight": torch.ones(2, 3)},
        "opt": {"state": {0: {"m": torch.ones(3)}}},
    }
    save_checkpoint(path, state)
    assert sorted(load_file(path)) == ["generator.fc.weight", "opt.state.0.m"]
    assert torch.equal(load_checkpoint(path)["opt"]["state"][0]["m"], torch.ones(3))
    # a file of an earlier version: tensors named by number, the skeleton pointing at them
    old = tmp_path / "old.safetensors"
    skeleton = {"generator": {"fc.weight": {"__tensor__": "0"}}}
    save_file({"0": torch.full((2,), 7.0)}, old, metadata={"state": json.dumps(skeleton)})
    assert torch.equal(load_checkpoint(old)["generator"]["fc.weight"], torch.full((2,), 7.0))


def test_list_and_prune(tmp_path):
    for step in (100, 200, 300, 400):
        save_checkpoint(checkpoint_path(tmp_path, step), {"s": step})
    assert [s for s, _ in list_checkpoints(tmp_path)] == [100, 200, 300, 400]
    prune_checkpoints(tmp_path, keep=2, protect=100)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [100, 300, 400]
