"""CPU threads for training: chosen by measurement, and a watch on the speed that follows.

PyTorch runs each operator on all cores by default. Small networks gain little from the
second core and lose much when another process takes it: the threads of one operator wait
for each other, and a thread that waits for a busy core waits for its time slice. So a run
that is not told its thread count (``--threads 0``, the default) times a few steps of its
own networks on one thread and on all cores, and keeps the faster (:func:`choose_threads`);
more threads must win by :data:`MARGIN`, since they are what a busy machine slows most.

The timing runs on a deep copy of the trainer fed with random batches of the data's shape,
under a saved global random state, so that the run itself is bitwise the run it would be
with ``--threads N`` for the chosen ``N``. ``config.json`` records the choice and
``--resume`` reuses it. A count the user chose wins: ``--threads N``, ``OMP_NUM_THREADS`` or
``MKL_NUM_THREADS``, or (Python) ``torch.set_num_threads`` called before ``fit``.

:class:`SpeedWatch` follows the steps per second of a run's log records and says when the
speed falls below half the run's best (another process on the machine, most often);
:func:`slowdown_notes` turns the records it marked into the doctor's notes.

``import ganforge`` sets ``OMP_WAIT_POLICY=PASSIVE`` when torch is not loaded yet (see
``ganforge/__init__.py``): OpenMP's idle threads then sleep instead of spinning on a core
that another process needs.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# torch already loaded before ganforge: its thread count may be one the user set
TORCH_FIRST = "torch" in sys.modules

import torch  # noqa: E402

ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # torch's count follows these
MARGIN = 0.95  # all cores must take at most this share of one thread's time per step
WARMUP = 1  # untimed steps at each count (first calls allocate and pick kernels)
ROUNDS = 5  # timed rounds at most: one thread, then all cores, in each
MIN_ROUNDS = 3  # ... and at least
BUDGET_S = 1.0  # no new round starts after this much timing ...
BUDGET_SHARE = 0.05  # ... nor after this share of the run's estimated time
MIN_RUN_STEPS = 100  # a shorter run keeps PyTorch's count: timing would cost what it saves
MIN_TIMED_S = 0.01  # a timed sample runs enough steps to take at least this long ...
MAX_STEPS = 50  # ... but at most this many steps
SLOW_RATIO = 0.5  # a log record below this share of the best speed so far is slow ...
SLOW_RECORDS = 2  # ... and this many slow records in a row make a slowdown

_AT_IMPORT = torch.get_num_threads()  # torch's own default, unless TORCH_FIRST
_ours: list[int] = []  # the count ganforge set last (a later fit must not take it as the user's)


@dataclass
class ThreadChoice:
    """The CPU thread count of a run and how it was chosen.

    Attributes:
        chosen: torch's intra-op thread count for the run.
        how: ``given`` (``--threads N``), ``env`` (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``),
            ``user`` (``torch.set_num_threads`` before ``fit``), ``resumed`` (the count
            the run recorded), ``measured``, ``one core``, or ``default`` (PyTorch's count kept:
            off the CPU, a run shorter than :data:`MIN_RUN_STEPS`, or one whose steps
            cannot be timed apart, under torchrun or compiled).
        ms_per_step: with ``measured``, the median milliseconds of a step at each count.
    """

    chosen: int
    how: str
    ms_per_step: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"chosen", "how", "ms_per_step"}``, what config.json records."""
        return {"chosen": self.chosen, "how": self.how, "ms_per_step": self.ms_per_step}

    @property
    def label(self) -> str:
        """For the progress line, e.g. ``1 thread`` or ``2 threads``."""
        return f"{self.chosen} thread{'s' if self.chosen != 1 else ''}"


def all_cores() -> int:
    """The cores this process may run on: its CPU affinity (``taskset``, container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def user_threads() -> tuple[int, str] | None:
    """``(count, how)`` when the user chose torch's thread count, else None.

    An environment variable of :data:`ENV_VARS` gives ``env``. ``user`` is a count that
    differs from torch's at ``import ganforge`` (and is not one ganforge set), or, when
    torch was imported first, one that differs from :func:`all_cores` (torch's default there
    cannot be told from a count the user set to the same number).
    """
    now = torch.get_num_threads()
    if any(os.environ.get(var) for var in ENV_VARS):
        return now, "env"
    if _ours and now == _ours[-1]:
        return None
    if now != _AT_IMPORT or (TORCH_FIRST and now != all_cores()):
        return now, "user"
    return None


def set_threads(n: int) -> None:
    """``torch.set_num_threads(n)``, remembered as ganforge's own setting."""
    torch.set_num_threads(n)
    _ours[:] = [n]


