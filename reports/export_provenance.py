"""Where an export came from: the signed run, and the hashes that tie the two together.

An export leaves the run folder (to a data lake, to Security Hub), so it carries its own
`provenance.json`: the run id, the SHA-256 of the run's snapshot and signed manifest, and the
hash of every exported file. An auditor holding only the export can check it against the run's
`manifest.json`. A snapshot that does not match its manifest is not exported at all: an export
must not launder a changed snapshot into something that looks like evidence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reports.manifest import MANIFEST, file_digest
from store.run_folder import SNAPSHOT_FILE as SNAPSHOT

PROVENANCE = "provenance.json"


class ProvenanceError(RuntimeError):
    """The run's snapshot does not match its signed manifest; nothing is exported."""


def snapshot_matches_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest's facts about the snapshot, after checking the file still has that hash."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise ProvenanceError(f"{run_dir} has no {MANIFEST}: an unsigned run is not exported")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in manifest.get("files", [])}
    if SNAPSHOT not in listed:
        raise ProvenanceError(f"{MANIFEST} of {run_dir} does not list {SNAPSHOT}")
    sha256, size = file_digest(run_dir / SNAPSHOT)
    if (sha256, size) != (listed[SNAPSHOT]["sha256"], listed[SNAPSHOT]["size"]):
        raise ProvenanceError(f"{run_dir / SNAPSHOT} does not match its signed manifest "
                              "(changed after signing?); run `rolecall verify` on the run")
    return {"manifest": manifest, "snapshot_sha256": sha256, "manifest_sha256": file_digest(manifest_path)[0]}


def write_provenance(run_dir: Path, out_dir: Path, files: list[Path], export_format: str,
                     tool_version: str, checked: dict[str, Any],
                     statuses: Sequence[str] | None = None) -> Path:
    """provenance.json in out_dir, naming the run, any status filter (a filtered export is not
    the whole population) and hashing every exported file."""
    manifest = checked["manifest"]
    record = {
        "format": export_format,
        "statuses": sorted(statuses) if statuses else "all",
        "run_id": manifest.get("run_id"),
        "source_run_folder": str(run_dir.resolve()),
        "snapshot_sha256": checked["snapshot_sha256"],
        "manifest_sha256": checked["manifest_sha256"],
        "signer_certificate_sha256": (manifest.get("signer") or {}).get("certificate_sha256"),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "exported_by": f"rolecall {tool_version}",
        "files": [
            {"path": path.name, "sha256": digest, "size": size}
            for path in sorted(files) for digest, size in [file_digest(path)]
        ],
    }
    target = out_dir / PROVENANCE
    partial = out_dir / f".{PROVENANCE}.partial"
    partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return target
