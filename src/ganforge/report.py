"""The run report: ``ganforge report RUN`` writes one self-contained ``report.html``.

The page holds the run's header, the doctor's findings, the training curves, the metrics
over time, the sample pictures over time and the whole configuration. Every picture is an
inline PNG (``data:`` URL), the page has no script and loads nothing from elsewhere, and
every string that comes from the run (config values, data and file names, metric names,
findings) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.plots import curves_png
from ganforge.run import RunDir

REPORT_FILE = "report.html"
MAX_STEP_PICTURES = 24  # step pictures shown at most, evenly spread, first and last kept
# Defence in depth: even a string that escaped escaping could run no script in the page.
CSP_META = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
)
STEP_PICTURE = re.compile(r"step_(\d+)\.png")
# Curves of the training log: title, keys drawn together, y label, plot options.
CURVES: tuple[tuple[str, tuple[str, ...], str, dict[str, Any]], ...] = (
    ("Losses", ("d_loss", "g_loss", "penalty"), "loss", {}),
    (
        "Discriminator accuracy",
        ("acc_real", "acc_fake"),
        "accuracy",
        {"hline": 0.5, "ylim": (-0.02, 1.02)},
    ),
    ("Mean discriminator output", ("d_real", "d_fake"), "logit", {"hline": 0.0}),
    ("Gradient norms", ("g_grad_norm", "d_grad_norm"), "norm", {}),
    ("Training speed", ("steps_per_s",), "steps per second", {}),
)
LABELS = {
    "d_loss": "D loss",
    "g_loss": "G loss",
    "acc_real": "on real",
    "acc_fake": "on fake",
    "d_real": "mean D(x)",
    "d_fake": "mean D(G(z))",
    "g_grad_norm": "generator",
    "d_grad_norm": "discriminator",
}
# Metrics on one scale share a plot; every other number gets a plot of its own.
METRIC_GROUPS = (
    ("Precision, recall, density, coverage", ("precision", "recall", "density", "coverage")),
    ("Modes covered", ("modes", "modes_covered", "modes_total")),
    ("KID", ("kid", "kid_std")),
)
METRIC_TITLES = {
    "fd": "Fréchet distance (fd)",
    "hq": "High-quality samples (hq)",
    "rkl": "Reverse KL of the mode histogram (rkl)",
    "width": "Mode width in σ; true samples 0.97 (width)",
    "cs": "Classifier score (cs)",
    "classes": "Classes covered",
    "class_kl": "KL of the class histogram (class_kl)",
    "diversity": "Sample diversity",
}
NOT_METRICS = frozenset({"step", "skipped"}).union(*(keys for _, keys, _, _ in CURVES))
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 1em;
color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}h3{font-size:1.05em}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right}
.grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
figcaption{font-size:.9em;color:#555;text-align:center}
img{max-width:100%;height:auto;border:1px solid #eee}
.samples img{max-width:380px}
.note{color:#666;font-style:italic}
.finding{border-left:4px solid #d62728;padding:.2em 1em;margin:1em 0;background:#fdf6f6}
.kind{font-family:monospace}
"""


def write_report(
    run: str | Path, output: str | Path | None = None, overwrite: bool = False
) -> Path:
    """Writes the run's report as one self-contained HTML file and returns its path.

    Args:
        run: the run folder (the ``--out`` of ``ganforge train``).
        output: where to write; ``None`` writes ``RUN/report.html``, which is derived from
            the run and so is always replaced.
        overwrite: replace an existing ``output`` file other than ``RUN/report.html``.

    Raises:
        GanforgeError: ``run`` holds no run, or ``output`` exists without ``overwrite``
            (or is a folder).
    """
    folder = RunDir(run)
    info = folder.read_config()
    default = folder.path / REPORT_FILE
    target = default if output is None else Path(output)
    if target.is_dir():
        raise GanforgeError(f"-o {target} is a folder; name an .html file for the report")
    own = target.resolve() == default.resolve()
    if target.exists() and not (own or overwrite):
        raise GanforgeError(f"{target} already exists; pass --overwrite or choose another -o")
    page = render_report(folder, info)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, target)  # a reader never sees half a page
    finally:
        partial.unlink(missing_ok=True)
    return target


