"""Collects the figures of a run, prints them as they come, and writes them into docs/PERFORMANCE.md."""
from __future__ import annotations

import os
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

BEGIN = "<!-- bench:begin (written by `python3 dev.py bench`; edits here are replaced) -->"
END = "<!-- bench:end -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"


class Report:
    def __init__(self, command):
        self.command = command
        self.started = datetime.now(timezone.utc)
        self.blocks = []

    def table(self, title, headers, rows):
        lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
        self._add("\n".join(lines))

    def note(self, text):
        self._add(text)

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
        """Replace the previous run's section of docs/PERFORMANCE.md with this one."""
        section = f"{BEGIN}\n{self.markdown(elapsed)}{END}"
        text = path.read_text() if path.exists() else "# Performance\n\n"
        if BEGIN in text and END in text:
            text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: section, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n## Latest benchmark run\n\n" + section + "\n"
        path.write_text(text)
        return path
