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