def render_report(folder: RunDir, info: dict[str, Any]) -> str:
    """The report page of the run in ``folder`` with ``info`` (its ``config.json``)."""
    records, damaged = folder.read_records()
    data = info.get("data") or {}
    config = info.get("config") or {}
    name = str(data.get("name", config.get("data", "?")))
    sections = [
        ("findings", "Findings", _findings(folder.path)),
        ("curves", "Training curves", _curves(records, damaged)),
        ("metrics", "Metrics over time", _metrics(records)),
        ("samples", "Samples over time", _samples(folder.samples)),
        ("config", "Configuration", _config(info)),
    ]
    nav = " ".join(f'<a href="#{key}">{title}</a>' for key, title, _ in sections)
    body = "\n".join(f'<h2 id="{key}">{title}</h2>\n{part}' for key, title, part in sections)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head>\n<meta charset="utf-8">',
            CSP_META,
            f"<title>ganforge report: {_e(name)} ({_e(folder.path.name)})</title>",
            f"<style>{CSS}</style>\n</head>\n<body>",
            f"<h1>ganforge report: {_e(name)}</h1>",
            _header(folder, info, records),
            f"<nav>{nav}</nav>",
            body,
            "</body>\n</html>\n",
        ]
    )


def _header(folder: RunDir, info: dict[str, Any], records: list[dict[str, Any]]) -> str:
    data, config = info.get("data") or {}, info.get("config") or {}
    last = records[-1] if records else {}
    rows = {
        "run": str(folder.path.resolve()),
        "data": f"{data.get('name', '?')} ({data.get('kind', '?')}, shape "
        + " × ".join(map(str, data.get("shape") or []))
        + ")",
        "ganforge version": info.get("version", "?"),
        "last logged step": f"{last.get('step', 0)} of {config.get('steps', '?')}",
    }
    if last.get("skipped"):
        rows["skipped updates"] = last["skipped"]
    if "distributed" in info:
        rows["distributed"] = info["distributed"]
    return _table(rows, _short)


def _findings(path: Path) -> str:
    try:
        from ganforge.health import doctor
    except ImportError as e:
        return _note(f"Findings unavailable: ganforge.health cannot be imported ({e}).")
    try:
        findings = list(doctor(path))
    except Exception as e:  # the rest of the report is still worth having
        return _note(f"Findings unavailable: the doctor failed ({type(e).__name__}: {e}).")
    if not findings:
        return "<p>The doctor found nothing to report.</p>"
    parts = []
    for f in findings:
        step = getattr(f, "step", None)
        at = "" if step is None else f" at step {_e(step)}"
        evidence = getattr(f, "evidence", None) or {}
        remedies = getattr(f, "remedies", None) or []
        remedies = [remedies] if isinstance(remedies, str) else remedies
        parts.append(
            '<div class="finding">'
            f'<h3><span class="kind">{_e(getattr(f, "kind", "?"))}</span>{at}</h3>'
            f"<p>{_e(getattr(f, 'message', ''))}</p>"
            + (f"<p>Evidence:</p>{_table(evidence, _short)}" if evidence else "")
            + (f"<p>Remedies:</p>{_list(remedies)}" if remedies else "")
            + "</div>"
        )
    return "\n".join(parts)


def _curves(records: list[dict[str, Any]], damaged: int) -> str:
    note = _note(f"{damaged} damaged line(s) of metrics.jsonl skipped.") if damaged else ""
    if not records:
        return note + _note("No metrics yet: the run logged no step.")
    plots = []
    for title, keys, ylabel, options in CURVES:
        series = {LABELS.get(k, k): _series(records, k) for k in keys}
        series = {label: s for label, s in series.items() if s[0]}
        if series:
            plots.append(_plot(curves_png(series, title, ylabel=ylabel, **options), title))
    body = _grid(plots) if plots else _note("The log holds no loss or discriminator numbers.")
    return note + body


def _metrics(records: list[dict[str, Any]]) -> str:
    keys = _keys(records)
    keys = [k for k in keys if k not in NOT_METRICS and _series(records, k)[0]]
    if not keys:
        return _note("No metrics yet: the run has no evaluation numbers.")
    groups = [(title, [k for k in members if k in keys]) for title, members in METRIC_GROUPS]
    grouped = {k for _, members in groups for k in members}
    groups += [(METRIC_TITLES.get(k, k), [k]) for k in keys if k not in grouped]
    plots = [
        _plot(curves_png({k: _series(records, k) for k in members}, title, size=(4, 2.6)), title)
        for title, members in groups
        if members
    ]
    rows = [r for r in records if any(_is_number(r.get(k)) for k in keys)]
    head = "".join(f"<th>{_e(k)}</th>" for k in ["step", *keys])
    body = "".join(
        f'<tr><td class="num">{_e(r["step"])}</td>'
        + "".join(f'<td class="num">{_e(_number(r.get(k)))}</td>' for k in keys)
        + "</tr>"
        for r in rows
    )
    return _grid(plots) + f"<table><tr>{head}</tr>{body}</table>"


