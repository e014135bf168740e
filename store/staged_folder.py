"""Files that appear in a folder together or not at all.

Exports and migration plans are written into a temporary sibling of their folder and moved in
only once every file is complete: a reader (or a crash half-way) never sees half a set, and a
failure leaves whatever the folder held before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling of out_dir to write into; when the block ends without an
    error, move every file it holds into out_dir (made if needed). The sibling is removed
    either way."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial",
                                    dir=out_dir.parent))
    try:
        yield staging
        out_dir.mkdir(exist_ok=True)
        for path in sorted(staging.iterdir()):
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
