"""`chainlake query`: SQL over hot and cold data. With --as EMAIL it goes through the API as that
user (a dev-issuer token; RLS decides what it sees); without, it runs as the operator, locally."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import psycopg

from chainlake import results, tenancy
from chainlake.errors import ChainlakeError, InvalidInput, StackError
from chainlake.query import Session, jsonable, open_operator_session
from chainlake.stack import Stack
from chainlake.storage import open_store
from chainlake.tokens import issue_dev_token


def _via_api(stack: Stack, email: str, body: dict[str, Any]) -> Iterator[bytes]:
    url = stack.api_url()
    if url is None:
        raise StackError("the API is not running", "start the stack with `make up`")
    with psycopg.connect(stack.admin_url()) as conn:
        user = tenancy.user_by_email(conn, email)
    token = issue_dev_token(stack.settings.dev_issuer_dir, str(user["id"]), user["email"], 600)
    request = urllib.request.Request(  # noqa: S310 - the local stack's API (http on loopback)
        f"{url}/v1/query",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        response = urllib.request.urlopen(request, timeout=300)  # noqa: S310
    except urllib.error.HTTPError as exc:
        problem = json.loads(exc.read() or b"{}")
        raise InvalidInput(problem.get("detail", str(exc)), problem.get("hint")) from exc
    return _chunks(response)


def _chunks(response: Any) -> Iterator[bytes]:
    with response:
        while chunk := response.read(1 << 20):
            yield bytes(chunk)


def _locally(stack: Stack, sql: str, fmt: str, max_rows: int) -> Iterator[bytes]:
    session = open_operator_session(stack.admin_url(), open_store(stack.storage_url))
    try:
        result = session.execute(sql)
    except ChainlakeError:
        session.close()
        raise
    return _local_chunks(session, result, fmt, max_rows)


def _local_chunks(session: Session, result: Any, fmt: str, max_rows: int) -> Iterator[bytes]:
    try:
        if fmt == "json":
            yield json.dumps(results.json_page(result, max_rows)).encode()
        else:
            yield from results.stream(result, fmt)
    finally:
        session.close()


def _print_page(page: dict[str, Any]) -> None:
    click.echo("\t".join(c["name"] for c in page["columns"]))
    for row in page["rows"]:
        click.echo("\t".join("" if v is None else str(jsonable(v)) for v in row))
    if page["truncated"]:
        click.echo(f"(first {page['row_count']} rows; --max-rows or a download format for more)")


@click.command(
    help="SQL over the chain views (blocks, transactions, logs: hot and cold as one) "
    'and "<org>"."<dataset>" for each dataset you may read.'
)
@click.argument("sql")
@click.option("--as", "as_email", default=None, help="Query as this user (through the API).")
@click.option(
    "--format",
    "fmt",
    default="table",
    type=click.Choice(["table", *results.FORMATS]),
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the result here (downloads stream into it).",
)
@click.option("--max-rows", type=int, default=10_000, show_default=True)
def query(sql: str, as_email: str | None, fmt: str, out: Path | None, max_rows: int) -> None:
    wire = "json" if fmt == "table" else fmt
    try:
        stack = Stack.load()
        body = {"sql": sql, "format": wire, "max_rows": max_rows}
        chunks = (
            _via_api(stack, as_email, body) if as_email else _locally(stack, sql, wire, max_rows)
        )
        if out is not None:
            written = 0
            with out.open("wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    written += len(chunk)
            click.echo(f"wrote {written} bytes to {out}", err=True)
        elif fmt == "table":
            _print_page(json.loads(b"".join(chunks)))
        else:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
    except ChainlakeError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
