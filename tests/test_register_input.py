"""checks/exceptions.py on hostile or broken register files: every one is a RegisterError.

Issue 9 found a traceback for a non-UTF-8 file, a 375-byte alias bomb that grew to 3 GB, a
duplicate key that silently moved an entry to another user, and a 50 MB file that took 314 s.
The tests pin *where* each input is refused (at the first anchor, before reading, before
validating entries); how long that takes is measured by bench/register_limits.py, not here.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.exceptions import (
    MAX_DEPTH,
    MAX_ENTRIES,
    MAX_NODES,
    MAX_REGISTER_BYTES,
    Entry,
    RegisterError,
    load_register,
    parse_register,
)
from tests.test_exceptions import GOOD


@pytest.fixture
def write(tmp_path: Path) -> Iterator[object]:
    def _write(content: str | bytes, name: str = "exceptions.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        return path

    yield _write


def _refused(path_or_text: Path | str) -> str:
    """The RegisterError message."""
    with pytest.raises(RegisterError) as raised:
        if isinstance(path_or_text, Path):
            load_register(path_or_text)
        else:
            parse_register(path_or_text)
    return str(raised.value)


def alias_bomb() -> str:
    """The classic "billion laughs": 9 levels of 9 aliases, 9^9 strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
    lines.append("exceptions: [*i]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_first_anchor(write: object) -> None:
    bomb = alias_bomb()
    assert len(bomb.encode()) < 400  # the size found in issue 9 (375 bytes)
    message = _refused(write(bomb))  # type: ignore[operator]
    assert message == "exceptions.yaml: YAML anchors are not allowed (&a) at line 1, column 4"


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace("owner: platform-team", "owner: &o platform-team"),
     "YAML anchors are not allowed (&o) at line 8"),
    (GOOD.replace("owner: platform-team", "owner: *o"), "YAML aliases are not allowed (*o) at line 8"),
    ("base: &b {owner: x}\nexceptions: []\n", "YAML anchors are not allowed (&b) at line 1"),
], ids=["anchor", "alias without anchor", "anchor outside the entries"])
def test_any_anchor_or_alias_is_refused(text: str, message: str) -> None:
    assert message in _refused(text)


def test_merge_key_is_an_unknown_field_not_a_merge() -> None:
    text = GOOD.replace("    owner: platform-team\n", "    <<: {owner: platform-team}\n")
    assert 'entry 1 (id "ci-deployer"): <<: unknown field' in _refused(text)


def test_duplicate_field_names_entry_field_and_both_lines() -> None:
    text = GOOD + "    principal: arn:aws:iam::111111111111:user/mallory\n"
    assert _refused(text) == ('exceptions.yaml: entry 1 (id "ci-deployer"): principal: duplicate '
                              "key, at line 3 and again at line 12")


def test_second_exceptions_key_is_refused_not_an_empty_register() -> None:
    text = GOOD + "exceptions: []\n"
    assert _refused(text) == ("exceptions.yaml: exceptions: duplicate key, at line 1 and again "
                              "at line 12")


def test_duplicate_key_is_refused_at_any_depth() -> None:
    text = GOOD.replace("    reason: vendor has no OIDC\n",
                        "    reason: {why: a, who: b, why: c}\n")
    assert _refused(text) == ('exceptions.yaml: entry 1 (id "ci-deployer"): reason: why: '
                              "duplicate key, at line 7 and again at line 7")


def test_not_utf8_names_file_offset_and_line(write: object) -> None:
    data = GOOD.replace("vendor has no OIDC", "vendor has no OIDC \xe9").encode("latin-1")
    offset = data.index(b"\xe9")
    message = _refused(write(data))  # type: ignore[operator]
    assert message == (f"exceptions.yaml: not UTF-8 text: byte 0xe9 at offset {offset} (line 7) "
                       "cannot be decoded; save the file as UTF-8")


def test_utf16_is_refused_as_not_utf8(write: object) -> None:
    message = _refused(write(GOOD.encode("utf-16")))  # type: ignore[operator]
    assert "not UTF-8 text: byte 0xff at offset 0 (line 1)" in message


def test_utf8_with_byte_order_mark_loads(write: object) -> None:
    register = load_register(write("\ufeff" + GOOD))  # type: ignore[operator]
    assert [e.id for e in register.entries] == ["ci-deployer"]


