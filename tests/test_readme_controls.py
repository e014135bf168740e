"""The README's control table is the registry's, and each control has exactly one home."""

from __future__ import annotations

import re
from pathlib import Path

from checks.catalogue import CONTROLS, home_of, readme_with_controls

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("checks", "flows", "reports", "store", "cli")


def test_the_readme_control_table_is_generated_from_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == readme_with_controls(readme), (
        "README.md's control table is out of date: run .venv/bin/python -m checks.catalogue")


def test_a_control_id_appears_in_one_source_file_its_home() -> None:
    """grep -rl RC-5.1 checks/ flows/ reports/ lists one file (issue 10's done-when)."""
    files = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*")
             if p.is_file() and p.suffix in (".py", ".j2", ".sql", ".css")]
    texts = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in files}
    for control in CONTROLS:
        pattern = re.compile(re.escape(control.id) + r"(?![0-9])")
        found = sorted(name for name, text in texts.items() if pattern.search(text))
        assert found == [home_of(control)], control.id
