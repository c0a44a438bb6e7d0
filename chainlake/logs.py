"""Structured logs: every process writes one JSON object per line on stderr, through the standard
`logging` machinery (docs/operations.md, "Logs").

A line holds `time` (RFC 3339, UTC, milliseconds), `level`, `logger`, `process` (the name given
to `configure`: "api", "runner", "devchain"), `msg`, `exc` (a formatted traceback, one string)
when there is an exception, and the context fields that apply where it was logged: `org`,
`run_id`, `job`, `trace_id`, and whatever else the code set. Context is carried by `contextvars`:
`log_context(**fields)` opens a scope (an attempt, a request) whose fields every line inside
carries; `bind(**fields)` adds to the innermost open scope (visible to threads started with a
copy of the context, since the scope's fields are one shared mapping).

A scope may hold a `redact` callable (str -> str): the message, the traceback and every string
of the fields passed with a line (`extra=`) logged inside it go through it before it is written,
so the values it knows (a run's secrets) never reach the log. The names the platform gives the
line (time, level, logger, process, the scope's fields) are left as they are: a secret may be an
ordinary word (a bucket named like the logger).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

Redact = Callable[[str], str]
REDACT = "redact"  # the context key of the redacting callable (never written)
# loggers of libraries that say a line per client made or per connection at INFO
QUIET = ("botocore", "boto3", "urllib3", "docker", "s3transfer", "uvicorn.access")

LEVEL_VARIABLE = "CHAINLAKE_LOG_LEVEL"
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING}
LEVELS |= {"ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}
# loggers that frameworks give handlers of their own (raw text lines): made to propagate to ours
OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar")

_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "chainlake_log_fields", default=None
)
_process = {"name": "chainlake"}


@contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """A scope whose fields (those not None) every line logged inside carries; the enclosing
    scope's fields are kept unless named again."""
    merged = {**(_fields.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _fields.set(merged)
    try:
        yield merged
    finally:
        _fields.reset(token)


def bind(**fields: Any) -> None:
    """Add fields (those not None) to the innermost open scope; nothing when none is open."""
    current = _fields.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def _rfc3339(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _plain(value: Any) -> Any:
    """A value JSON can hold (anything else as its text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _redacted(value: Any, redact: Redact) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, redact) for v in value]
    return value


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError) as exc:  # arguments that do not fit the format: say so
        return f"{record.msg} (its arguments {record.args!r} did not format: {exc})"


# attributes every LogRecord has: the rest came by `extra=` and are written as fields
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, whatever the message or traceback holds."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "process": _process["name"],
            "msg": _message(record),
        }
        said = {k: _plain(v) for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            said["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            said["exc"] = record.exc_text
        if record.stack_info:
            said["stack"] = self.formatStack(record.stack_info)
        scope = _fields.get() or {}
        redact = scope.get(REDACT)
        if callable(redact):  # what was said, not the names the platform gave the line
            line["msg"] = redact(line["msg"])
            said = _redacted(said, redact)
        line.update({k: _plain(v) for k, v in scope.items() if k != REDACT})
        line.update({k: v for k, v in said.items() if k != REDACT})
        return json.dumps(line, ensure_ascii=False, default=str)


def level_named(name: str | None) -> tuple[int, str | None]:
    """The level `name` (CHAINLAKE_LOG_LEVEL) means, and what is wrong with it (then INFO)."""
    if not name:
        return logging.INFO, None
    level = LEVELS.get(name.strip().upper())
    if level is None:
        return logging.INFO, (
            f"{LEVEL_VARIABLE}={name!r} is not a level: logging at INFO; "
            f"set it to one of {', '.join(LEVELS)} (or leave it unset)"
        )
    return level, None


def configure(process_name: str, level: int | str | None = None) -> None:
    """Every line of this process, third-party loggers' included, as JSON on stderr, named
    `process_name`, from `level` (default: CHAINLAKE_LOG_LEVEL, else INFO; a value that is no
    level is said in one line and INFO used). Called by each entrypoint; calling again replaces
    the setup."""
    problem = None
    if level is None:
        level, problem = level_named(os.environ.get(LEVEL_VARIABLE))
    _process["name"] = process_name
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in OWN_HANDLERS:
        named = logging.getLogger(name)
        for old in list(named.handlers):
            named.removeHandler(old)
        named.propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught
    if problem:
        logging.getLogger("chainlake").warning(problem)


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """An exception nothing caught ends the process as one line, not as raw traceback lines."""
    logging.getLogger("chainlake").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread else "?"
    logging.getLogger("chainlake").error(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )
