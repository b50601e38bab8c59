"""The ``ganforge`` command line: ``train`` and ``sample``.

Every ``train`` flag derives from :class:`ganforge.config.TrainConfig`, so defaults live
in one place. Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import MISSING, fields
from pathlib import Path

from ganforge.checkpoint import list_checkpoints
from ganforge.config import TrainConfig, read_config_file
from ganforge.errors import GanforgeError, NonFiniteError
from ganforge.flags import add_field_flag
from ganforge.modalities import MODALITIES
from ganforge.version import __version__

BUILTIN = ("ring", "grid", "digits", "mnist", "stacked-mnist", "sines", "macro")


class TrainingFailed(RuntimeError):
    """Training stopped for a reason the user can act on: one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"ganforge: error: {message} (see `{self.prog} --help`)\n")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else None
        help_text = f"{f.metadata['help']} (default: {default}"
        help_text += ", or the data set's preset)" if f.name != "data" else ")"
        if f.name == "data":
            parser.add_argument("data", nargs="?", default=argparse.SUPPRESS, help=help_text)
            continue
        add_field_flag(parser, f, help_text)


def _add_checkpoint_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        choices=("latest", "best"),
        default="latest",
        help="which checkpoint: the newest, or the best kept by --eval-every (default: latest)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all commands."""
    parser = _Parser(
        prog="ganforge", description="Train and sample generative adversarial networks."
    )
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser(
        "train",
        help="train a GAN and write a run directory",
        description="Train a GAN. Built-in data sets: " + ", ".join(BUILTIN) + " (default: "
        f"{TrainConfig.data}); or a path: a folder of images, MNIST-format IDX files, "
        ".npy/.npz arrays (uint8 (N, H, W, C) pictures, float (N, T, d) sequences or (N, d) "
        "points), or a .csv file: a table with a header (any column types), a long table of "
        "time series (with --entity/--time/--seq-len), or a plain numeric point set. "
        "Options not given come from the data set's preset, then the defaults shown.",
    )
    _add_config_flags(train)
    taken = {f.name for f in fields(TrainConfig)}
    for modality in MODALITIES:
        modality.add_flags(train, taken)
        taken |= modality.option_names()
    train.add_argument(
        "--out", type=Path, default=None, help="run directory (default: runs/DATA-YYYYmmdd-HHMMSS)"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest checkpoint"
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    train.add_argument(
        "--config",
        type=Path,
        default=None,
        help="JSON or TOML file of options (flags given here win)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    sample = sub.add_parser(
        "sample",
        help="draw samples from a trained run",
        description="Draw samples from a trained run.",
    )
    sample.add_argument("run", type=Path, help="run directory written by `ganforge train`")
    sample.add_argument("-n", type=int, default=1000, help="number of samples (default: 1000)")
    sample.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="output file: .npy, .npz, .csv or .png; tables: .csv (or .npy/.npz when every "
        "column is a number) (default: RUN/samples/sample_N.npy, or .csv for tables)",
    )
    sample.add_argument(
        "--seed", type=int, default=None, help="seed of the random input (default: the run's seed)"
    )
    sample.add_argument(
        "--drs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="discriminator rejection sampling on or off (default: the run's setting)",
    )
    sample.add_argument(
        "--dot-steps",
        type=int,
        default=None,
        help="latent discriminator optimal transport with this many steps (0: off; "
        "default: the run's setting)",
    )
    sample.add_argument(
        "--jbt",
        type=float,
        default=None,
        metavar="SHARE",
        help="Jacobian-based truncation: drop this share of extra-drawn latents where the "
        "generator stretches most (0: off; default: the run's setting)",
    )
    sample.add_argument(
        "--sharp-critic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="point runs: DOT and DRS ask the sharp critic fitted after training, or the "
        "discriminator (default: the critic when the run has one)",
    )
    sample.add_argument(
        "--label",
        type=int,
        default=None,
        metavar="CLASS",
        help="class-conditional runs: every sample of this class (default: classes drawn "
        "with the data's shares)",
    )
    sample.add_argument(
        "--condition",
        action="append",
        default=None,
        metavar="COLUMN=VALUE",
        help="tables: only rows with this category (repeatable)",
    )
    sample.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_checkpoint_flag(sample)

    ev = sub.add_parser(
        "eval",
        help="compare a trained run's samples with its training data",
        description="Generate from a run and compare with its training data: Fréchet "
        "distance (fd), KID (kid), precision/recall/density/coverage (prdc), mode statistics "
        "on the built-in mixtures (modes), and with a classifier the classes covered "
        "(classes) and the classifier score (cs). Sequences: TimeGAN's discriminative and "
        "predictive scores and the autocorrelation error (acf). Tables: column shapes "
        "(shapes), pair trends (pairs), range fidelity (range), copied rows (copied), "
        "distance to the closest record against held-out rows (dcr) and ML efficacy (ml). "
        "Prints a table; --json writes it too.",
    )
    ev.add_argument("run", type=Path, help="run directory written by `ganforge train`")
    ev.add_argument(
        "--metrics", default=None, help="comma-separated names (default: all that apply)"
    )
    ev.add_argument("-n", type=int, default=None, help="samples per side (default: up to 5000)")
    ev.add_argument(
        "--features",
        default="raw",
        help="raw, classifier:PATH with a file from `ganforge train-classifier`, or "
        "inception[:PATH] with the FID Inception weights (file or folder)",
    )
    ev.add_argument("--data", default=None, help="real data (default: the run's own)")
    ev.add_argument(
        "--target",
        default=None,
        help="tables: the column ML efficacy predicts (default: the last modelled column)",
    )
    ev.add_argument("--seed", type=int, default=0, help="seed of the samples (default: 0)")
    ev.add_argument("--json", type=Path, default=None, help="also write the results here")
    ev.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    _add_checkpoint_flag(ev)

    classify = sub.add_parser(
        "train-classifier",
        help="train the small picture classifier behind the classifier-based metrics",
        description="Train the small picture classifier on labelled pictures (a built-in "
        "data set, class sub-folders, IDX files with labels, or .npz with labels); a seeded "
        "share is held out and the accuracy on it is printed.",
    )
    classify.add_argument("data", help="labelled pictures: digits, mnist, or a path")
    classify.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="output file (default: classifier-DATA.safetensors)",
    )
    classify.add_argument("--epochs", type=int, default=12, help="epochs (default: 12)")
    classify.add_argument(
        "--holdout", type=float, default=0.1, help="held-out share (default: 0.1)"
    )
    classify.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    classify.add_argument("--resolution", default="", help="resize and crop to N or HxW")
    classify.add_argument(
        "--channels", default="auto", choices=("auto", "gray", "rgb"), help="colour channels"
    )
    classify.add_argument("--overwrite", action="store_true", help="replace an existing file")

    report = sub.add_parser(
        "report",
        help="write the run's report.html: curves, metrics, samples, findings, config",
        description="Write one self-contained HTML page about a run (RUN/report.html by "
        "default, replaced each time): loss, accuracy and gradient-norm curves, metrics over "
        "time, sample pictures over time, the doctor's findings and the configuration.",
    )
    report.add_argument("run", type=Path, help="run directory written by `ganforge train`")
    report.add_argument(
        "-o", "--output", type=Path, default=None, help="output file (default: RUN/report.html)"
    )
    report.add_argument("--overwrite", action="store_true", help="replace an existing -o file")

    doctor = sub.add_parser(
        "doctor",
        help="explain what went wrong in a run, and what to try",
        description="Read a run's training signals and list the problems the course names "
        "(vanishing gradients, mode collapse, failure to converge, non-finite values, "
        "fleeting convergence): where each began, the evidence, and the remedies.",
    )
    doctor.add_argument("run", type=Path, help="run directory written by `ganforge train`")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    return parser


