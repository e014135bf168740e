"""What the snapshot writer stores from odd values: nothing lost, nothing refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from store import snapshot

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _payload(page: int, body: object) -> dict[str, object]:
    return {"account_id": "111111111111", "source": "access_analyzer", "operation": "GetFindingV2",
            "page": page, "received_at": NOW, "payload": body}


def test_a_lone_surrogate_from_a_json_response_costs_only_that_character(tmp_path: Path) -> None:
    # json.loads('"\\ud800"') gives a lone surrogate, which no UTF-8 text can hold: DuckDB refused
    # the whole batch, and with it every other account's rows of the flush.
    con = snapshot.create(tmp_path / "snapshot.duckdb")
    odd = json.loads('{"resource": "arn:aws:iam::111111111111:user/a\\ud800b"}')
    snapshot.insert_rows(con, "iam_users", [
        {"account_id": "111111111111", "user_name": "a\ud800b", "arn": odd["resource"]},
        {"account_id": "222222222222", "user_name": "plain", "arn": "arn:aws:iam::222222222222:user/plain"},
    ])
    snapshot.insert_rows(con, "raw_payloads", [_payload(0, odd), _payload(1, {"ok": True})])

    assert con.execute("SELECT user_name, arn FROM iam_users ORDER BY account_id").fetchall() == [
        ("a\ufffdb", "arn:aws:iam::111111111111:user/a\ufffdb"),
        ("plain", "arn:aws:iam::222222222222:user/plain"),
    ]
    assert con.execute("SELECT payload->>'$.resource', payload::VARCHAR FROM raw_payloads "
                       "ORDER BY page").fetchall() == [
        ("arn:aws:iam::111111111111:user/a\ufffdb",
         '{"resource":"arn:aws:iam::111111111111:user/a\ufffdb"}'),
        (None, '{"ok":true}'),
    ]


def test_json_is_compact_and_keeps_what_json_dumps_kept(tmp_path: Path) -> None:
    con = snapshot.create(tmp_path / "snapshot.duckdb")
    snapshot.insert_rows(con, "raw_payloads", [
        _payload(0, {"when": NOW, "big": 2**70, 3: "int key", "text": "é</script>"}),
    ])
    (stored,) = con.execute("SELECT payload::VARCHAR FROM raw_payloads").fetchone()
    assert json.loads(stored) == {"when": str(NOW), "big": 2**70, "3": "int key",
                                  "text": "é</script>"}
    assert ", " not in stored and ": " not in stored


def _recorded(tmp_path: Path, body: dict[str, object]) -> tuple[object, str]:
    """`body` as a botocore client's response, recorded as evidence and written to a snapshot."""
    from flows.sources.session import AccountClients

    clients = AccountClients(session=None, account_id="111111111111")  # type: ignore[arg-type]
    clients.count_external_call("iam", "GetCredentialReport", {**body, "ResponseMetadata": {}})
    writer = snapshot.SnapshotWriter(snapshot.create(tmp_path / "snapshot.duckdb"))
    writer.add_account(snapshot.AccountData("111111111111"), clients.payloads)
    writer.flush()
    (text,) = writer.con.execute("SELECT payload::VARCHAR FROM raw_payloads").fetchone()
    return clients.payloads[0].body, text


def test_a_response_is_kept_as_the_same_json_text_it_always_was(tmp_path: Path) -> None:
    """Encoded once where it is received: datetimes as isoformat(), bytes as UTF-8 (else
    base64), secrets redacted, no ResponseMetadata: the text of earlier snapshots."""
    aware = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    body, text = _recorded(tmp_path, {
        "Content": b"user,arn\nalice,x\n", "Binary": b"\xff\xfe", "GeneratedTime": aware,
        "Naive": datetime(2026, 1, 2, 3, 4, 5), "Whole": datetime(2026, 1, 2, tzinfo=UTC),
        "Credentials": {"SecretAccessKey": "never-kept"}, "Nested": [{"At": aware, "N": 1.5}],
    })
    assert isinstance(body, bytes)
    assert text == (
        '{"Content":"user,arn\\nalice,x\\n","Binary":"//4=",'
        '"GeneratedTime":"2026-01-02T03:04:05.123456+00:00","Naive":"2026-01-02T03:04:05",'
        '"Whole":"2026-01-02T00:00:00+00:00","Credentials":{"redacted":true},'
        '"Nested":[{"At":"2026-01-02T03:04:05.123456+00:00","N":1.5}]}'
    )


def test_a_response_orjson_refuses_is_still_kept(tmp_path: Path) -> None:
    """A lone surrogate or an integer past 64 bits: the writer's own fallback encodes it."""
    odd = json.loads('{"Name": "a\\ud800b", "Big": 123456789012345678901234567890}')
    body, text = _recorded(tmp_path, {**odd, "At": NOW})
    assert isinstance(body, dict)
    assert json.loads(text) == {"Name": "a\ufffdb", "Big": 123456789012345678901234567890,
                                "At": "2026-12-01T00:00:00+00:00"}
