"""reports/weasyprint_import.py: WeasyPrint loads its libraries by soname, spawning nothing.

Imported plainly, WeasyPrint's cffi lookups ran ldconfig, gcc and ld a few hundred times (~0.4 s).
Each probe runs in a fresh interpreter, as the CLI imports WeasyPrint once per process.
"""

from __future__ import annotations

import ctypes.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reports.weasyprint_import import soname_only

ROOT = Path(__file__).resolve().parent.parent
PROBE = textwrap.dedent("""
    import sys
    spawned = []
    sys.addaudithook(lambda event, args: spawned.append(args[1]) if event == "subprocess.Popen"
                     else None)
    {imports}
    import ctypes.util
    pdf = weasyprint.HTML(string="<p>rolecall</p>").write_pdf()
    print(len(spawned), pdf[:5].decode(), ctypes.util.find_library("c"))
""")

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux lookups")


def _probe(imports: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.split()


@linux_only
def test_weasyprint_through_the_module_spawns_nothing_and_still_writes_pdf() -> None:
    spawned, magic, libc = _probe("from reports.weasyprint_import import weasyprint")
    assert spawned == "0"
    assert magic == "%PDF-"
    assert libc.startswith("libc.so")  # other lookups work as before, once the import is done


@linux_only
@pytest.mark.skipif(shutil.which("ldconfig") is None and not Path("/sbin/ldconfig").exists(),
                    reason="find_library spawns ldconfig only where there is one")
def test_a_plain_import_spawns_lookups_which_is_what_the_module_avoids() -> None:
    spawned, magic, _ = _probe("import weasyprint")
    assert int(spawned) > 0
    assert magic == "%PDF-"


def test_only_weasyprint_library_names_are_answered_none() -> None:
    asked: list[str] = []

    def lookup(name: str) -> str | None:
        asked.append(name)
        return f"lib{name}.so"

    find = soname_only(lookup)
    for name in ("libgobject-2.0-0", "pango-1.0", "pangoft2-1.0-0", "harfbuzz-subset",
                 "libharfbuzz-vector-0", "fontconfig-1"):
        assert find(name) is None
    assert find("c") == "libc.so"
    assert find("ssl") == "libssl.so"
    assert asked == ["c", "ssl"]
    assert ctypes.util.find_library.__module__ == "ctypes.util"  # restored after the import
