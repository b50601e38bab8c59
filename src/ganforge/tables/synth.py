"""The table synthesizer: ``prepare(df)``, trained by the session
(:class:`ganforge.session.Session`, through ``GAN(df).fit()``), then ``sample(n)`` a
DataFrame like it.

Training goes through :class:`ganforge.trainer.Trainer` (WGAN-GP on packs of rows), so the
seed's invariants hold: each phase changes only its own network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ganforge.checkpoint import load_checkpoint, save_checkpoint
from ganforge.ema import EMA
from ganforge.errors import GanforgeError
from ganforge.nets import MLPDiscriminator
from ganforge.schedule import lr_factor, set_lr
from ganforge.seeds import seeds
from ganforge.tables.calibration import MarginalCalibration
from ganforge.tables.columns import ColumnSpec, infer_columns, read_table
from ganforge.tables.frame import TableFrame
from ganforge.tables.metadata import read_metadata, to_sdv
from ganforge.tables.model import Packed, TableGenerator, TableNoise, TableSource, generator_input
from ganforge.tables.options import TableOptions, preset_steps, preset_width
from ganforge.tables.sampler import ConditionSampler
from ganforge.tables.transformer import TableTransformer
from ganforge.trainer import Trainer, evaluating
from ganforge.version import __version__

FORMAT = "ganforge-table"
CALIBRATION_ROWS = 20_000  # generated rows whose marginals the calibration maps from
CHUNK = 50_000  # rows generated at a time when sampling
MAX_ROUNDS = 100  # rounds of rejection for conditions on more than one column


class TableSynthesizer:
    """A conditional tabular GAN (CTGAN's design, with ganforge's trainer) in the estimator
    face: ``fit``, then ``sample``.

    Args:
        **options: fields of :class:`TableOptions` (``steps``, ``batch_size``, ``seed``, ...).
    """

    def __init__(self, **options: Any) -> None:
        names = {f.name for f in dataclasses.fields(TableOptions)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise GanforgeError(
                f"unknown table option(s) {', '.join(unknown)}; choose from: "
                + ", ".join(sorted(names))
            )
        self.options = TableOptions(**options)

    # -- fitting -------------------------------------------------------------------------

    def prepare(
        self,
        data: pd.DataFrame | str | Path,
        discrete_columns: Sequence[str] | None = None,
        continuous_columns: Sequence[str] | None = None,
        *,
        datetime_columns: Sequence[str] | None = None,
        key_columns: Sequence[str] | None = None,
        text_columns: Sequence[str] | None = None,
        constraints: Sequence[Any] | None = None,
        metadata: str | Path | dict[str, Any] | None = None,
    ) -> TableSynthesizer:
        """Learns the table's columns and builds the networks and the stream of real rows,
        ready for the training loop (:class:`ganforge.session.Session`); returns ``self``.

        Args:
            data: a DataFrame, or the path of a CSV file with a header line.
            discrete_columns, continuous_columns, datetime_columns, key_columns,
                text_columns: columns whose kind is forced (see :mod:`.frame`).
            constraints: rules between columns, kept by construction (:mod:`.constraints`).
            metadata: an SDV metadata file or dict giving column kinds (:mod:`.metadata`).
        """
        df = read_table(data) if isinstance(data, (str, Path)) else data
        opt = self.options
        kinds = {
            "discrete": discrete_columns, "continuous": continuous_columns,
            "datetime": datetime_columns, "key": key_columns, "text": text_columns,
        }  # fmt: skip
        meta = read_metadata(metadata) if metadata is not None else None
        self.frame_: TableFrame | None = TableFrame(kinds, constraints, meta).fit(df)
        modelled = self.frame_.forward(df)
        specs = infer_columns(modelled, self.frame_.discrete_, self.frame_.continuous_)
        self.transformer_ = TableTransformer(opt.max_modes, opt.mode_weight_threshold, opt.seed)
        self.transformer_.fit(modelled, specs)
        encoded = self.transformer_.transform(modelled)
        self.sampler_ = ConditionSampler.from_data(self.transformer_.output_spans, encoded)
        columns = sum(s.kind != "constant" for s in specs)
        self.steps_ = opt.steps or preset_steps(len(df), opt.batch_size, columns)
        self.n_rows_ = len(df)
        self._build()
        self.step_ = 0
        self.stream(df, encoded)
        return self

    def modelled(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` as the model learns it (see :meth:`TableFrame.forward`)."""
        return self.frame_.forward(df) if self.frame_ is not None else df

    def view(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` as metrics compare it: keys left out, dates as days (:mod:`.frame`)."""
        return self.frame_.view(df) if self.frame_ is not None else df

    def view_specs(self, view: pd.DataFrame) -> list[ColumnSpec]:
        """The column specs of a :meth:`view` of the training rows."""
        frame = self.frame_
        if frame is None:
            return self.specs_
        names = set(view.columns)
        return infer_columns(
            view,
            [n for n in [*frame.discrete_, *frame.text_] if n in names],
            [n for n in frame.continuous_ if n in names],
        )

    def stream(self, df: pd.DataFrame, encoded: np.ndarray | None = None) -> TableSource:
        """The stream of real rows of ``df`` (``encoded``: already transformed) for
        training, where a loaded synthesizer left it if it was saved while training."""
        if encoded is None:
            encoded = self.transformer_.transform(self.modelled(df))
        self.encoded_ = encoded
        _, _, data_seed, _ = seeds(self.options.seed)
        self.source_ = TableSource(
            self.encoded_, self.transformer_.output_spans, self.sampler_, self.options.pack,
            seed=data_seed,
        )  # fmt: skip
        if self._source_state is not None:
            self.source_.load_state_dict(self._source_state)
        return self.source_

    def before_step(self, step: int) -> None:
        """The learning rates of ``step``."""
        opt, trainer = self.options, self.trainer_
        factor = lr_factor(step, self.steps_, opt.lr_schedule)
        set_lr(trainer.g_optimizer, opt.lr_g * factor)
        set_lr(trainer.d_optimizer, opt.lr_d * factor)
        self.step_ = step

    def batches(self) -> list[torch.Tensor]:
        """The step's ``n_critic`` batches of packed real rows."""
        packs = self.options.batch_size // self.options.pack
        return [self.source_.batch(packs) for _ in range(self.options.n_critic)]

    def calibrate(self, df: pd.DataFrame) -> None:
        """Fits the marginal calibration (see :mod:`.calibration`) from
        ``CALIBRATION_ROWS`` generated rows: first the logit shifts of the one-hot groups,
        then, with them, the quantile maps of the continuous columns."""
        tr, sampler, gen = self.transformer_, self.sampler_, self.row_generator
        encoded, df = self.encoded_, self.modelled(df)
        seed_bias, seed_maps = seeds(self.options.seed + 1)[:2]
        g = torch.Generator().manual_seed(seed_bias)
        column, category = sampler.draw(CALIBRATION_ROWS, g, "original")
        cond = sampler.one_hot(column, category)
        x = generator_input(CALIBRATION_ROWS, gen.latent_dim, gen.gumbel_dim, cond, g)
        with evaluating(gen), torch.no_grad():
            logits = gen.logits(x).double().numpy()
        conditioned = {s.start: j for j, s in enumerate(sampler.spans)}
        groups = [
            (
                s.start,
                s.end,
                encoded[:, s.start : s.end].mean(axis=0),
                # rows where the condition writes this column already follow its frequencies
                (column != conditioned[s.start]).numpy()
                if s.start in conditioned
                else np.ones(CALIBRATION_ROWS, dtype=bool),
            )
            for s in tr.output_spans
            if s.role in ("category", "missing")
        ]
        self.calibration_ = MarginalCalibration(bias=MarginalCalibration.fit_bias(logits, groups))
        generated = tr.decode_continuous(self.sample_encoded(CALIBRATION_ROWS, seed=seed_maps))
        real = {
            i: df[s.name].to_numpy(dtype=np.float64, na_value=np.nan)
            for i, s in enumerate(tr.specs_)
            if s.kind == "continuous"
        }
        fitted = MarginalCalibration.fit(real, generated)
        self.calibration_.maps = fitted.maps

    def column_kinds(self) -> dict[Any, str]:
        """The kind of each of the user's columns: ``continuous``, ``categorical``,
        ``constant``, ``datetime``, ``key``, ``text``, or ``fixed`` (modelled as one column
        with the others of its fixed combination)."""
        specs = {s.name: s.kind for s in self.specs_}
        if self.frame_ is None:
            return specs
        return {n: self.frame_.kind(n) or specs.get(n, "fixed") for n in self.frame_.columns_}

    def metadata(self) -> dict[str, Any]:
        """The columns' kinds in SDV's single-table metadata layout (:mod:`.metadata`)."""
        if self.frame_ is None:
            raise GanforgeError("this model predates column metadata; train it again")
        return to_sdv(self.frame_, self.specs_)

    @property
    def specs_(self) -> list[ColumnSpec]:
        """The columns, as inferred (or forced) at :meth:`fit`."""
        return self.transformer_.specs_

    def _build(self) -> None:
        """Networks, noise, optimizers and trainer for the fitted transformer."""
        opt, spans = self.options, self.transformer_.output_spans
        if opt.batch_size % opt.pack or opt.batch_size < opt.pack:
            raise GanforgeError(
                f"batch_size {opt.batch_size} must be a positive multiple of pack {opt.pack}"
            )
        net_seed, noise_seed, _, trainer_seed = seeds(opt.seed)
        sampler = self.sampler_
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(net_seed)
            preset = preset_width(self.transformer_.dim_)
            generator = TableGenerator(
                spans, opt.latent_dim, sampler.spans, opt.g_width or preset, opt.g_depth,
                opt.tau, opt.hard,
            )  # fmt: skip
            width = opt.pack * (generator.data_dim + sampler.cond_dim)
            discriminator = MLPDiscriminator(
                width, opt.d_width or preset, opt.d_depth, "leaky_relu"
            )
        packed = Packed(generator, opt.pack)
        betas = (opt.beta1, opt.beta2)

        def adam(module: torch.nn.Module, lr: float) -> torch.optim.Adam:
            return torch.optim.Adam(
                module.parameters(), lr, betas, weight_decay=opt.weight_decay, fused=True
            )

        noise = TableNoise(sampler, opt.latent_dim, generator.gumbel_dim, opt.pack, seed=noise_seed)
        self.trainer_ = Trainer(
            packed,
            discriminator,
            noise=noise,
            loss="wgan-gp",
            g_optimizer=adam(packed, opt.lr_g),
            d_optimizer=adam(discriminator, opt.lr_d),
            n_critic=opt.n_critic,
            ema=EMA(packed, opt.ema_decay) if opt.ema_decay > 0 else None,
            joint_forward=True,  # no batch statistics in the discriminator: one call for both
            reuse_fake=opt.n_critic == 1,  # the generator learns from the batch D just judged
            seed=trainer_seed,
        )
        self._source_state: dict[str, Any] | None = None
        self.calibration_: MarginalCalibration | None = None

    # -- sampling ------------------------------------------------------------------------

    @property
    def row_generator(self) -> TableGenerator:
        """The generator of single rows that sampling uses (the EMA copy when there is one)."""
        if not hasattr(self, "trainer_"):
            raise GanforgeError("this synthesizer is not fitted; call fit() or load() first")
        return self.trainer_.sampling_generator.generator

    def sample(
        self,
        n: int,
        seed: int | None = None,
        conditions: Mapping[str, Any] | None = None,
        clip: bool | None = None,
        calibrate: bool | None = None,
    ) -> pd.DataFrame:
        """``n`` synthetic rows with the original column names, dtypes and categories.

        The generator runs in eval mode; the same ``seed`` (default: the options' seed)
        gives the same rows. ``conditions`` ``{column: category}`` restricts categorical
        columns to the given values. ``clip`` keeps continuous values inside the real range;
        ``calibrate`` maps them onto the real marginals (see :mod:`.calibration`); both
        default to the options'.
        """
        calibrate = self.options.calibrate if calibrate is None else calibrate
        encoded = self.sample_encoded(n, seed, conditions, calibrate)
        clip = self.options.clip if clip is None else clip
        calibration = self.calibration_ if calibrate else None
        rows = self.transformer_.inverse_transform(encoded, clip=clip, calibration=calibration)
        if self.frame_ is None:
            return rows
        return self.frame_.inverse(rows, self.options.seed if seed is None else seed)

    def sample_encoded(
        self,
        n: int,
        seed: int | None = None,
        conditions: Mapping[str, Any] | None = None,
        calibrate: bool = True,
    ) -> np.ndarray:
        """The rows of :meth:`sample` before decoding: ``(n, d)`` one-hots and offsets;
        ``calibrate`` applies the calibration's logit shifts when there is one."""
        if n < 1:
            raise GanforgeError(f"number of rows must be at least 1, got {n}")
        generator = self.row_generator
        calibration = self.calibration_ if calibrate else None
        bias = None
        if calibration is not None and calibration.bias is not None:
            bias = torch.as_tensor(calibration.bias, dtype=torch.float32)
        g = torch.Generator().manual_seed(self.options.seed if seed is None else seed)
        fixed = [self.sampler_.locate(self.specs_, k, v) for k, v in (conditions or {}).items()]
        if len({j for j, _ in fixed}) < len(fixed):
            raise GanforgeError("each column may be conditioned once")
        chunks, have = [], 0
        with evaluating(generator), torch.no_grad():
            for _ in range(MAX_ROUNDS if len(fixed) > 1 else 1):
                for i in range(0, n, CHUNK):
                    rows = self._generate(generator, min(CHUNK, n - i), g, fixed[:1], bias)
                    for j, k in fixed[1:]:  # other conditions: keep the rows that meet them
                        start = self.sampler_.spans[j].start
                        rows = rows[rows[:, start + k] == 1]
                    chunks.append(rows)
                    have += len(rows)
                if have >= n:
                    break
        if have < n:
            raise GanforgeError(
                f"only {have} of {n} rows met all of the conditions {dict(conditions or {})} "
                f"in {MAX_ROUNDS} rounds; condition fewer columns or on commoner values"
            )
        return np.concatenate(chunks)[:n]

    def _generate(
        self,
        generator: TableGenerator,
        m: int,
        g: torch.Generator,
        fixed: list[tuple[int, int]],
        bias: torch.Tensor | None,
    ) -> np.ndarray:
        if fixed:
            ((j, k),) = fixed
            column = torch.full((m,), j, dtype=torch.long)
            category = torch.full((m,), k, dtype=torch.long)
        else:
            column, category = self.sampler_.draw(m, g, "original")
        cond = self.sampler_.one_hot(column, category)
        x = generator_input(m, generator.latent_dim, generator.gumbel_dim, cond, g)
        return generator(x, bias)[:, : generator.data_dim].numpy().astype(np.float64)

    # -- saving --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The whole model and training state (weights, optimizers, random streams, the
        transformer and the category counts); the training rows themselves are not kept."""
        if not hasattr(self, "trainer_"):
            raise GanforgeError("this synthesizer is not fitted; call fit() first")
        source = getattr(self, "source_", None)
        return {
            "format": FORMAT,
            "version": __version__,
            "options": dataclasses.asdict(self.options),
            "transformer": self.transformer_.state_dict(),
            "frame": self.frame_.state_dict() if self.frame_ is not None else None,
            "sampler": self.sampler_.state_dict(),
            "trainer": self.trainer_.state_dict(),
            "source": source.state_dict() if source is not None else self._source_state,
            "calibration": (
                self.calibration_.state_dict() if self.calibration_ is not None else None
            ),
            "step": self.step_,
            "steps": self.steps_,
            "n_rows": self.n_rows_,
        }

    def save(self, path: str | Path) -> None:
        """Writes :meth:`state_dict` to one safetensors file (atomically; no pickle)."""
        save_checkpoint(path, self.state_dict())

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableSynthesizer:
        """Rebuilds a synthesizer from :meth:`state_dict`."""
        if state.get("format") != FORMAT:
            raise GanforgeError("not a ganforge table model; save one with TableSynthesizer.save")
        synth = cls(**state["options"])
        synth.transformer_ = TableTransformer()
        synth.transformer_.load_state_dict(state["transformer"])
        frame = state.get("frame")  # runs of older versions have none
        synth.frame_ = TableFrame.from_state(frame) if frame is not None else None
        synth.sampler_ = ConditionSampler.from_state(
            synth.transformer_.output_spans, state["sampler"]
        )
        synth.steps_, synth.step_ = int(state["steps"]), int(state["step"])
        synth.n_rows_ = int(state["n_rows"])
        synth._build()
        synth.trainer_.load_state_dict(state["trainer"])
        synth._source_state = state.get("source")
        synth.calibration_ = MarginalCalibration.from_state(state.get("calibration"))
        return synth

    @classmethod
    def load(cls, path: str | Path) -> TableSynthesizer:
        """Reads a file written by :meth:`save`."""
        return cls.from_state(load_checkpoint(path))
