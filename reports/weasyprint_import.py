"""WeasyPrint, imported without running ldconfig, gcc and ld a few hundred times.

WeasyPrint opens its C libraries (Pango, HarfBuzz, fontconfig...) through cffi under several
names each, ending with the library's soname (libpango-1.0.so.0). cffi hands every name that
dlopen does not take as it is to ctypes.util.find_library, which on Linux runs ldconfig, then gcc
and ld for each name ldconfig does not know: 278 child processes and ~0.4 s at every import
here, most of them for the two optional HarfBuzz libraries Debian ships apart (cf.
Kozea/WeasyPrint#1125). The dynamic linker finds an installed library by its soname by itself,
so while WeasyPrint imports, find_library answers None for WeasyPrint's own names and the
soname is what loads; any other name is looked up as before.
"""

from __future__ import annotations

import ctypes.util
import re
import sys
from collections.abc import Callable

_WEASYPRINT_LIBRARY = re.compile(r"(lib)?(gobject|pangoft2|pango|harfbuzz|fontconfig)\b")


def soname_only(find_library: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """find_library, but None for the names of WeasyPrint's libraries."""

    def find(name: str) -> str | None:
        return None if _WEASYPRINT_LIBRARY.match(name) else find_library(name)

    return find


if sys.platform.startswith("linux") and "weasyprint" not in sys.modules:
    _find_library = ctypes.util.find_library
    ctypes.util.find_library = soname_only(_find_library)
    try:
        import weasyprint
    finally:
        ctypes.util.find_library = _find_library
else:
    import weasyprint

__all__ = ["weasyprint"]
