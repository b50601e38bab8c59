"""The training session: THE loop for every kind of data.

A :class:`Session` drives a modality's :class:`~ganforge.modalities.base.Model` step by
step and does everything around the steps: the run directory, checkpoints and exact
resume, ``--eval-every`` with the best checkpoint, health signals and the progress line,
TensorBoard, Ctrl-C, and the duties of rank 0 under ``torchrun``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from ganforge.checkpoint import checkpoint_path
from ganforge.distributed import any_rank, barrier, broadcast, gather, mean_over_ranks
from ganforge.errors import GanforgeError, NonFiniteError
from ganforge.evaluate import is_better
from ganforge.health import diagnose, progress_note
from ganforge.loop import SHOWN, Meter, TrainingInterrupted, sigint_flag
from ganforge.modalities.base import Model
from ganforge.plots import loss_plot
from ganforge.run import RunDir
from ganforge.threads import SpeedWatch, ThreadChoice, choose_threads, recorded_threads

log = logging.getLogger("ganforge")
Callback = Callable[[dict[str, Any]], None]


def summary_writer() -> type:
    """TensorBoard's ``SummaryWriter``; a clear error when the package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GanforgeError(
            "--tensorboard needs the tensorboard package; install it with "
            "pip install 'ganforge[tensorboard]' (or pip install tensorboard)"
        ) from None
    return SummaryWriter


