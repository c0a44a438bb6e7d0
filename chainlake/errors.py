"""One exception hierarchy. Each docstring is the user-facing meaning of the error.

Driver errors are translated once, here, keyed on SQLSTATE (never on message text). Our stored
functions raise with deliberate SQLSTATEs and a message written for the user, plus a hint.
"""

from __future__ import annotations

import psycopg


class ChainlakeError(Exception):
    """Something went wrong; the message says what and how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class InvalidInput(ChainlakeError):
    """The input was refused; nothing was changed."""

    exit_code = 2


class ResultTooLarge(InvalidInput):
    """The answer would pass a size cap; nothing was sent. The hint says how to get it."""


class NotFound(ChainlakeError):
    """The named object does not exist (or is not visible to you)."""

    exit_code = 3


class AlreadyExists(ChainlakeError):
    """The object exists already; nothing was changed."""

    exit_code = 4


class PermissionDenied(ChainlakeError):
    """You are not allowed to do this."""

    exit_code = 5


class QuotaExceeded(ChainlakeError):
    """A quota or rate limit of the org was reached; nothing was changed. Try again later."""

    exit_code = 7

    def __init__(self, message: str, hint: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class StackError(ChainlakeError):
    """A component of the local stack could not be started, reached or stopped."""

    exit_code = 6


_BY_SQLSTATE: dict[str, type[ChainlakeError]] = {
    "22023": InvalidInput,  # invalid_parameter_value
    "22P02": InvalidInput,  # invalid_text_representation
    "22P05": InvalidInput,  # untranslatable_character (\u0000 in JSON)
    "22003": InvalidInput,  # numeric_value_out_of_range
    "23514": InvalidInput,  # check_violation
    "23502": InvalidInput,  # not_null_violation
    "23505": AlreadyExists,  # unique_violation
    "55000": AlreadyExists,  # object_not_in_prerequisite_state: at odds with its state (409)
    "42704": NotFound,  # undefined_object
    "P0002": NotFound,  # no_data_found
    "42501": PermissionDenied,  # insufficient_privilege
}


def translate(exc: psycopg.Error) -> ChainlakeError:
    """Turn a driver error into the matching ChainlakeError, keeping Postgres' message and hint."""
    diag = exc.diag
    sqlstate = exc.sqlstate or ""
    message = diag.message_primary or str(exc).strip()
    if sqlstate == "53400":  # configuration_limit_exceeded: our quotas, detail retry_after=N
        detail = diag.message_detail or ""
        wait = detail.removeprefix("retry_after=")
        return QuotaExceeded(message, diag.message_hint, int(wait) if wait.isdigit() else 60)
    if not sqlstate and isinstance(exc, psycopg.DataError):  # refused before it was sent
        return InvalidInput(message)  # (a NUL character in text)
    cls = _BY_SQLSTATE.get(sqlstate, ChainlakeError)
    return cls(message, diag.message_hint)