def measure(
    step: Callable[[], Any],
    counts: Sequence[int],
    *,
    warmup: int = WARMUP,
    rounds: int = ROUNDS,
    budget_s: float = BUDGET_S,
    run_steps: int = 0,
) -> dict[int, float]:
    """Median seconds per call of ``step`` at each thread count of ``counts``.

    The counts take turns within each round, so that a change of the machine's load
    during the timing falls on all of them alike. A timed sample runs as many calls as
    take :data:`MIN_TIMED_S` (tiny networks are timed over several steps). After
    :data:`MIN_ROUNDS`, no round starts once the timing took ``budget_s`` or, given the
    ``run_steps`` the run will train, :data:`BUDGET_SHARE` of its estimated time. Torch's
    thread count and the global random state are put back afterwards.
    """
    before = torch.get_num_threads()
    samples: dict[int, list[float]] = {n: [] for n in counts}
    try:
        with torch.random.fork_rng(devices=[]):
            repeat = 1
            for n in counts:
                torch.set_num_threads(n)
                t0 = time.perf_counter()
                for _ in range(warmup):
                    step()
                per_step = (time.perf_counter() - t0) / max(warmup, 1)
                repeat = max(repeat, min(MAX_STEPS, int(MIN_TIMED_S / max(per_step, 1e-9)) + 1))
                if run_steps:
                    budget_s = min(budget_s, BUDGET_SHARE * run_steps * per_step)
            start = time.perf_counter()
            for r in range(rounds):
                for n in counts:
                    torch.set_num_threads(n)
                    t0 = time.perf_counter()
                    for _ in range(repeat):
                        step()
                    samples[n].append((time.perf_counter() - t0) / repeat)
                if r + 1 >= MIN_ROUNDS and time.perf_counter() - start > budget_s:
                    break
    finally:
        torch.set_num_threads(before)
    return {n: statistics.median(s) for n, s in samples.items()}


def choose_threads(
    given: int = 0,
    make_step: Callable[[], Callable[[], Any]] | None = None,
    *,
    recorded: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    steps: int = MIN_RUN_STEPS,
) -> ThreadChoice:
    """Decides the run's thread count and sets it (``torch.set_num_threads``).

    In order: ``given`` > 0 (``--threads N``); the user's own count (:func:`user_threads`);
    the count a resumed run ``recorded`` in config.json (so that it continues bitwise as
    it began); PyTorch's count for a run off the CPU, without ``make_step``, or of fewer
    than :data:`MIN_RUN_STEPS` ``steps``; one thread on one core; else :func:`measure` of
    one thread against all cores, the faster kept (all cores only when faster by
    :data:`MARGIN`).

    Args:
        given: the ``threads`` setting (0: choose).
        make_step: returns a function that runs one training step on a throwaway copy of
            the run's trainer (see :func:`trainer_step`); called only when measuring.
        recorded: config.json's ``threads`` entry of the run being resumed, if any.
        device: where the run trains.
        steps: the steps the run has yet to train.
    """
    if given > 0:
        set_threads(given)
        return ThreadChoice(given, "given")
    user = user_threads()
    if user is not None:
        return ThreadChoice(*user)
    if recorded and int(recorded.get("chosen", 0)) > 0:
        set_threads(int(recorded["chosen"]))
        return ThreadChoice(int(recorded["chosen"]), "resumed")
    many = min(all_cores(), _AT_IMPORT) if not TORCH_FIRST else all_cores()
    if torch.device(device).type != "cpu" or make_step is None or steps < MIN_RUN_STEPS:
        return ThreadChoice(torch.get_num_threads(), "default")
    if many <= 1:
        set_threads(1)
        return ThreadChoice(1, "one core")
    seconds = measure(make_step(), (1, many), run_steps=steps)
    chosen = many if seconds[many] < MARGIN * seconds[1] else 1
    set_threads(chosen)
    return ThreadChoice(chosen, "measured", {str(n): round(s * 1e3, 3) for n, s in seconds.items()})


