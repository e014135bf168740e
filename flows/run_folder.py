"""One run's folder: built under `<run-id>.partial`, renamed to `<run-id>` only when complete.

A finished run is never written to again; a failed run keeps its `.partial` name, so nothing
incomplete can be mistaken for evidence and nothing earlier is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

PARTIAL = ".partial"
SNAPSHOT_FILE = "snapshot.duckdb"


def run_id_for(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


@dataclass
class RunFolder:
    run_id: str
    root: Path  # the runs folder

    @classmethod
    def create(cls, root: Path, started_at: datetime) -> RunFolder:
        """A fresh partial folder; a run id already taken moves on by a second."""
        root.mkdir(parents=True, exist_ok=True)
        moment = started_at
        while True:
            run_id = run_id_for(moment)
            folder = cls(run_id, root)
            if not folder.final.exists():
                try:
                    folder.path.mkdir()
                except FileExistsError:
                    pass
                else:
                    folder.evidence.mkdir()
                    return folder
            moment += timedelta(seconds=1)

    @property
    def path(self) -> Path:
        return self.root / f"{self.run_id}{PARTIAL}"

    @property
    def final(self) -> Path:
        return self.root / self.run_id

    @property
    def evidence(self) -> Path:
        return self.path / "evidence"

    def finish(self) -> Path:
        self.path.rename(self.final)
        return self.final


def complete_runs(root: Path) -> list[Path]:
    """Finished runs under root, oldest first."""
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.endswith(PARTIAL)
                  and (p / SNAPSHOT_FILE).exists())


def enclosing_run_folder(path: Path) -> Path | None:
    """The run folder (finished or partial) that would contain `path`, if any: exports and query
    results must never be written into one, or its signed manifest would no longer match."""
    for folder in Path(path).resolve().parents:
        if (folder / SNAPSHOT_FILE).exists() or (folder / "manifest.json").exists() \
                or folder.name.endswith(PARTIAL):
            return folder
    return None
