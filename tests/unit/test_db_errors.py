"""What a database failure means for the caller (db/errors.py): 503, 409, 422 or a bug."""

from __future__ import annotations

from sqlalchemy import exc

from tenure.db.errors import classify


class _Orig(Exception):
    pass


def test_a_constraint_violation_is_a_conflict_naming_the_constraint() -> None:
    error = exc.IntegrityError(
        "INSERT", {}, _Orig('duplicate key value violates unique constraint "uq_x"')
    )
    failure = classify(error)
    assert failure is not None and failure.kind == "conflict"
    assert "uq_x" in failure.detail


def test_a_value_that_does_not_fit_is_invalid() -> None:
    failure = classify(exc.DataError("UPDATE", {}, _Orig('value too long for column "email"')))
    assert failure is not None and failure.kind == "invalid" and failure.field == "email"
    sqlite = classify(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert sqlite is not None and sqlite.kind == "invalid"


def test_a_database_that_does_not_answer_is_unavailable() -> None:
    for error in (
        exc.OperationalError("SELECT 1", {}, _Orig("canceling statement due to timeout")),
        exc.TimeoutError("QueuePool limit reached, connection timed out"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        exc.InterfaceError("SELECT 1", {}, _Orig("connection is closed")),
    ):
        failure = classify(error)
        assert failure is not None and failure.kind == "unavailable", error


def test_wrapped_causes_are_found() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("while reading") from inner
    except RuntimeError as outer:
        failure = classify(outer)
    assert failure is not None and failure.kind == "unavailable"


def test_anything_else_is_not_a_database_failure() -> None:
    assert classify(ValueError("a bug")) is None
    assert classify(KeyError("x")) is None


def test_a_value_the_driver_cannot_send_is_invalid() -> None:
    error = exc.DBAPIError(
        "SELECT", {}, _Orig("invalid input for query argument $1: 2164911041 (out of int64 range)")
    )
    failure = classify(error)
    assert failure is not None and failure.kind == "invalid"
