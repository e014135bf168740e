"""One run's folder: built under `<run-id>.partial`, renamed to `<run-id>` only when complete.

A finished run is never written to again; a failed run keeps its `.partial` name, so nothing
incomplete can be mistaken for evidence and nothing earlier is touched. A partial nothing has
been written to for a day is a killed run: `remove_stale_partials` deletes it (the next audit
calls it), and never touches a complete run or a younger partial.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.coverage import Coverage

PARTIAL = ".partial"
SNAPSHOT_FILE = "snapshot.duckdb"
logger = logging.getLogger(__name__)


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


STALE_AFTER = timedelta(days=1)  # no audit runs for a day without writing a file


def last_modified(folder: Path) -> datetime:
    """The newest mtime of the folder and of anything inside it (symlinks not followed), UTC:
    a run still in progress keeps writing, so this says when it last showed signs of life."""
    newest = folder.lstat().st_mtime
    for parent, dirs, files in os.walk(folder, onerror=lambda _error: None):
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.lstat(os.path.join(parent, name)).st_mtime)
            except OSError:  # removed while we looked
                continue
    return datetime.fromtimestamp(newest, tz=UTC)


def partial_runs(root: Path) -> list[Path]:
    """Every `<run-id>.partial` folder under root (real folders, not symlinks), oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.name.endswith(PARTIAL) and p.is_dir() and not p.is_symlink())


def stale_partials(root: Path, older_than: timedelta = STALE_AFTER,
                   now: datetime | None = None) -> list[Path]:
    """Partial run folders nothing has been written to for `older_than`: killed runs.

    A younger partial may be another audit in progress and is left alone; complete runs are
    never candidates (their names do not end in `.partial`).
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    stale = []
    for folder in partial_runs(root):
        try:
            if last_modified(folder) < cutoff:
                stale.append(folder)
        except OSError:  # removed while we looked
            continue
    return stale


def remove_stale_partials(root: Path, older_than: timedelta = STALE_AFTER,
                          now: datetime | None = None) -> list[Path]:
    """Delete the stale partial run folders under root; return those removed.

    A folder that cannot be removed (permissions, already gone) is skipped with a warning, so
    cleaning up never stops the audit that calls this; the next audit tries again.
    """
    removed = []
    for folder in stale_partials(root, older_than, now):
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            continue
        except OSError as error:
            logger.warning("could not remove the stale partial run %s: %s", folder, error)
            continue
        removed.append(folder)
    return removed


SIGNATURE_FILE = "manifest.json.p7s"
RUN_STATES = ("complete", "unsigned", "partial", "stale", "reports", "not a run")
REPORTS_SUFFIX = ".reports"  # RUN.reports/: reports rendered again from RUN (`rolecall report`)


@dataclass(frozen=True)
class RunListing:
    """One folder under the runs folder, as `rolecall runs` shows it."""

    path: Path
    state: str  # one of RUN_STATES
    last_modified: datetime
    seen: Coverage | None = None  # finished runs: what the snapshot says the run could see
    note: str = ""

    @property
    def run_id(self) -> str:
        return self.path.name.removesuffix(PARTIAL)

    @property
    def accounts(self) -> int | None:
        return None if self.seen is None else self.seen.accounts

    @property
    def collected(self) -> int | None:
        return None if self.seen is None else self.seen.accounts_collected

    @property
    def complete_in_scope(self) -> bool | None:
        """Every account and source collected: the same test as the audit's exit code 3."""
        return None if self.seen is None else self.seen.complete


def list_runs(root: Path, older_than: timedelta = STALE_AFTER,
              now: datetime | None = None) -> list[RunListing]:
    """Every folder under root with its state, oldest run id first.

    complete: a final name and a signature (manifest.json.p7s; `rolecall verify` checks it);
    unsigned: a final name without one, so not evidence; partial: in progress or killed;
    stale: a partial untouched for `older_than`, which the next audit removes. Snapshots of
    partial runs are not opened: one may be being written.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    listings = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            modified = last_modified(folder)
        except OSError:  # removed while we looked
            continue
        if folder.name.endswith(PARTIAL):
            state = "stale" if modified < cutoff else "partial"
            listings.append(RunListing(folder, state, modified))
        elif (folder / SIGNATURE_FILE).is_file():
            listings.append(_with_accounts(RunListing(folder, "complete", modified)))
        elif (folder / SNAPSHOT_FILE).exists() or (folder / "manifest.json").exists():
            listings.append(_with_accounts(RunListing(folder, "unsigned", modified,
                                                      note=f"no {SIGNATURE_FILE}")))
        elif folder.name.endswith(REPORTS_SUFFIX):
            made = sum(1 for p in folder.iterdir() if (p / SIGNATURE_FILE).is_file())
            listings.append(RunListing(folder, "reports", modified, note=(
                f"{made} signed report(s) of run {folder.name.removesuffix(REPORTS_SUFFIX)}")))
        else:
            listings.append(RunListing(folder, "not a run", modified,
                                       note=f"no {SNAPSHOT_FILE} or manifest.json"))
    return listings


def _with_accounts(listing: RunListing) -> RunListing:
    """The listing with the snapshot's account counts, or a note saying why there are none."""
    import duckdb

    from store.coverage import coverage_of

    snapshot = listing.path / SNAPSHOT_FILE
    if not snapshot.is_file():
        return _noted(listing, f"no {SNAPSHOT_FILE}")
    try:
        seen = coverage_of(str(snapshot))
    except duckdb.Error as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        return _noted(listing, f"snapshot unreadable: {first_line}")
    return replace(listing, seen=seen)


def _noted(listing: RunListing, note: str) -> RunListing:
    return replace(listing, note=f"{listing.note}; {note}" if listing.note else note)
