"""Training under torchrun: real processes, two ranks, the gloo backend, on the CPU; and, where
a CUDA GPU is present, one process per GPU on the nccl backend."""

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
from helpers import run
from safetensors.torch import load_file

import ganforge as gf
from ganforge.config import make_config
from ganforge.data import load_data
from ganforge.distributed import Dist, Shard, rank_seed
from ganforge.modalities.build import build_trainer
from ganforge.noise import Noise
from ganforge.seeds import seeds as _seeds

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # CPU, gloo
CUDA_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]

# A script that trains through the Python face under torchrun; each rank saves its model.
FIT = """
import sys
from safetensors.torch import save_file
import ganforge as gf
from ganforge.distributed import current

data, out = sys.argv[1], sys.argv[2]
gan = gf.GAN(data, steps=20, batch_size=32, g_width=16, d_width=16, g_depth=1, d_depth=1,
             sample_every=0, eval_every=0, threads=1,
             sharp_critic_steps=10 if data == "ring" else 0).fit(out=out)
t = gan.trainer_
nets = {"g": t.generator, "d": t.discriminator, "ema": t.sampling_generator}
if gan.sharp_critic_ is not None:  # fitted on rank 0, sent to the others
    nets["critic"] = gan.sharp_critic_
tensors = {f"{n}.{k}": v.contiguous() for n, m in nets.items() for k, v in m.state_dict().items()}
save_file(tensors, f"{out}/rank{current().rank}.safetensors")
"""


