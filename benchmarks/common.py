"""Shared helpers of the benchmark scripts: machine line, result table, RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """CPU, threads, torch version and device, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return (
        f"CPU {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}, device {device}"
    )


def commit() -> str:
    """The short hash of HEAD (with + when the tree has changes), or 'unknown'."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
        return head + ("+" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def record(title: str, table: str, note: str = "") -> None:
    """Prints the table last and appends it, dated, with the commit, to RESULTS.md."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    block = f"\n## {title} — {stamp}, commit {commit()}\n\n{machine()}\n\n"
    if note:
        block += note + "\n\n"
    block += table + "\n"
    with RESULTS.open("a") as f:
        f.write(block)
    print(table)
