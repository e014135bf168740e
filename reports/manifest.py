"""manifest.json: what a run folder holds, so an auditor can prove nothing was changed, added or lost.

It lists every file of the run folder (relative path, SHA-256, size) plus the run id, tool version,
configuration, accounts in scope and the signer's certificate fingerprint. The bytes are canonical
(sorted keys, fixed indentation, UTF-8, one trailing newline), so the same folder always gives the
same manifest and the detached signature in manifest.json.p7s covers exactly those bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reports.keys import SigningIdentity

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.p7s"
FORMAT = "rolecall-manifest/1"
HASH = "sha256"
# The manifest cannot list itself or the signature made over it.
NOT_LISTED = frozenset({MANIFEST, SIGNATURE})
# Countersignatures added after the run (`rolecall attest`) go here; the manifest, signed before
# them, cannot list them: each is signed on its own and names the manifest's hash instead.
ATTESTATIONS = "attestations"
# Safety net for the "no secrets" rule: the caller passes a public configuration, but a key that
# looks like a secret is redacted anyway rather than signed into evidence kept for years.
_SECRET_KEY = re.compile(r"password|passphrase|secret|token|private[_-]?key", re.IGNORECASE)


class ManifestError(ValueError):
    """The run folder holds something a manifest cannot vouch for."""


def run_files(run_dir: Path) -> list[str]:
    """Every file under run_dir as a POSIX relative path, sorted, except the manifest and its
    signature. Symbolic links and other non-regular files are refused: a link's target can change
    after signing without any listed byte changing."""
    found: list[str] = []
    for path in run_dir.rglob("*"):
        rel = path.relative_to(run_dir).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ManifestError(f"{rel}: not a regular file (links and devices cannot be evidence)")
        if path.is_file() and rel not in NOT_LISTED:
            found.append(rel)
    return sorted(found)


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of one file, read in chunks: snapshots run to hundreds of MB."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, HASH)
        size = f.tell()
    return digest.hexdigest(), size


def build_manifest(
    run_dir: Path,
    *,
    run_id: str,
    tool_version: str,
    configuration: dict[str, Any],
    accounts: list[str],
    signer: SigningIdentity | None = None,
) -> dict[str, Any]:
    """The manifest of run_dir as a dict (call `write_manifest` to store it).

    Build it after the PDF is signed, since it records the signed PDF's hash.
    """
    files = []
    total = 0
    for rel in run_files(run_dir):
        sha256, size = file_digest(run_dir / rel)
        files.append({"path": rel, "sha256": sha256, "size": size})
        total += size
    return {
        "format": FORMAT,
        "run_id": run_id,
        "tool": {"name": "rolecall", "version": tool_version},
        "configuration": _redact(configuration),
        "accounts": sorted(set(accounts)),
        "signer": None if signer is None else {
            "subject": signer.subject,
            "certificate_sha256": signer.fingerprint,
            "demo": signer.demo,
        },
        "hash_algorithm": HASH,
        "files": files,
        "totals": {"files": len(files), "bytes": total},
    }


def canonical_bytes(manifest: dict[str, Any]) -> bytes:
    """The one serialisation of a manifest: sorted keys, 2-space indent, UTF-8, trailing newline."""
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False,
                      default=str)
    return (text + "\n").encode("utf-8")


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> Path:
    path = run_dir / MANIFEST
    path.write_bytes(canonical_bytes(manifest))
    return path


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): "(redacted)" if _SECRET_KEY.search(str(k)) and v is not None else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, Path):
        return value.as_posix()
    return value
