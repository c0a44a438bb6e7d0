"""docs/api.md lists every operation the API serves, as the API's own document says it."""

from __future__ import annotations

from api.reference import DOC, openapi_document, table, with_table


def test_the_endpoint_table_is_what_the_api_serves() -> None:
    committed = DOC.read_text()
    assert committed == with_table(committed, table(openapi_document())), (
        "docs/api.md's endpoint table is out of date: run `python -m api.reference`"
    )
