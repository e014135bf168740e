"""Writing one control's Great Expectations restatement without repeating its id.

Every expectation carries `meta` {control_id, counts, says}: `counts` names the rule's count it
must reproduce, `fail` (after exceptions) or `fail+excepted` (before); checks/validate.py adds
the unexpected counts per control and tag and compares. GX is imported only when a suite is
built, so importing the catalogue stays cheap.
"""

from __future__ import annotations

from typing import Any

from checks.settings import Settings

TRUE, FALSE = 1, 0  # how flags are encoded in the facts dataframes


class Expect:
    """The expectations of one control: `x.check(Expectation, counts, says, *where, **kwargs)`."""

    def __init__(self, control_id: str, settings: Settings | None = None) -> None:
        from checks.gx_import import Column, gx

        self.control_id = control_id
        self.settings = settings or Settings()  # the thresholds the rules were run with
        self.e = gx.expectations
        self.Column = Column

    def where(self, *conditions: Any) -> Any:
        """The row condition: this control's rows, and every extra condition."""
        condition = self.Column("control_id") == self.control_id
        for extra in conditions:
            condition = condition & extra
        return condition

    def check(self, expectation: type, counts: str, says: str, *where: Any, **kwargs: Any) -> Any:
        """One expectation on this control's rows (and `where`), tagged with what it reproduces."""
        return expectation(
            row_condition=self.where(*where),
            meta={"control_id": self.control_id, "counts": counts, "says": says},
            **kwargs,
        )

    def flag(self, column: str) -> Any:
        """Row condition: the flag column is true."""
        return self.Column(column) == TRUE

    def unflagged(self, column: str) -> Any:
        return self.Column(column) == FALSE