@pytest.mark.parametrize("size", [MAX_REGISTER_BYTES + 1, 50 * 1024 * 1024])
def test_file_over_the_limit_is_refused_before_reading(tmp_path: Path, size: int) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as stream:  # sparse: nothing to read, only the size is known
        stream.truncate(size)
    message = _refused(path)
    assert message == (f"big.yaml: {size} bytes, more than the limit of {MAX_REGISTER_BYTES} "
                       "bytes (1 MiB) for an exceptions register")


def test_file_at_the_limit_is_read(write: object) -> None:
    padding = "#" * (MAX_REGISTER_BYTES - len(GOOD) - 1) + "\n"
    path = write(GOOD + padding)  # type: ignore[operator]
    assert path.stat().st_size == MAX_REGISTER_BYTES
    assert len(load_register(path).entries) == 1


def test_text_over_the_limit_is_refused() -> None:
    assert "more than the limit" in _refused(GOOD + "#" * MAX_REGISTER_BYTES)


def test_folder_missing_fifo_are_register_errors(tmp_path: Path) -> None:
    assert _refused(tmp_path) == f"{tmp_path.name}: cannot read: is a folder, not a file"
    assert _refused(tmp_path / "nope.yaml") == "nope.yaml: cannot read: No such file or directory"
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening a FIFO for reading would block until a writer came
    assert _refused(fifo) == "pipe.yaml: cannot read: not a regular file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_file_is_a_register_error(write: object) -> None:
    path = write(GOOD)  # type: ignore[operator]
    path.chmod(0)
    assert _refused(path) == "exceptions.yaml: cannot read: Permission denied"