def torchrun(*args, nproc=2, timeout=300, env=ENV):
    """Runs a command under torchrun with ``nproc`` processes and waits for it."""
    cmd = [*TORCHRUN, str(nproc), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def start_torchrun(*args, nproc=2):
    """Starts torchrun in a session of its own (so that it can be killed as a whole)."""
    cmd = [*TORCHRUN, str(nproc), *map(str, args)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, start_new_session=True
    )


def _wait_for(path_glob: tuple[Path, str], proc, timeout=120):
    folder, pattern = path_glob
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if folder.is_dir() and any(folder.glob(pattern)):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing matched {pattern} in {folder} in time")


@pytest.mark.parametrize("data", ["ring", "digits", "mnist"])  # mnist: class-conditional
def test_every_rank_holds_identical_weights_after_fit_under_torchrun(tmp_path, data):
    script = tmp_path / "fit.py"
    script.write_text(FIT)
    result = torchrun(script, data, tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    a = load_file(tmp_path / "run" / "rank0.safetensors")
    b = load_file(tmp_path / "run" / "rank1.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("ema.") for k in a)
    assert any(k.startswith("critic.") for k in a) == (data == "ring")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and the run was written once, by rank 0, with the job's size on record
    info = gf.GAN.load(tmp_path / "run").data_info_
    assert info["name"] == data
    config = (tmp_path / "run" / "config.json").read_text()
    assert '"world_size": 2' in config and '"batch": 64' in config


class _Ranks(Noise):
    """One process's noise made of two ranks' streams: half a batch from each, in order."""

    def __init__(self, dim, seeds):
        super().__init__(dim, seed=seeds[0])
        self.parts = [Noise(dim, seed=s) for s in seeds]

    def __call__(self, n):
        return torch.cat([p(n // len(self.parts)) for p in self.parts])


def test_two_ranks_with_batch_b_train_like_one_process_with_batch_2b(tmp_path):
    points = np.random.default_rng(0).normal(size=(512, 2)).astype(np.float32)
    np.save(tmp_path / "pts.npy", points)
    opts = dict(steps=20, batch_size=32, g_width=16, d_width=16, ema_decay=0.0, seed=3)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in opts.items()]
    out = tmp_path / "run"
    quiet = ["--sample-every", "0", "--eval-every", "0", "--quiet"]
    result = torchrun("-m", "ganforge", "train", tmp_path / "pts.npy", *flags, *quiet, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    parallel = gf.GAN.load(out).trainer_

    # one process, batch 64: the same data order, and each half of its noise drawn as a rank
    cfg = make_config(data=str(tmp_path / "pts.npy"), **{**opts, "batch_size": 64})
    _, noise_seed, data_seed, _ = _seeds(cfg.seed)
    source = load_data(str(tmp_path / "pts.npy"), seed=data_seed)
    single = build_trainer(cfg, source.shape, torch.device("cpu"))
    single.noise = _Ranks(cfg.latent_dim, [rank_seed(noise_seed, r) for r in (0, 1)])
    for _ in range(cfg.steps):
        single.step([source.batch(64)])
    for net in ("generator", "discriminator"):
        mine = dict(getattr(single, net).named_parameters())
        for name, p in getattr(parallel, net).named_parameters():
            torch.testing.assert_close(p, mine[name], rtol=1e-5, atol=1e-5, msg=f"{net}.{name}")


def test_shards_split_each_global_batch():
    source = load_data("digits", seed=1)
    shards = [Shard(load_data("digits", seed=1), Dist(rank=r, world=2)) for r in (0, 1)]
    for _ in range(30):  # across an epoch's end
        both = torch.cat([s.batch(40) for s in shards])
        assert torch.equal(both, source.batch(80))
    with pytest.raises(gf.GanforgeError, match=r"1000 per process × 2 processes"):
        shards[0].check_batch_size(1000)


RING = ["ring", "--steps", "60", "--batch-size", "64", "--g-width", "32", "--d-width", "32"]
RING += ["--ckpt-every", "10", "--sample-every", "0", "--eval-every", "30", "--quiet"]


def _samples(out, path):
    result = run("sample", out, "-n", "300", "--seed", "1", "-o", path)
    assert result.returncode == 0, result.stderr
    return np.load(path)


def test_resume_under_torchrun_continues_exactly(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    result = torchrun("-m", "ganforge", "train", *RING, "--out", whole)
    assert result.returncode == 0, result.stderr[-3000:]
    proc = start_torchrun("-m", "ganforge", "train", *RING, "--out", parts)
    _wait_for((parts / "checkpoints", "step_*.safetensors"), proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks, at once
    proc.wait()
    result = torchrun("-m", "ganforge", "train", *RING, "--out", parts, "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(
        _samples(parts, tmp_path / "b.npy"), _samples(whole, tmp_path / "a.npy")
    )
    best = [json.dumps(gf.GAN.load(p, checkpoint="best").best_) for p in (whole, parts)]
    assert best[0] == best[1] and '"step": 30' in best[0]  # NaN-safe comparison
    # one process cannot continue what two began
    result = run("train", *RING, "--out", parts, "--resume", "--steps", "70")
    assert result.returncode == 2 and "trained by 2 process(es)" in result.stderr


def _children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _rank_of(pid):
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next((int(e[5:]) for e in environ if e.startswith(b"RANK=")), None)


def test_a_rank_that_dies_fails_the_job_within_a_minute(tmp_path):
    out = tmp_path / "run"
    args = ["-m", "ganforge", "train", "digits", "--steps", "100000", "--ckpt-every", "20"]
    proc = start_torchrun(*args, "--sample-every", "0", "--quiet", "--out", out)
    try:
        _wait_for((out / "checkpoints", "step_*.safetensors"), proc)
        victim = next(p for p in _children(proc.pid) if _rank_of(p) == 1)
        os.kill(victim, signal.SIGKILL)
        t0 = time.time()
        proc.wait(timeout=60)
        assert proc.returncode != 0 and time.time() - t0 < 60
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_bad_input_under_torchrun_is_one_line_and_exit_2(tmp_path):
    result = torchrun("-m", "ganforge", "train", "digits", "--batch-size", "1000", "--quiet")
    assert result.returncode != 0 and "exitcode  : 2" in result.stderr  # each rank's code
    lines = [line for line in result.stderr.splitlines() if "ganforge: error" in line]
    message = "1000 per process × 2 processes is larger than the data (1797 samples)"
    assert len(lines) == 2 and all(message in line for line in lines)
    assert sum("ganforge: error: [rank 1] " in line for line in lines) == 1
    assert "ganforge/" not in result.stderr  # no traceback from the workers (torchrun has its own)


def test_sync_bn_on_the_cpu_is_refused_clearly():
    result = run("train", "digits", "--sync-bn", "--device", "cpu", "--steps", "1", "--quiet")
    assert result.returncode == 2 and "--sync-bn needs CUDA" in result.stderr


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="nccl between processes needs 2 GPUs")
def test_one_process_per_gpu_trains_on_nccl_with_synced_batchnorm(tmp_path):
    gpus = torch.cuda.device_count()
    out = tmp_path / "run"
    args = ["-m", "ganforge", "train", "digits", "--device", "cuda", "--sync-bn", "--steps", "30"]
    quiet = ["--sample-every", "0", "--eval-every", "0", "--quiet", "--out", out]
    result = torchrun(*args, *quiet, nproc=gpus, env=CUDA_ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((out / "config.json").read_text())["distributed"]
    assert record["backend"] == "nccl" and record["world_size"] == gpus
    assert (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())


@needs_cuda
def test_more_processes_than_gpus_is_refused_clearly():
    gpus = torch.cuda.device_count()
    args = ["-m", "ganforge", "train", "digits", "--device", "cuda", "--steps", "1", "--quiet"]
    result = torchrun(*args, nproc=gpus + 1, env=CUDA_ENV)
    assert result.returncode != 0
    assert f"local rank {gpus} has no GPU ({gpus} visible)" in result.stderr
