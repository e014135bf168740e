"""checks/gx_import.py: Great Expectations without scipy.stats and altair until something uses
them, and without SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from checks.gx_import import DeferredImports, NotFound, not_found

TESTS = Path(__file__).resolve().parent

VALIDATE_THEN_USE = f"""
import sys, types
from pathlib import Path
sys.path.insert(0, {str(TESTS)!r})
from checks_fixtures import ACCOUNT, OTHER, add_root, add_user, new_snapshot, run
folder = Path(sys.argv[1])
con = new_snapshot(folder / "s.duckdb", (ACCOUNT, OTHER))
add_root(con)
add_user(con, "alice", password=True, keys=({{"active": True, "rotated": 200, "used": None}},))
summary = run(con, folder)
assert summary.cross_checked and summary.controls["RC-1.1"].counts.failed == 1
print(*(type(sys.modules[name]) is types.ModuleType for name in ("scipy.stats", "altair")),
      "sqlalchemy" in sys.modules)
from scipy import stats
print(stats.norm.cdf(0.0))
"""


def test_a_whole_validation_never_loads_the_deferred_modules(tmp_path: Path) -> None:
    """Every suite runs on a real snapshot; scipy.stats and altair stay unexecuted, SQLAlchemy
    is never imported, and a later user of scipy.stats still gets the real module."""
    done = subprocess.run([sys.executable, "-c", VALIDATE_THEN_USE, str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=TESTS.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["False False False", "0.5"]
    assert (tmp_path / "gx" / "G1.json").exists()


def test_a_deferred_module_runs_on_first_attribute_access(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deferred_probe.py").write_text(
        "import sys\nsys.modules[__name__].executed = True\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [DeferredImports(frozenset({"deferred_probe"})),
                                           *sys.meta_path])
    monkeypatch.delitem(sys.modules, "deferred_probe", raising=False)

    import deferred_probe  # type: ignore[import-not-found]

    assert type(deferred_probe) is not types.ModuleType  # bound, its code not run yet
    assert deferred_probe.VALUE == 42
    assert type(deferred_probe) is types.ModuleType and deferred_probe.executed
    monkeypatch.delitem(sys.modules, "deferred_probe")


def test_other_modules_are_left_to_the_ordinary_finders() -> None:
    assert DeferredImports(frozenset({"altair"})).find_spec("json", None) is None
    assert DeferredImports(frozenset({"no_such_module_here"})).find_spec(
        "no_such_module_here", None) is None


def test_a_module_not_for_gx_is_not_found_during_the_block_only(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    finder = NotFound(frozenset({"sqlalchemy"}))
    with pytest.raises(ModuleNotFoundError):
        finder.find_spec("sqlalchemy.orm", None)
    assert finder.find_spec("json", None) is None
    assert finder.find_spec("sqlalchemy_utils", None) is None  # another package, not a submodule
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    with not_found(frozenset({"colorsys"})), pytest.raises(ModuleNotFoundError):
        import colorsys  # noqa: F401
    import colorsys  # noqa: F401, F811  (found again after the block)
    assert not any(isinstance(f, NotFound) for f in sys.meta_path)
