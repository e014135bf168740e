"""Signing keys in the per-user keys folder: no silent demo key (a real run needs a configured key
or the organization key of `rolecall keys init`), the folder never relative to the working
directory, and the demo key under faults: a keys folder that cannot be written is a one-line
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
    KEYS_DIR_ENV,
    ORG_CERT_FILE,
    ORG_KEY_FILE,
    SigningKeyError,
    create_organization_key,
    default_keys_dir,
    demo_signer,
    load_signer,
)
from reports.signing_config import SigningConfig
from tests.demo_run import run_cli

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


# --- no silent demo key -------------------------------------------------------------------------


def test_the_keys_folder_is_per_user_and_never_relative_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(KEYS_DIR_ENV, str(tmp_path / "configured"))
    assert default_keys_dir() == tmp_path / "configured"
    monkeypatch.delenv(KEYS_DIR_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_keys_dir() == tmp_path / "xdg" / "rolecall" / "keys"
    assert SigningConfig().keys_dir == tmp_path / "xdg" / "rolecall" / "keys"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_keys_dir() == tmp_path / "home" / ".local" / "share" / "rolecall" / "keys"
    assert default_keys_dir().is_absolute()


def test_without_a_key_a_real_run_has_no_identity_and_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError) as raised:
        SigningConfig(keys_dir=tmp_path).identity()
    message = str(raised.value)
    assert "\n" not in message and str(tmp_path) in message
    for way_out in ("rolecall keys init", "--signing-key", "--signing-cert", "--signing-p12"):
        assert way_out in message
    assert list(tmp_path.iterdir()) == []  # and no demo key was made behind the user's back


def test_a_demo_signs_with_the_demo_key_even_beside_an_organization_key(tmp_path: Path) -> None:
    organization = create_organization_key(tmp_path, subject="CN=Example Org evidence signing")
    assert SigningConfig(keys_dir=tmp_path).identity().fingerprint == organization.fingerprint
    demo = SigningConfig(keys_dir=tmp_path, demo=True).identity()
    assert demo.demo and demo.fingerprint != organization.fingerprint


def test_keys_init_creates_a_private_organization_key_and_prints_its_fingerprint(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    code, output = run_cli("keys", "init", "--keys-dir", str(keys), "--subject",
                           "CN=Example Org evidence signing,O=Example Org")
    assert code == 0, output
    identity = load_signer(keys / ORG_KEY_FILE, keys / ORG_CERT_FILE)
    flat = " ".join(output.split())
    assert identity.fingerprint in flat and str(keys / ORG_CERT_FILE) in flat
    assert identity.subject.startswith("Common Name: Example Org evidence signing")
    assert stat.S_IMODE((keys / ORG_KEY_FILE).stat().st_mode) == 0o600
    assert not identity.demo

    code, output = run_cli("keys", "init", "--keys-dir", str(keys))
    assert code == 2 and "--force" in output  # an existing key is never silently replaced
    assert load_signer(keys / ORG_KEY_FILE, keys / ORG_CERT_FILE).fingerprint == identity.fingerprint
    code, output = run_cli("keys", "init", "--keys-dir", str(keys), "--force")
    assert code == 0
    assert load_signer(keys / ORG_KEY_FILE, keys / ORG_CERT_FILE).fingerprint != identity.fingerprint


def test_keys_init_refuses_a_subject_without_a_common_name(tmp_path: Path) -> None:
    code, output = run_cli("keys", "init", "--keys-dir", str(tmp_path), "--subject", "O=Example Org")
    assert code == 2 and "CN=" in output and not (tmp_path / ORG_KEY_FILE).exists()


def test_a_real_audit_with_an_empty_keys_folder_exits_2_before_any_aws_call(tmp_path: Path) -> None:
    """AWS_ENDPOINT_URL points at a closed port in tests: had the run reached AWS, the error
    would be about credentials or the connection, not the signing key."""
    empty = tmp_path / "keys"
    empty.mkdir()
    code, output = run_cli("audit", "--out", str(tmp_path / "runs"), "--keys-dir", str(empty))
    flat = " ".join(output.split())
    assert code == 2 and flat.count("error:") == 1, output
    assert "no signing key" in flat and "rolecall keys init" in flat and str(empty) in flat
    assert list(empty.iterdir()) == [] and not (tmp_path / "runs").exists()