def trainer_step(
    trainer: Any,
    batch_shape: Sequence[int],
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Callable[[], Any]:
    """One training step of a deep copy of ``trainer`` on random real batches of
    ``batch_shape`` (``prepare`` moves them where the networks are), as a function.

    The copy has its own networks, optimizers, EMA and random streams, and the batches
    come from a generator of their own: timing it changes nothing of the run.
    """
    twin = copy.deepcopy(trainer)
    g = torch.Generator().manual_seed(0)
    real = [torch.rand(tuple(batch_shape), generator=g) * 2 - 1 for _ in range(twin.n_critic)]
    real = [prepare(x) for x in real] if prepare is not None else real
    labels = None
    if twin.conditional:  # classes for a class-conditional trainer
        n, device = batch_shape[0], twin.noise.device
        labels = [torch.randint(twin.noise.num_classes, (n,), generator=g).to(device) for _ in real]
    return lambda: twin.step(real, labels)


def recorded_threads(run_path: str | Path | None) -> dict[str, Any] | None:
    """The ``threads`` entry of the config.json in ``run_path`` (None when there is none)."""
    path = Path(run_path) / "config.json" if run_path is not None else None
    if path is None or not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text()).get("threads")
    except (ValueError, OSError):
        return None
    return entry if isinstance(entry, dict) else None


class SpeedWatch:
    """Follows a run's speed, one log record at a time, and says when it has fallen.

    A record is slow below :data:`SLOW_RATIO` of the best speed seen so far; the run is
    slowed from the :data:`SLOW_RECORDS`-th slow record in a row on (a single slow record
    is most often an evaluation or a checkpoint, not the machine) until a record is fast
    again.
    """

    def __init__(self) -> None:
        self.best = 0.0
        self.slow_in_a_row = 0
        self.slowdown: float | None = None  # best / now while slowed
        self._last = time.perf_counter()

    def update(self, steps_per_s: float) -> float | None:
        """Takes a record's steps per second; returns the slowdown (best / now) while the
        run is slowed, else None."""
        if not steps_per_s > 0:
            return self.slowdown
        if steps_per_s < SLOW_RATIO * self.best:
            self.slow_in_a_row += 1
        else:
            self.slow_in_a_row = 0
        self.best = max(self.best, steps_per_s)
        slowed = self.slow_in_a_row >= SLOW_RECORDS
        self.slowdown = round(self.best / steps_per_s, 2) if slowed else None
        return self.slowdown

    def mark(self, record: dict[str, Any]) -> str:
        """:meth:`update` with a log record's ``steps_per_s``; a slowed run's record gets
        its ``slowdown``. Returns :attr:`note`."""
        if self.update(float(record.get("steps_per_s", 0.0))):
            record["slowdown"] = self.slowdown
        return self.note

    def lap(self, steps: int) -> float | None:
        """:meth:`update` with the speed of the ``steps`` since the last lap (or creation)."""
        now = time.perf_counter()
        speed, self._last = steps / max(now - self._last, 1e-9), now
        return self.update(speed)

    @property
    def note(self) -> str:
        """For the progress line while slowed, e.g. ``slowed 3.1x: another process?``."""
        return f"slowed {self.slowdown:.1f}x: another process?" if self.slowdown else ""


def slowdown_notes(records: Sequence[dict[str, Any]]) -> list[str]:
    """The doctor's note on the records a :class:`SpeedWatch` marked with ``slowdown``
    (one note for the run, naming where it began and its worst), or no note."""
    slow = [r for r in records if isinstance(r.get("slowdown"), int | float) and r["slowdown"]]
    if not slow:
        return []
    worst = max(slow, key=lambda r: r["slowdown"])
    first, last = slow[0]["step"], slow[-1]["step"]
    return [
        f"training ran up to {worst['slowdown']:.1f}x slower than its best speed "
        f"(from step {first}, {len(slow)} log record(s) up to step {last}): another process "
        "on the machine, most likely; this is the machine's speed, not a training problem"
    ]