def _default_out(data: str) -> Path:
    """``runs/DATA-YYYYmmdd-HHMMSS`` (the file's stem for a path)."""
    stem = Path(data).stem if data not in BUILTIN else data
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _train(args: argparse.Namespace) -> None:
    from ganforge.allocator import keep_freed_memory
    from ganforge.api import GAN
    from ganforge.distributed import Dist, broadcast, launched, setup
    from ganforge.modalities import option_names
    from ganforge.modalities.tensor import resolve_device

    keep_freed_memory()  # this process trains: each step reuses the memory the last freed
    options = read_config_file(args.config) if args.config else {}
    options.update({k: getattr(args, k) for k in option_names() if hasattr(args, k)})
    data = options.pop("data", TrainConfig.data)
    gan = GAN(data, **options)
    job = Dist()
    if launched():  # join the job now: every rank writes into rank 0's folder
        device = resolve_device(str(options.get("device", "auto")))
        job, _ = setup(device, float(options.get("dist_timeout", 600)))
    out = broadcast(args.out or _default_out(str(data)), job)
    try:
        gan.fit(out=out, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    except NonFiniteError as e:  # a non-finite stop names the last good checkpoint
        found = list_checkpoints(Path(out) / "checkpoints")
        kept = f"; the last good checkpoint is {found[-1][1]}" if found else ""
        raise TrainingFailed(f"{e}{kept}") from None
    if job.is_main:
        for line in gan.modality_.summary(gan.model, Path(out)):
            print(line)


def _check_new(path: Path, overwrite: bool, flag: str) -> None:
    """Refuses to replace an existing output file unless ``--overwrite`` was given."""
    if path.exists() and not overwrite:
        raise GanforgeError(f"{path} already exists; pass --overwrite or choose another {flag}")


def _sample(args: argparse.Namespace) -> None:
    from ganforge.api import GAN
    from ganforge.tables.cli import parse_conditions

    if args.n < 1:
        raise GanforgeError(f"-n must be at least 1, got {args.n}")
    gan = GAN.load(args.run, checkpoint=args.checkpoint)
    modality = gan.modality_
    out = args.output or args.run / "samples" / f"sample_{args.n}{modality.outputs[0]}"
    modality.check_output(out)
    given = {
        "drs": args.drs,
        "dot_steps": args.dot_steps,
        "jbt": args.jbt,
        "labels": args.label,
        "sharp_critic": args.sharp_critic,
        "conditions": parse_conditions(args.condition),
    }
    x = gan.sample(args.n, seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    _check_new(out, args.overwrite, "-o")
    out.parent.mkdir(parents=True, exist_ok=True)
    modality.write_samples(x, out, gan.model_)
    print(f"wrote {args.n} {'rows' if gan.is_table else 'samples'} to {out}")


def _eval(args: argparse.Namespace) -> None:
    import json

    from ganforge.api import GAN, evaluate

    if args.json is not None:
        _check_new(args.json, args.overwrite, "--json")
    gan = GAN.load(args.run, checkpoint=args.checkpoint)
    metrics = args.metrics.split(",") if args.metrics else None
    result = evaluate(
        gan,
        metrics=metrics,
        n=args.n,
        features=args.features,
        data=args.data,
        seed=args.seed,
        target=args.target,
    )
    width = max(map(len, result))
    for key, value in result.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def _train_classifier(args: argparse.Namespace) -> None:
    from ganforge.data.images import load_images
    from ganforge.metrics.classifier import train_classifier

    if args.epochs < 1:
        raise GanforgeError(f"--epochs must be at least 1, got {args.epochs}")
    if not 0 < args.holdout < 1:
        raise GanforgeError(f"--holdout must be in (0, 1), got {args.holdout}")
    out = args.output or Path(f"classifier-{Path(args.data).stem}.safetensors")
    _check_new(out, args.overwrite, "-o")
    images = load_images(args.data, resolution=args.resolution, channels=args.channels)
    if images.labels is None:
        raise GanforgeError(
            f"{args.data} has no labels; use class sub-folders, an IDX labels file or an "
            ".npz with a 'y' array"
        )
    trained = train_classifier(
        images.images,
        images.labels,
        images.classes,
        epochs=args.epochs,
        holdout=args.holdout,
        seed=args.seed,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    trained.save(out)
    print(
        f"held-out accuracy {100 * trained.accuracy:.1f} % on {len(trained.classes)} classes; "
        f"classifier written to {out}"
    )


def _report(args: argparse.Namespace) -> None:
    from ganforge.report import write_report

    print(f"wrote {write_report(args.run, args.output, overwrite=args.overwrite)}")


def _doctor(args: argparse.Namespace) -> None:
    import json

    from ganforge.health import doctor, doctor_notes, findings_json, format_findings

    findings, notes = doctor(args.run), doctor_notes(args.run)  # notes: e.g. the machine slowed
    text = format_findings(findings, notes)
    print(json.dumps(findings_json(findings, notes), indent=2) if args.json else text)


def _rank_tag() -> str:
    """``[rank N] `` on the processes of a torchrun job other than rank 0, else nothing."""
    rank = os.environ.get("RANK", "0")
    return f"[rank {rank}] " if rank != "0" and os.environ.get("WORLD_SIZE", "1") != "1" else ""


def _error_line(text: str) -> None:
    """Writes one line to stderr in a single write, so lines from several processes never mix."""
    sys.stderr.flush()
    data = f"{text}\n".encode(sys.stderr.encoding or "utf-8", "replace")
    try:
        os.write(sys.stderr.fileno(), data)
    except (AttributeError, OSError, ValueError):  # a stderr without a file descriptor
        sys.stderr.write(f"{text}\n")


class _NoteLines(logging.Handler):
    """Writes each note as one ``ganforge: note: ...`` line to the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        _error_line(f"ganforge: note: {_rank_tag()}{record.getMessage()}")


def _show_notes() -> None:
    """The library's notes (its ``ganforge`` logger) as ``ganforge: note: ...`` lines."""
    logger = logging.getLogger("ganforge")
    if not any(isinstance(h, _NoteLines) for h in logger.handlers):
        logger.addHandler(_NoteLines())
        logger.setLevel(logging.INFO)
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_notes()
    try:
        commands = {
            "train": _train,
            "sample": _sample,
            "eval": _eval,
            "train-classifier": _train_classifier,
            "report": _report,
            "doctor": _doctor,
        }
        commands[args.command](args)
    except GanforgeError as e:
        if args.debug:
            raise
        _error_line(f"ganforge: error: {_rank_tag()}{e}")
        return 2
    except TrainingFailed as e:
        _error_line(f"ganforge: error: {e}")
        return 1
    except KeyboardInterrupt as e:
        detail = f" ({e}); continue with --resume" if str(e) else ""
        print(f"ganforge: interrupted{detail}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