def test_permission_denied_is_a_register_error(write: object, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(GOOD)  # type: ignore[operator]

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    assert _refused(path) == "exceptions.yaml: cannot read: Permission denied"


@pytest.mark.parametrize("depth", [MAX_DEPTH, 50_000])
def test_deep_nesting_is_refused_not_a_recursion_error(depth: int) -> None:
    # the document's mapping is level 1, so the MAX_DEPTH-th bracket is one level too deep
    text = "exceptions: " + "[" * depth + "]" * depth + "\n"
    message = _refused(text)
    if depth < 1000:  # deeper, libyaml's own limit of 1000 levels speaks first
        assert message == (f"exceptions.yaml: nested more than {MAX_DEPTH} levels deep at line 1, "
                           f"column {len('exceptions: ') + MAX_DEPTH}")
    else:
        assert message.startswith("exceptions.yaml: ") and "nest" in message


def test_nesting_up_to_the_limit_is_composed() -> None:
    depth = MAX_DEPTH - 1
    message = _refused("exceptions: " + "[" * depth + "]" * depth + "\n")
    assert message == "exceptions.yaml: entry 1: expected a mapping of fields"


def test_too_many_entries_is_refused_before_validating_them(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("an entry was validated before the count was checked")

    monkeypatch.setattr(Entry, "model_validate", never)
    text = "exceptions:\n" + "- {}\n" * (MAX_ENTRIES + 1)
    assert _refused(text) == (f"exceptions.yaml: exceptions: {MAX_ENTRIES + 1} entries, more "
                              f"than the limit of {MAX_ENTRIES}")


def test_the_largest_real_register_loads_within_the_limits() -> None:
    """1 MiB of real entries (about 3,700) is under every other cap: MAX_NODES, MAX_ENTRIES."""
    body = GOOD.split("exceptions:\n")[1].replace("ci-deployer", "e{n:05d}")
    size = len(body.format(n=0))
    count = (MAX_REGISTER_BYTES - len("exceptions:\n")) // size
    text = "exceptions:\n" + "".join(body.format(n=n) for n in range(count))
    assert MAX_REGISTER_BYTES - size < len(text.encode()) <= MAX_REGISTER_BYTES
    assert len(parse_register(text).entries) == count


def test_a_megabyte_of_tiny_values_is_refused_early() -> None:
    text = "exceptions: [" + "a," * (MAX_REGISTER_BYTES // 2 - 20) + "a]\n"
    with pytest.raises(RegisterError) as raised:
        parse_register(text)
    assert str(raised.value).startswith(
        f"exceptions.yaml: more than {MAX_NODES} YAML values, far more than {MAX_ENTRIES} "
        "entries need at line 1, column ")


def test_many_bad_entries_give_a_bounded_message() -> None:
    message = _refused("exceptions:\n" + "- x\n" * 500)
    lines = message.splitlines()
    assert len(lines) == 51
    assert lines[0] == "exceptions.yaml: entry 1: expected a mapping of fields"
    assert lines[-1] == "exceptions.yaml: ... and 450 more errors"


def test_huge_integer_is_a_register_error_with_its_line() -> None:
    text = GOOD.replace("expires: 2027-01-31", "expires: " + "9" * 5000)
    assert _refused(text).startswith("exceptions.yaml: not valid YAML at line 10, column 14: "
                                     "cannot read the value")


def test_long_or_control_character_values_are_cut_and_escaped() -> None:
    text = GOOD.replace("kind: external-dependency", 'kind: "\\e[2J' + "v" * 10_000 + '"')
    message = _refused(text)
    assert "\x1b" not in message and "\\x1b[2J" in message
    assert len(message) < 400 and "(10004 characters)" in message


@pytest.mark.parametrize(("text", "message"), [
    ("exceptions: []\n\x00\n", "exceptions.yaml: not valid YAML at line 2: character #x0000 is "
     "not allowed"),
    ("exceptions: []\n---\nexceptions: []\n", "not valid YAML at line 2, column 1: expected a "
     "single document in the stream, but found another document"),
    ("exceptions: [] \n? [a, b]\n: c\n", "not valid YAML"),
    ("", "expected a top-level 'exceptions:' list"),
], ids=["NUL", "two documents", "list as key", "empty"])
def test_other_malformed_yaml(text: str, message: str) -> None:
    assert message in _refused(text)


def test_good_register_still_loads(write: object) -> None:
    (entry,) = load_register(write(GOOD)).entries  # type: ignore[operator]
    assert entry.principal == "arn:aws:iam::111111111111:user/alice"


BAD_FILES = {
    "alias bomb": alias_bomb().encode(),
    "not UTF-8": GOOD.encode("utf-16"),
    "duplicate key": (GOOD + "exceptions: []\n").encode(),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_cli_stops_on_a_bad_register_before_any_network(
    case: str, write: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.demo_run import run_cli

    def no_network(self: socket.socket, address: object) -> None:
        raise AssertionError(f"network call to {address} before the register was checked")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    path = write(BAD_FILES[case])  # type: ignore[operator]
    out = tmp_path / "runs"
    code, output = run_cli("audit", "--exceptions", str(path), "--out", str(out))
    assert code == 2
    assert output.startswith("error: exceptions.yaml: ") and output.count("\n") == 1, output
    assert "Traceback" not in output
    assert not out.exists()


def test_pure_python_parser_is_as_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml, PyYAML's own parser runs under the same composer and constructor."""
    from checks import exceptions

    monkeypatch.setattr(exceptions, "_Loader", exceptions._loader_class(with_libyaml=False))
    assert "YAML anchors are not allowed (&a) at line 1, column 4" in _refused(alias_bomb())
    assert "principal: duplicate key, at line 3 and again at line 12" in _refused(
        GOOD + "    principal: arn:aws:iam::111111111111:user/mallory\n")
    assert "expires: invalid date" in _refused(GOOD.replace("2027-01-31", "2027-13-31"))
    assert parse_register(GOOD).entries[0].expires.isoformat() == "2027-01-31"


def test_hostile_ticket_is_refused_in_one_short_printable_line() -> None:
    """A ticket is shown in the report and in messages: terminal escapes and huge values are
    refused, and the message neither replays them nor grows with them."""
    escape = GOOD.replace("approved_by: ciso", 'approved_by: ciso\n    ticket: "SEC-1\\e[2J"')
    message = _refused(escape)
    assert "\x1b" not in message and "\\x1b[2J" in message and "ticket: not a ticket id or URL" in message
    huge = GOOD.replace("approved_by: ciso", "approved_by: ciso\n    ticket: SEC-" + "9" * 500_000)
    message = _refused(huge)
    assert "ticket: not a ticket id or URL" in message and len(message) < 600
    assert "\n" not in message
