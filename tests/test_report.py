"""The run report: one self-contained, escaped HTML page, checked as text and in Chromium."""

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.errors import GanforgeError
from ganforge.plots import image_grid, save_picture
from ganforge.report import CSP_META, MAX_STEP_PICTURES, write_report

HOSTILE = "<script>alert(1)</script>\"&'"
HOSTILE_FILE = "<img src=x onerror=alert(2)>&'\".png"  # no "/": it is a file name
DATA_URL = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real short runs: points (scatter plots, modes) and pictures (grids, FD).

    One thread: tiny networks gain nothing from more, and lose much on a busy machine.
    """
    root = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    small = {"g_width": 16, "d_width": 16, "threads": 1}
    try:
        ganforge.GAN("ring", steps=100, log_every=10, eval_every=50, sample_every=50, **small).fit(
            out=root / "ring", progress=False
        )
        ganforge.GAN(
            "digits",
            steps=4,
            batch_size=16,
            log_every=2,
            eval_every=2,
            eval_n=100,
            sample_every=2,
            **small,
        ).fit(out=root / "digits", progress=False)
    finally:
        torch.set_num_threads(threads)  # the setting is global: leave it as it was
    return {"ring": root / "ring", "digits": root / "digits"}


@pytest.fixture
def no_health(monkeypatch):
    """The report as before ``ganforge.health`` exists: its import fails."""
    monkeypatch.setitem(sys.modules, "ganforge.health", None)


@dataclass
class Finding:
    kind: str
    step: int | None
    message: str
    evidence: dict = field(default_factory=dict)
    remedies: list = field(default_factory=list)


def fake_health(monkeypatch, doctor):
    module = types.ModuleType("ganforge.health")
    module.doctor = doctor
    monkeypatch.setitem(sys.modules, "ganforge.health", module)


def fake_run(path: Path, records=(), name="ring", config=None, samples=("step_000010.png",)):
    """A run folder written by hand: config.json, metrics.jsonl and sample PNGs."""
    (path / "samples").mkdir(parents=True)
    info = {
        "config": {"data": name, "steps": 20, "loss": "hinge", **(config or {})},
        "data": {"name": name, "kind": "points", "shape": [2], "mixture": None, "classes": None},
        "version": "0.0.test",
    }
    (path / "config.json").write_text(json.dumps(info))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    picture = image_grid(np.full((4, 8, 8, 1), 128, np.uint8))
    for sample in samples:
        save_picture(path / "samples" / sample, picture)
    return path


def pictures(page: str) -> list[tuple[Image.Image, str]]:
    """Every inline picture of the page, decoded (Pillow checks it is a whole PNG)."""
    found = []
    for data, alt in DATA_URL.findall(page):
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.verify()
            assert image.format == "PNG"
        found.append((Image.open(io.BytesIO(raw)), html.unescape(alt)))
    return found


def test_report_of_a_points_run(runs, no_health):
    run = runs["ring"]
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text()
    assert page.count("<img") == len(DATA_URL.findall(page))  # every picture inline
    alts = [alt for _, alt in pictures(page)]
    assert alts[:5] == [
        "Losses",
        "Discriminator accuracy",
        "Mean discriminator output",
        "Gradient norms",
        "Training speed",
    ]
    assert "Modes covered" in alts and "step 50" in alts and "final" in alts
    assert alts.index("step 50") < alts.index("step 100") < alts.index("final")
    assert "<script" not in page and CSP_META in page
    assert not re.search(r"(src|href)=\"(?!data:|#)", page)  # nothing loaded from elsewhere
    assert "Findings unavailable" in page
    options = json.loads((run / "config.json").read_text())["config"]
    for key in options:
        assert f"<tr><th>{key}</th>" in page
    assert "<tr><th>g_width</th><td>16</td></tr>" in page
    assert "<tr><th>spectral_norm</th><td>false</td></tr>" in page


def test_report_of_a_pictures_run(runs, no_health, tmp_path):
    out = tmp_path / "sub" / "digits.html"
    assert write_report(runs["digits"], out) == out
    page = out.read_text()
    alts = [alt for _, alt in pictures(page)]
    assert alts[-4:] == ["step 2", "step 4", "final", "interpolation (latent walk)"]
    assert "Fréchet distance (fd)" in alts
    assert "digits (pictures, shape 1 × 8 × 8)" in page


def test_strings_from_the_run_are_escaped(tmp_path, monkeypatch):
    run = fake_run(
        tmp_path / f"run {HOSTILE.replace('/', '')}",
        [{"step": 10, "d_loss": 1.0, HOSTILE: 2.0}],
        name=HOSTILE,
        config={"augment": HOSTILE},
        samples=("step_000010.png", HOSTILE_FILE),
    )
    finding = Finding(HOSTILE, 10, HOSTILE, {HOSTILE: HOSTILE}, [HOSTILE])
    fake_health(monkeypatch, lambda path: [finding])
    page = write_report(run).read_text()
    assert "<script" not in page
    assert "<img src=x" not in page
    assert page.count("<img") == len(DATA_URL.findall(page)) == 4  # no tag from a string
    escaped = html.escape(HOSTILE)
    assert escaped == "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#x27;"
    assert page.count(escaped) >= 8  # title, header, config, metric, finding, ...
    assert html.escape(HOSTILE_FILE) in page  # the caption of the odd sample file


def test_findings_are_shown(tmp_path, monkeypatch):
    run = fake_run(tmp_path / "run", [{"step": 10, "d_loss": 0.1}])
    seen = []

    def doctor(path):
        seen.append(Path(path))
        return [
            Finding(
                "mode_collapse",
                900,
                "the generator covers 1 of 8 modes",
                {"modes_covered": 1, "diversity": 0.012345678},
                ["use --pack 2", "lower --lr-g"],
            ),
            Finding("slow", None, "few steps per second"),
        ]

    fake_health(monkeypatch, doctor)
    page = write_report(run).read_text()
    assert seen == [run]
    assert '<span class="kind">mode_collapse</span> at step 900</h3>' in page
    assert "<p>the generator covers 1 of 8 modes</p>" in page
    assert "<tr><th>diversity</th><td>0.01235</td></tr>" in page
    assert "<li>use --pack 2</li><li>lower --lr-g</li>" in page
    assert '<span class="kind">slow</span></h3><p>few steps per second</p></div>' in page


def test_the_real_doctor_s_findings_are_in_the_report(runs):
    from ganforge.health import doctor

    for run in runs.values():
        findings = doctor(run)
        page = write_report(run).read_text()
        assert "Findings unavailable" not in page
        assert page.count('<div class="finding">') == len(findings)
        for finding in findings:
            assert html.escape(finding.message) in page
        if not findings:
            assert "The doctor found nothing to report." in page


def test_no_findings_and_a_failing_doctor(tmp_path, monkeypatch):
    run = fake_run(tmp_path / "run")
    fake_health(monkeypatch, lambda path: [])
    assert "The doctor found nothing to report." in write_report(run).read_text()

    def broken(path):
        raise RuntimeError("no <idea>")

    fake_health(monkeypatch, broken)
    page = write_report(run).read_text()
    assert "the doctor failed (RuntimeError: no &lt;idea&gt;)" in page


def test_empty_metrics_still_render(tmp_path, no_health):
    run = fake_run(tmp_path / "run", records=(), samples=())
    page = write_report(run).read_text()
    assert "No metrics yet: the run logged no step." in page
    assert "No metrics yet: the run has no evaluation numbers." in page
    assert "No samples yet." in page
    assert "<img" not in page


def test_missing_keys_nan_and_damaged_lines(tmp_path, no_health):
    records = [
        {"step": 10, "g_loss": 0.5},  # no d_loss, no accuracies
        {"step": 20, "g_loss": float("nan"), "fd": float("nan"), "note": "text", "flag": True},
        {"step": 30, "fd": 3.5, "precision": 0.5, "coverage": 0.25, "custom": 7},
    ]
    run = fake_run(tmp_path / "run", records, samples=("final.png", "step_000030.png"))
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 40, "d_lo')  # killed while writing
    page = write_report(run).read_text()
    alts = [alt for _, alt in pictures(page)]
    assert alts == [
        "Losses",
        "Precision, recall, density, coverage",
        "Fréchet distance (fd)",
        "custom",
        "step 30",
        "final",
    ]
    assert "1 damaged line(s) of metrics.jsonl skipped." in page
    assert '<tr><td class="num">20</td><td class="num">NaN</td>' in page
    assert "<th>note</th>" not in page and "<th>flag</th>" not in page


def test_step_pictures_are_thinned(tmp_path, no_health):
    names = [f"step_{s:06d}.png" for s in range(10, 10 * (MAX_STEP_PICTURES + 20), 10)]
    run = fake_run(tmp_path / "run", samples=names)
    page = write_report(run).read_text()
    alts = [alt for _, alt in pictures(page)]
    assert len(alts) == MAX_STEP_PICTURES
    assert alts[0] == "step 10" and alts[-1] == f"step {10 * (MAX_STEP_PICTURES + 19)}"
    steps = [int(a.split()[1]) for a in alts]
    assert steps == sorted(steps)


def test_a_damaged_sample_file_gets_a_note(tmp_path, no_health):
    run = fake_run(tmp_path / "run")
    (run / "samples" / "final.png").write_bytes(b"\x89PNG\r\n\x1a\n half a picture")
    page = write_report(run).read_text()
    assert "final.png is not a readable PNG picture." in page
    assert [alt for _, alt in pictures(page)][-1] == "step 10"


def test_overwrite_rule(tmp_path, no_health):
    run = fake_run(tmp_path / "run")
    (run / "report.html").write_text("old")
    assert write_report(run).read_text().startswith("<!DOCTYPE html>")  # derived: replaced
    assert write_report(run, run / "report.html").exists()  # the same file, named
    out = tmp_path / "elsewhere.html"
    out.write_text("keep me")
    with pytest.raises(GanforgeError, match=r"elsewhere\.html already exists; pass --overwrite"):
        write_report(run, out)
    assert out.read_text() == "keep me"
    write_report(run, out, overwrite=True)
    assert out.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(GanforgeError, match="is a folder"):
        write_report(run, tmp_path)
    assert sorted(p.name for p in run.iterdir()) == [
        "config.json",
        "metrics.jsonl",
        "report.html",
        "samples",
    ]


def test_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(GanforgeError, match="is not a ganforge run"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


# What the browser test adds to a copy of the page: it records script errors, resources
# that fail to load and alert() calls, and after the load event writes what it found.
PROBE = """<script>
(function () {
  var errors = [];
  window.alert = function (m) { errors.push("alert: " + m); };
  window.addEventListener("error", function (e) {
    var t = e.target;
    errors.push(t && t !== window ? "failed to load a " + t.tagName : String(e.message));
  }, true);
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var out = document.createElement("pre");
    out.id = "probe";
    out.textContent = JSON.stringify({
      errors: errors,
      scripts: document.scripts.length,
      widths: images.map(function (i) { return i.complete ? i.naturalWidth : 0; }),
      text: document.body.innerText
    });
    document.body.appendChild(out);
  });
})();
</script>"""


def open_in_chromium(report: Path, tmp_path: Path) -> dict:
    """Loads the report in headless Chromium; what the probe found after the load event.

    The probe goes into a copy of the page without its Content-Security-Policy, which
    would block the probe and any script smuggled in by a string that missed escaping:
    the test checks escaping, not the policy.
    """
    page = report.read_text()
    assert CSP_META in page
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace(CSP_META, "", 1).replace("<head>", "<head>" + PROBE, 1))
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"the page did not finish loading; chromium said:\n{result.stderr[-2000:]}"
    return json.loads(html.unescape(found[1]))


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not on PATH (.ci/run installs it: apt-get install chromium)",
)


@needs_chromium
@pytest.mark.parametrize("name", ["ring", "digits"])
def test_the_report_loads_in_chromium(runs, name, tmp_path, no_health):
    report = write_report(runs[name], tmp_path / "report.html")
    expected = len(DATA_URL.findall(report.read_text()))
    probe = open_in_chromium(report, tmp_path)
    assert probe["errors"] == []
    assert probe["scripts"] == 1  # the probe's own
    assert len(probe["widths"]) == expected >= 8
    assert all(w > 0 for w in probe["widths"]), probe["widths"]
    assert f"ganforge report: {name}" in probe["text"]
    assert "g_width\t16" in probe["text"]


@needs_chromium
def test_hostile_strings_stay_text_in_chromium(tmp_path, monkeypatch):
    run = fake_run(
        tmp_path / "run",
        [{"step": 10, "d_loss": 1.0, HOSTILE: 2.0}],
        name=HOSTILE,
        config={"augment": HOSTILE},
        samples=("step_000010.png", HOSTILE_FILE),
    )
    fake_health(monkeypatch, lambda path: [Finding(HOSTILE, 1, HOSTILE, {"x": HOSTILE})])
    probe = open_in_chromium(write_report(run), tmp_path)
    assert probe["errors"] == [] and probe["scripts"] == 1
    assert len(probe["widths"]) == 4 and all(w > 0 for w in probe["widths"])
    assert f"augment\t{HOSTILE}" in probe["text"]
    assert HOSTILE_FILE in probe["text"]
