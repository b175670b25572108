"""Collects the figures of a run, prints them as they come, and writes them into docs/PERFORMANCE.md.

Two generated parts of that file, each between its markers:

- the **targets** table at the top: one row per target (what, target, figure, met?, date,
  command). A part records a row with ``report.target(...)``; a run rewrites the rows it measured,
  keyed by "what", and keeps every other row with its own date and command;
- the **latest run** section at the end: every table and note of the last run that wrote the file.
"""
from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

BEGIN = "<!-- bench:begin (written by `python3 dev.py bench`; edits here are replaced) -->"
END = "<!-- bench:end -->"
TARGETS_BEGIN = ("<!-- targets:begin (written by `python3 dev.py bench`: a run replaces the rows it measured, "
                 "keyed by \"what\", and keeps the others) -->")
TARGETS_END = "<!-- targets:end -->"
TARGET_HEADERS = ("what", "target", "figure", "met?", "date (UTC)", "command")
DOC = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"

MET, NOT_MET, UNMEASURED = "met", "**not met**", "not measured"


@dataclass(frozen=True)
class Target:
    """One row of the targets table; every field is the cell's text."""
    what: str
    target: str
    figure: str
    met: str
    date: str
    command: str

    def cells(self):
        return (self.what, self.target, self.figure, self.met, self.date, self.command)


def verdict(met):
    """The "met?" cell: True → met, False → not met, None → not measured (only part of it ran)."""
    return UNMEASURED if met is None else MET if met else NOT_MET


def _escape(cell):
    return str(cell).replace("\n", " ").replace("|", "\\|")


def _split_row(line):
    """The cells of one markdown table row; ``\\|`` stays inside its cell."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def render_targets(rows):
    lines = ["| " + " | ".join(TARGET_HEADERS) + " |", "|" + " --- |" * len(TARGET_HEADERS)]
    lines += ["| " + " | ".join(_escape(cell) for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def parse_targets(text):
    """The rows of the targets table between the markers of ``text`` (none if there is no table)."""
    match = re.search(re.escape(TARGETS_BEGIN) + r"(.*?)" + re.escape(TARGETS_END), text, flags=re.S)
    if not match:
        return []
    rows = []
    for line in match.group(1).splitlines():
        if not line.strip().startswith("|"):
            continue
        cells = _split_row(line)
        if cells == list(TARGET_HEADERS) or all(set(cell) <= set("-: ") for cell in cells):
            continue
        cells = (cells + [""] * len(TARGET_HEADERS))[:len(TARGET_HEADERS)]
        rows.append(Target(*cells))
    return rows


def merge_targets(old, new):
    """``old`` with each row whose "what" is in ``new`` replaced in place, then the new ones after.

    A row measured twice in one run keeps the last figure."""
    latest = {}
    for row in new:
        latest[row.what] = row
    merged = [latest.pop(row.what, row) for row in old]
    return merged + list(latest.values())


def replace_targets(text, rows):
    """``text`` with its targets table replaced by ``rows`` (or put right under the title)."""
    section = f"{TARGETS_BEGIN}\n{render_targets(rows)}\n{TARGETS_END}"
    if TARGETS_BEGIN in text and TARGETS_END in text:
        return re.sub(re.escape(TARGETS_BEGIN) + r".*?" + re.escape(TARGETS_END), lambda _: section, text,
                      flags=re.S)
    lines = text.split("\n")
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    return "\n".join(lines[:title + 1] + ["", section, ""] + lines[title + 1:])


def spread(values, unit="", digits=2):
    """``values`` as "low–high" (or one figure), for a target row that covers several measurements."""
    low, high = min(values), max(values)
    text = f"{low:,.{digits}f}" if round(low, digits) == round(high, digits) else f"{low:,.{digits}f}–{high:,.{digits}f}"
    return text + unit


class Report:
    def __init__(self, command, record_targets=True):
        self.command = command
        self.started = datetime.now(timezone.utc)
        self.blocks = []
        self.targets = []
        # A --quick run measures at smoke sizes: its figures say nothing about the targets.
        self.record_targets = record_targets

    def table(self, title, headers, rows):
        lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
        self._add("\n".join(lines))

    def note(self, text):
        self._add(text)

    def target(self, what, target, figure, met):
        """Record the figure of one target. ``what`` is the row's key: keep it the same from run to
        run (a changed "what" leaves the old row behind, with its old date). ``met``: True, False, or
        None when the run measured only part of what the target asks."""
        row = Target(what, target, figure, verdict(met), f"{self.started:%Y-%m-%d %H:%M}", f"`{self.command}`")
        print(f"target: {what}: {figure} ({target}: {row.met})", flush=True)
        if self.record_targets:
            self.targets.append(row)

    def _add(self, block):
        self.blocks.append(block)
        print(block + "\n", flush=True)

    def markdown(self, elapsed):
        machine = f"{os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, Python {platform.python_version()}"
        head = [f"### Run of {self.started:%Y-%m-%d %H:%M} UTC", "",
                f"Command: `{self.command}`. Machine: {machine}; the database is SecantusDB "
                f"(single Python process) on the same machine. Took {elapsed / 60:.1f} min.", ""]
        return "\n".join(head) + "\n" + "\n\n".join(self.blocks) + "\n"

    def write(self, elapsed, path=DOC):
        """Merge this run's targets into the table of docs/PERFORMANCE.md and replace the previous
        run's section with this one."""
        section = f"{BEGIN}\n{self.markdown(elapsed)}{END}"
        text = path.read_text() if path.exists() else "# Performance\n\n"
        if self.targets or TARGETS_BEGIN not in text:
            text = replace_targets(text, merge_targets(parse_targets(text), self.targets))
        if BEGIN in text and END in text:
            text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: section, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n## Latest benchmark run\n\n" + section + "\n"
        path.write_text(text)
        return path