def _samples(folder: Path) -> str:
    files = sorted(p for p in folder.glob("*.png") if p.is_file()) if folder.is_dir() else []
    if not files:
        return _note("No samples yet.")
    steps = sorted((int(m[1]), p) for p in files if (m := STEP_PICTURE.fullmatch(p.name)))
    shown = _thin(steps, MAX_STEP_PICTURES)
    named = {"final.png": "final", "interpolation.png": "interpolation (latent walk)"}
    others = [p for p in files if not STEP_PICTURE.fullmatch(p.name)]
    others.sort(key=lambda p: (list(named).index(p.name) if p.name in named else 2, p.name))
    parts = []
    if len(shown) < len(steps):
        parts.append(_note(f"{len(shown)} of {len(steps)} step pictures shown, evenly spread."))
    figures = [_picture(p, f"step {step}") for step, p in shown]
    figures += [_picture(p, named.get(p.name, p.name)) for p in others]
    return "\n".join(parts) + _grid(figures, "samples")


def _config(info: dict[str, Any]) -> str:
    parts = ["<h3>Options</h3>", _table(info.get("config") or {})]
    data = dict(info.get("data") or {})
    mixture = data.get("mixture")
    if isinstance(mixture, dict):
        data["mixture"] = f"{len(mixture.get('means') or [])} modes, σ = {mixture.get('std')}"
    parts += ["<h3>Data</h3>", _table(data)]
    return "\n".join(parts)


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """The steps and values of ``key`` where the records hold a number for it."""
    points = [(r["step"], float(r[key])) for r in records if _is_number(r.get(key))]
    return [s for s, _ in points], [v for _, v in points]


def _keys(records: Iterable[dict[str, Any]]) -> list[str]:
    """Every key of the records, in the order of first appearance."""
    return list(dict.fromkeys(k for r in records for k in r))


def _thin(items: Sequence[Any], most: int) -> list[Any]:
    """At most ``most`` of ``items``, evenly spread, the first and the last kept."""
    if len(items) <= most:
        return list(items)
    return [items[i] for i in sorted(set(np.linspace(0, len(items) - 1, most).round().astype(int)))]


def _picture(path: Path, caption: str) -> str:
    """A PNG file inline with its caption; a file that is no PNG gets a note instead."""
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            ok = image.format == "PNG"
    except (OSError, SyntaxError, ValueError):
        ok = False
    if not ok:
        return _note(f"{path.name} is not a readable PNG picture.")
    return f"<figure>{_img(data, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def _plot(png: bytes, title: str) -> str:
    return f'<figure class="plot">{_img(png, title)}</figure>'


def _img(png: bytes, alt: str) -> str:
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img src="{src}" alt="{_e(alt)}">'


def _grid(items: list[str], kind: str = "") -> str:
    return f'<div class="grid {kind}">\n' + "\n".join(items) + "\n</div>"


def _exact(v: Any) -> str:
    """A config value as text: strings as they are, anything else as JSON."""
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _table(rows: Any, value: Callable[[Any], str] = _exact) -> str:
    """A two-column table of a mapping's keys and values (anything else in one cell)."""
    if not isinstance(rows, dict):
        return f"<table><tr><td>{_e(value(rows))}</td></tr></table>"
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(value(v))}</td></tr>" for k, v in rows.items())
    return f"<table>{body}</table>"


def _list(items: Iterable[Any]) -> str:
    return "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _short(v: Any) -> str:
    """A value as text, numbers to four significant digits."""
    return _number(v) if _is_number(v) else _exact(v)


def _number(v: Any) -> str:
    """A number of the log as text (NaN and inf included); anything else as nothing."""
    if not _is_number(v):
        return ""
    if isinstance(v, int):
        return str(v)
    return "NaN" if math.isnan(v) else f"{v:.4g}"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _e(x: Any) -> str:
    """Text for HTML: ``&``, ``<``, ``>`` and both quotes escaped."""
    return html.escape(str(x), quote=True)
