"""The demo signing key under faults: a keys folder that cannot be written is a one-line
SigningKeyError, and first runs creating the key at the same moment all end with one key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reports.keys import (
    DEMO_CERT_FILE,
    DEMO_KEY_FILE,
    DEMO_LOCK_FILE,
    SigningKeyError,
    demo_signer,
    load_signer,
)

ROOT = Path(__file__).resolve().parents[1]


def assert_one_line_naming(message: str, keys_dir: Path) -> None:
    assert "\n" not in message
    assert str(keys_dir) in message
    for way_out in ("--signing-key", "--signing-cert", "--keys-dir", "ROLECALL_KEYS_DIR"):
        assert way_out in message, message


def test_a_keys_folder_under_a_regular_file_is_a_signing_key_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    keys_dir = blocker / "keys"  # fails for root too: no chmod involved
    with pytest.raises(SigningKeyError) as raised:
        demo_signer(keys_dir)
    assert_one_line_naming(str(raised.value), keys_dir)
    assert "Not a directory" in str(raised.value)


def test_a_keys_folder_that_is_a_file_is_a_signing_key_error(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.write_text("x")
    with pytest.raises(SigningKeyError) as raised:
        demo_signer(keys_dir)
    assert_one_line_naming(str(raised.value), keys_dir)
    assert "a file, not a folder" in str(raised.value)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_keys_folder_in_a_file_system_that_refuses_folders_is_a_signing_key_error() -> None:
    keys_dir = Path("/proc/rolecall-test/keys")  # procfs: no mkdir, even as root
    with pytest.raises(SigningKeyError) as raised:
        demo_signer(keys_dir)
    assert_one_line_naming(str(raised.value), keys_dir)


def assert_one_complete_pair(keys_dir: Path, fingerprint: str) -> None:
    key, cert = keys_dir / DEMO_KEY_FILE, keys_dir / DEMO_CERT_FILE
    assert load_signer(key, cert).fingerprint == fingerprint  # the key belongs to the certificate
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    # no temporary file is left behind
    assert sorted(p.name for p in keys_dir.iterdir()) == sorted([DEMO_LOCK_FILE, DEMO_KEY_FILE,
                                                                 DEMO_CERT_FILE])


def test_threads_creating_the_demo_key_at_once_end_with_one_key(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    start = threading.Barrier(4)
    fingerprints: list[str] = []
    errors: list[Exception] = []

    def first_run() -> None:
        start.wait()
        try:
            fingerprints.append(demo_signer(keys_dir).fingerprint)
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=first_run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(fingerprints) == 4 and len(set(fingerprints)) == 1
    assert_one_complete_pair(keys_dir, fingerprints[0])


CHILD = """
import sys, time
from pathlib import Path
from reports.keys import demo_signer
keys_dir, sync = Path(sys.argv[1]), Path(sys.argv[2])
(sync / f"ready-{sys.argv[3]}").touch()
while not (sync / "go").exists():  # every process has imported; start together
    time.sleep(0.005)
print(demo_signer(keys_dir).fingerprint)
"""


def test_processes_creating_the_demo_key_at_once_end_with_one_key(tmp_path: Path) -> None:
    keys_dir, sync = tmp_path / "keys", tmp_path / "sync"
    sync.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(keys_dir), str(sync), str(n)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    deadline = time.monotonic() + 120
    while len(list(sync.glob("ready-*"))) < len(children) and time.monotonic() < deadline:
        time.sleep(0.01)
    (sync / "go").touch()
    results = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], [err for _, err in results]
    fingerprints = {out.strip() for out, _ in results}
    assert len(fingerprints) == 1
    assert_one_complete_pair(keys_dir, fingerprints.pop())


def test_an_existing_pair_is_loaded_not_replaced(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    first = demo_signer(keys_dir).fingerprint
    before = (keys_dir / DEMO_KEY_FILE).read_bytes()
    assert demo_signer(keys_dir).fingerprint == first
    assert (keys_dir / DEMO_KEY_FILE).read_bytes() == before