class Session:
    """Trains ``model`` from its current state, writing ``run`` (if any) as it goes.

    Args:
        model: what to train (its trainer, data stream, schedules and previews).
        run: the run directory, or None to train in memory only.
        progress: show a progress line (rank 0).
        callbacks: called with every logged record (rank 0), the fields of metrics.jsonl.

    Attributes:
        history: every record logged so far, a resumed run's earlier ones included.
    """

    def __init__(
        self,
        model: Model,
        run: RunDir | None = None,
        *,
        progress: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.model, self.run, self.job = model, run, model.job
        self.progress, self.callbacks = progress, list(callbacks)
        self.settings = model.loop
        self.history: list[dict[str, Any]] = []
        self.threads: ThreadChoice | None = None  # chosen by open()
        self.speed = SpeedWatch()  # says when the machine slows the run
        evaluation = model.evaluation() if run is not None else None
        self.evaluate, self.best_key = evaluation or (None, "")
        if self.settings["tensorboard"]:
            summary_writer()  # a missing package fails here, before anything is written

    # -- the run directory ---------------------------------------------------------------

    def open(self, *, resume: bool = False, overwrite: bool = False) -> int:
        """Creates (or checks) the run directory and, with ``resume``, loads its newest
        checkpoint; chooses the CPU threads; writes config.json. Returns the step to
        continue after."""
        if self.run is None:
            self._choose_threads(0, False)
            return 0
        problem = None
        if self.job.is_main:  # rank 0 prepares; every rank learns how that went
            try:
                self.run.prepare(resume=resume, overwrite=overwrite)
            except GanforgeError as e:
                problem = str(e)
        problem = broadcast(problem, self.job)
        if problem is not None:
            raise GanforgeError(problem)
        start = self._resume() if resume else 0
        self._choose_threads(start, resume)
        if self.job.is_main:
            self.run.write_config(self.info())
            self.model.opened(self.run)
            self.history = [r for r in self.run.read_metrics() if r["step"] <= start]
        return start

    def _choose_threads(self, start: int, resume: bool) -> None:
        """The CPU threads of the run: given, the user's, the run's recorded count, or
        measured (see :mod:`ganforge.threads`)."""
        model = self.model
        recorded = recorded_threads(self.run.path) if resume and self.run is not None else None
        self.threads = choose_threads(
            model.threads, model.step_timer(), recorded=recorded,
            device=model.trainer.noise.device, steps=model.steps - start,
        )  # fmt: skip

    def info(self) -> dict[str, Any]:
        """config.json's content: the model's, and the threads the run trains with."""
        info = self.model.info()
        return {**info, "threads": self.threads.to_dict()} if self.threads else info

    def _resume(self) -> int:
        run, model, job = self.run, self.model, self.job
        latest = run.latest()
        if latest is None:  # killed before its first checkpoint: start over
            run.truncate_metrics(0)
            return 0
        step, state = latest
        world = int(state.get("world", 1))
        if world != job.world:
            raise GanforgeError(
                f"{run.path} was trained by {world} process(es) and cannot continue on "
                f"{job.world}; resume it with torchrun --nproc_per_node {world} "
                "(in all) or start a new --out"
            )
        model.check_resumable(run, state)
        model.load_state_dict(state)
        if world > 1:  # this rank's own random streams
            model.load_rank_state(state["ranks"][job.rank])  # type: ignore[attr-defined]
        if not model.trainer.streams_continued and job.is_main:
            log.warning(
                "%s was trained on another device type; its random streams restart from the "
                "saved state on %s (a resume across devices cannot be bitwise)",
                run.path,
                model.trainer.noise.device.type,
            )
        best = model.best_  # type: ignore[attr-defined]
        if not (self.evaluate is not None and best and best["metric"] == self.best_key):
            model.best_ = None  # type: ignore[attr-defined]
        if job.is_main:
            run.truncate_metrics(step)
        return step

    def state(self, ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The whole training state; ``ranks``: the random streams of every rank."""
        parallel = {"world": len(ranks), "ranks": ranks} if ranks else {}
        return {**parallel, **self.model.state_dict()}

    # -- the loop ------------------------------------------------------------------------

    def train(self, start: int = 0) -> list[dict[str, Any]]:
        """Steps ``start + 1`` to the model's last; returns :attr:`history`."""
        model, run, job, opt = self.model, self.run, self.job, self.settings
        trainer, steps = model.trainer, model.steps
        writes = run is not None and job.is_main  # only rank 0 writes
        meter, board = Meter(), None
        if writes and opt["tensorboard"]:  # events after the resumed step are dropped
            board = summary_writer()(str(run.path / "tensorboard"), purge_step=start + 1)
        bar = tqdm(
            total=steps, initial=start, disable=not self.progress or not job.is_main,
            unit="step", desc=f"train {model.name}{self._threads_label()}", dynamic_ncols=True,
        )  # fmt: skip
        with bar, sigint_flag() as interrupted:
            for step in range(start + 1, steps + 1):
                model.before_step(step)
                batches, labels = model.batches()
                try:
                    meter.add(trainer.step(batches, labels))
                except NonFiniteError as e:  # its last record tells the doctor what happened
                    if writes:
                        run.append_metrics({"step": step, **e.losses, "nonfinite": e.network})
                    raise
                bar.update(1)
                if step == steps:
                    bar.set_postfix_str("finishing", refresh=True)
                    model.after_training()
                last = step % opt["log_every"] == 0 or step == steps
                record = meter.flush() if last else {}
                if record:
                    record = mean_over_ranks(record, job)
                    record["skipped"] = trainer.num_skipped
                    slowed = self.speed.mark(record)  # a slowed run's record says how much
                    bar.set_postfix({k: f"{record[k]:.3f}" for k in SHOWN}, refresh=False)
                    if slowed:
                        bar.set_postfix_str(f"{bar.postfix}, {slowed}", refresh=False)
                stop = any_rank(interrupted() and step < steps, job)
                evaluate = self.evaluate is not None and step % opt["eval_every"] == 0
                save = run is not None and (
                    (opt["ckpt_every"] and step % opt["ckpt_every"] == 0) or step == steps
                )
                ranks = self._rank_states() if evaluate or save or (stop and run) else None
                if not job.is_main:
                    if stop:
                        path = checkpoint_path(run.checkpoints, step) if run else None
                        raise TrainingInterrupted(step, path)
                    continue
                if record:
                    record.update(model.signals())
                if evaluate:
                    record.update(self._evaluate(step, ranks))
                if record:
                    self._log({"step": step, **record}, bar, board)
                if writes and opt["sample_every"] and step % opt["sample_every"] == 0:
                    model.preview(run.samples / f"step_{step:06d}.png", f"step {step}")
                if save or stop:
                    path = run.save(step, self.state(ranks), opt["ckpt_keep"]) if run else None
                    if stop:
                        raise TrainingInterrupted(step, path)
        if board is not None:
            board.close()
        if writes:
            model.finish(run)
            loss_plot(run.path / "losses.png", run.read_metrics())
        barrier(job)
        return self.history

    def _threads_label(self) -> str:
        return f", {self.threads.label}" if self.threads is not None else ""

    def _log(self, record: dict[str, Any], bar: tqdm, board: Any) -> None:
        """A record to metrics.jsonl, TensorBoard, the history, the callbacks and the
        progress line (rank 0)."""
        step = record["step"]
        self.history.append(record)
        if self.run is not None:
            self.run.append_metrics(record)
        if board is not None:
            for key, value in record.items():
                if key != "step":
                    board.add_scalar(key, value, step)
        for callback in self.callbacks:
            callback(dict(record))
        if not bar.disable:
            note = progress_note(diagnose(self.history, self.info(), final=False))
            if note:
                text = f"{bar.postfix}, {note}" if bar.postfix else note
                bar.set_postfix_str(text, refresh=False)

    def _evaluate(self, step: int, ranks: list[dict[str, Any]] | None) -> dict[str, Any]:
        """Scores the model; a new best by ``--best-metric`` replaces the best checkpoint."""
        scores = self.evaluate()
        model, key = self.model, self.best_key
        best = model.best_  # type: ignore[attr-defined]
        if is_better(key, scores[key], None if best is None else best["value"]):
            model.best_ = {"metric": key, "value": scores[key], "step": step}  # type: ignore[attr-defined]
            self.run.save_best(self.state(ranks))
        return scores

    def _rank_states(self) -> list[dict[str, Any]] | None:
        """Every rank's own random streams, gathered (all ranks must call it together)."""
        if not self.job.active:
            return None
        return gather(self.model.rank_state(), self.job)
