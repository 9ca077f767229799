"""Outgoing replies checked against the schema: strict under test, sampled in production."""

from __future__ import annotations

import pytest
import structlog

from hvballoond.dispatch.schema_check import (
    PRODUCTION_CHECKS_PER_NAME,
    PRODUCTION_ITEMS_PER_LIST,
    OutgoingChecker,
)
from hvballoond.qapi import validation
from hvballoond.wire.values import JSONObject, JSONValue


def memdev(ident: str, **changes: JSONValue) -> JSONObject:
    entry: JSONObject = {"id": ident, "size": 1 << 20, "merge": True, "dump": True,
                         "prealloc": False, "share": False, "reserve": True, "host-nodes": [],
                         "policy": "default"}
    entry.update(changes)
    return entry


def test_check_value_bounds_the_elements_it_looks_at() -> None:
    entries: list[JSONValue] = [memdev(f"m{i}") for i in range(20)]
    entries[10] = memdev("bad", size=None)
    with pytest.raises(validation.SchemaViolation, match=r"\[10\]"):
        validation.check_value("MemdevList", entries, what="return of query-memdev")
    validation.check_value("MemdevList", entries, what="return of query-memdev", max_items=10)


def test_production_logs_a_mismatch_among_the_first_elements_and_answers_anyway() -> None:
    checker = OutgoingChecker(strict=False)
    bad: list[JSONValue] = [memdev("m0"), memdev("m1", size=None)]
    with structlog.testing.capture_logs() as logs:
        assert checker.check_return("query-memdev", bad) is None
    assert [entry["event"] for entry in logs] == ["qmp.return.schema_mismatch"]
    assert "[1].size" in logs[0]["problem"]


def test_production_samples_the_first_replies_and_the_first_elements_only() -> None:
    checker = OutgoingChecker(strict=False)
    late_bad: list[JSONValue] = [memdev(f"m{i}") for i in range(PRODUCTION_ITEMS_PER_LIST)]
    late_bad.append(memdev("late", size=None))
    with structlog.testing.capture_logs() as logs:
        for _ in range(PRODUCTION_CHECKS_PER_NAME + 2):
            checker.check_return("query-memdev", late_bad)
        checker.check_return("query-memdev", [memdev("m0", size=None)])  # not due any more
    assert logs == []


def test_strict_checking_reports_every_element() -> None:
    checker = OutgoingChecker(strict=True)
    late_bad: list[JSONValue] = [memdev(f"m{i}") for i in range(PRODUCTION_ITEMS_PER_LIST)]
    late_bad.append(memdev("late", size=None))
    problem = checker.check_return("query-memdev", late_bad)
    # pydantic's report names the element by its index
    assert problem is not None and f"\n{PRODUCTION_ITEMS_PER_LIST}.size\n" in problem
