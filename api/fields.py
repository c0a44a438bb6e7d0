"""What the API accepts, said once and in the OpenAPI document: each constraint here is one the
server enforces (its stored functions' checks, sql/ and migrations/), so that a request the
document calls valid is never refused for its shape (schemathesis' positive_data_acceptance),
and one it calls invalid is a 400 naming the field."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from litestar.openapi.spec import OpenAPIFormat
from litestar.params import KwargDefinition, PathParameter, QueryParameter
from msgspec import Meta

from chainlake.errors import InvalidInput

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # orgs, saved queries, alert rules and channels
DATASET_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
SECRET_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"  # noqa: S105 - a name's pattern, no secret
SUBJECT_PATTERN = r"^0[xX][0-9a-fA-F]{40}$"
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
NO_NUL = r"^[^\x00]*$"  # Postgres text holds no NUL

MAX_BIGINT = 2**63 - 1

# body fields (msgspec)
Name = Annotated[str, Meta(pattern=NAME_PATTERN, min_length=1, max_length=63)]
SecretName = Annotated[str, Meta(pattern=SECRET_PATTERN, min_length=1, max_length=63)]
Subject = Annotated[str, Meta(pattern=SUBJECT_PATTERN, min_length=42, max_length=42)]
Kind = Annotated[str, Meta(pattern=KIND_PATTERN, min_length=1, max_length=32)]
Text = Annotated[str, Meta(pattern=NO_NUL, max_length=10_000)]
NOT_BLANK = r"^[^\x00]*\S[^\x00]*$"
Sql = Annotated[str, Meta(pattern=NOT_BLANK, min_length=1, max_length=100_000)]
MaxRows = Annotated[int, Meta(ge=1, le=100_000)]

# path and query parameters (Litestar)
OrgParam = Annotated[str, PathParameter(pattern=NAME_PATTERN, min_length=1, max_length=63)]
NameParam = Annotated[str, PathParameter(pattern=NAME_PATTERN, min_length=1, max_length=63)]
DatasetParam = Annotated[str, PathParameter(pattern=DATASET_PATTERN, min_length=1, max_length=63)]
SecretParam = Annotated[str, PathParameter(pattern=SECRET_PATTERN, min_length=1, max_length=63)]
SubjectParam = Annotated[str, QueryParameter(pattern=SUBJECT_PATTERN, min_length=42, max_length=42)]
# a larger limit is served as the largest page (1000), a smaller one as a page of one
Limit = Annotated[int, QueryParameter(description="At most this many items (1 to 1000).")]


# Litestar documents neither the constraints of a list's items nor those of a dict's keys and
# values (msgspec enforces them): say them in the document too.
def _item(kind: str, pattern: str, max_length: int) -> dict[str, Any]:
    return {"type": kind, "pattern": pattern, "minLength": 1, "maxLength": max_length}


COLUMN_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
Column = Annotated[str, Meta(pattern=COLUMN_PATTERN, min_length=1, max_length=63)]
Names = Annotated[
    list[Name], KwargDefinition(schema_extra={"items": _item("string", NAME_PATTERN, 63)})
]
Columns = Annotated[
    list[Column], KwargDefinition(schema_extra={"items": _item("string", COLUMN_PATTERN, 63)})
]
Key = Annotated[str, Meta(pattern=r"^[^\x00]+$", min_length=1, max_length=200)]
Scalar = Annotated[str, Meta(pattern=NO_NUL, max_length=10_000)] | int | float | bool | None
SCALAR = {
    "anyOf": [
        {"type": "string", "pattern": NO_NUL, "maxLength": 10_000},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
Settings = Annotated[
    dict[Key, Scalar],
    KwargDefinition(
        schema_extra={
            "propertyNames": {"pattern": r"^[^\x00]+$", "minLength": 1, "maxLength": 200},
            "additionalProperties": SCALAR,
        }
    ),
]

Cursor = Annotated[
    str | None,
    QueryParameter(
        pattern=NO_NUL, min_length=1, max_length=400, description="The `next` of the page before."
    ),
]


def clamp(limit: int) -> int:
    """The page size served for `limit`: 1 to 1000."""
    return max(1, min(limit, 1000))


# What each pattern means, in the words a 400 uses instead of the regular expression.
PATTERN_WORDS = {
    NAME_PATTERN: "a name of lowercase letters, digits, _ and -, starting with a letter or digit "
    "(at most 63 characters)",
    DATASET_PATTERN: "a dataset name of lowercase letters, digits, _, . and -, starting with a "
    "letter or digit (at most 63 characters)",
    SECRET_PATTERN: "a secret name of lowercase letters, digits and _, starting with a letter "
    "(at most 63 characters)",
    SUBJECT_PATTERN: "an address: 0x and 40 hexadecimal digits",
    KIND_PATTERN: "a kind of lowercase letters, digits and _, starting with a letter",
    COLUMN_PATTERN: "a column name of lowercase letters, digits and _",
    NO_NUL: "text without NUL characters",
    NOT_BLANK: "text that is not empty or blank (and holds no NUL characters)",
}


def plain_words(message: str) -> str:
    """A validation message with a regular expression it names said in words (msgspec writes
    `Expected `str` matching regex '<pattern, backslashes doubled>'`)."""
    for pattern, words in PATTERN_WORDS.items():
        said = f"matching regex '{pattern.replace(chr(92), chr(92) * 2)}'"
        if said in message:
            return message.replace(f"`str` {said}", words).replace(said, words)
    return message


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
# a query parameter holding a time: the document says date-time (RFC 3339), and so does the server
Timestamp = Annotated[
    str | None, QueryParameter(format=OpenAPIFormat.DATE_TIME, min_length=20, max_length=40)
]


def rfc3339(value: str | None, field: str) -> str | None:
    """`value` if it is an RFC 3339 date-time (as the document says), else a 400 naming `field`."""
    if value is None:
        return None
    try:
        if not RFC3339.match(value):
            raise ValueError(value)
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"{field}: {value!r} is not an RFC 3339 date-time", "e.g. 2026-12-07T15:00:00Z"
        ) from exc
    return value
