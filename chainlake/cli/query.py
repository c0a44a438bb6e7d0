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
from chainlake.cli.common import (
    AS_USER,
    acting,
    fail,
    handles_errors,
    parse_pairs,
    print_page,
    print_rows,
    profile_in_effect,
)
from chainlake.cli.progress import progress_bar
from chainlake.client import Client
from chainlake.domain import catalog as catalogue
from chainlake.domain import grants, saved
from chainlake.domain import query as queries
from chainlake.errors import ChainlakeError, InvalidInput, StackError
from chainlake.local.stack import Stack
from chainlake.query import Session, open_operator_session
from chainlake.tokens import issue_dev_token


def _via_api(
    stack: Stack, email: str, body: dict[str, Any], path: str = "/v1/query"
) -> Iterator[bytes]:
    url = stack.api_url()
    if url is None:
        raise StackError("the API is not running", "start the stack with `make up`")
    with psycopg.connect(stack.admin_url()) as conn:
        user = tenancy.user_by_email(conn, email)
    token = issue_dev_token(stack.settings.dev_issuer_dir, str(user["id"]), user["email"], 600)
    request = urllib.request.Request(  # noqa: S310 - the local stack's API (http on loopback)
        f"{url}{path}",
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


def run_locally(
    stack: Stack, sql: str, fmt: str, max_rows: int, params: dict[str, Any] | None = None
) -> Iterator[bytes]:
    session = open_operator_session(stack.admin_url(), stack.open_store(), sql)
    try:
        result = session.execute(sql, params)
    except ChainlakeError:
        session.close()
        raise
    return _local_chunks(session, result, fmt, max_rows)


def _local_chunks(session: Session, result: Any, fmt: str, max_rows: int) -> Iterator[bytes]:
    try:
        if fmt == "json":
            yield results.json_page(result, max_rows)
        else:
            yield from results.stream(result, fmt)
    finally:
        session.close()


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
        profile = profile_in_effect()
        if profile is not None:  # through the API, as the user signed in to it
            _emit(_via_profile(profile, as_email, sql, wire, max_rows), fmt, out)
            return
        stack = Stack.load()
        body = {"sql": sql, "format": wire, "max_rows": max_rows}
        chunks = (
            _via_api(stack, as_email, body) if as_email else run_locally(stack, sql, wire, max_rows)
        )
        _emit(chunks, fmt, out)
    except ChainlakeError as exc:
        fail(exc)


def _via_profile(
    profile: str, as_email: str | None, sql: str, fmt: str, max_rows: int
) -> Iterator[bytes]:
    if as_email:
        raise InvalidInput(f"--as has no meaning with profile {profile}: you act as yourself")
    with Client.from_profile(profile) as api:
        if fmt == "json":
            yield json.dumps(api.query(sql=sql, max_rows=max_rows)).encode()
        else:
            yield from api.query_stream(sql=sql, format=fmt)  # type: ignore[arg-type]


def _saved_via_profile(
    profile: str, as_email: str | None, org: str, name: str, params: dict[str, Any], fmt: str
) -> Iterator[bytes]:
    if as_email:
        raise InvalidInput(f"--as has no meaning with profile {profile}: you act as yourself")
    with Client.from_profile(profile) as api:
        if fmt == "json":
            yield json.dumps(api.run_saved_query(org=org, name=name, params=params)).encode()
        else:
            yield from api.run_saved_query_stream(
                org=org,
                name=name,
                params=params,
                format=fmt,  # type: ignore[arg-type]
            )


def _emit(chunks: Iterator[bytes], fmt: str, out: Path | None) -> None:
    if out is not None:
        written = 0
        with out.open("wb") as f, progress_bar(f"writing {out.name}", "bytes") as advance:
            for chunk in chunks:
                f.write(chunk)
                written += len(chunk)
                advance(written, None)
        click.echo(f"wrote {written} bytes to {out}", err=True)
    elif fmt == "table":
        print_page(json.loads(b"".join(chunks)))
    else:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)


@click.group(help="The catalog: search what you may see.")
def catalog() -> None:
    pass


@catalog.command("search", help="Datasets, columns, jobs and saved queries matching TERM.")
@click.argument("term")
@AS_USER
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def catalog_search(term: str, as_email: str | None, as_json: bool) -> None:
    if not term.strip():
        raise InvalidInput("TERM is empty")
    with acting(as_email) as act:
        found = act(catalogue.search_catalog, q=term, limit=200)

    def line(r: dict[str, Any]) -> str:
        return f"{r['kind']:<12} {r['org']}/{r['name']}  ({r['matched']}) {r['description']}"

    print_rows(found, as_json, line, f"nothing matches {term!r}")


@click.group("saved-query", help="Saved queries: create, list, show, run, delete.")
def saved_query() -> None:
    pass


@saved_query.command("create", help="Create or replace your saved query NAME (needs --as).")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--sql", required=True)
@click.option("--visibility", type=click.Choice(["private", "org"]), default="private")
@click.option("--description", default="")
@click.option("--param", "param_pairs", multiple=True, help="NAME=DEFAULT (repeatable)")
@AS_USER
@handles_errors
def saved_create(
    name: str,
    org_name: str,
    sql: str,
    visibility: str,
    description: str,
    param_pairs: tuple[str, ...],
    as_email: str | None,
) -> None:
    if not as_email and profile_in_effect() is None:  # through a profile: who signed in
        raise InvalidInput("a saved query has an owner", "name them with --as EMAIL")
    with acting(as_email) as act:
        act(
            saved.save_query,
            org=org_name,
            name=name,
            sql=sql,
            visibility=visibility,
            description=description,
            params=parse_pairs(param_pairs),
        )
    click.echo(f"saved {org_name}/{name} ({visibility})")


@saved_query.command("list", help="Your saved queries and those your orgs share.")
@AS_USER
@click.option("--json", "as_json", is_flag=True)
def saved_list(as_email: str | None, as_json: bool) -> None:
    def line(r: dict[str, Any]) -> str:
        return f"{r['org']}/{r['name']}  {r['visibility']}  {r['owner']}  {r['description']}"

    with acting(as_email) as act:
        found = act(saved.list_saved_queries, limit=1000)
    print_rows(found, as_json, line)


@saved_query.command("run", help="Run saved query NAME with --param NAME=VALUE.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--param", "param_pairs", multiple=True)
@click.option(
    "--format",
    "fmt",
    default="table",
    type=click.Choice(["table", *results.FORMATS]),
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@AS_USER
def saved_run(
    name: str,
    org_name: str,
    param_pairs: tuple[str, ...],
    fmt: str,
    out: Path | None,
    as_email: str | None,
) -> None:
    wire = "json" if fmt == "table" else fmt
    try:
        params = parse_pairs(param_pairs)
        profile = profile_in_effect()
        if profile is not None:  # through the API, as the user signed in to it
            _emit(_saved_via_profile(profile, as_email, org_name, name, params, wire), fmt, out)
            return
        stack = Stack.load()
        if as_email:
            body = {"params": params, "format": wire}
            path = f"/v1/saved-queries/{org_name}/{name}/run"
            chunks = _via_api(stack, as_email, body, path)
        else:
            with acting(None) as act:
                found = act(saved.get_saved_query, org=org_name, name=name)
            merged = queries.saved_query_params(found, params)
            chunks = run_locally(stack, found["sql"], wire, 10_000, merged)
        _emit(chunks, fmt, out)
    except ChainlakeError as exc:
        fail(exc)


@saved_query.command("delete", help="Delete your saved query NAME (needs --as).")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@AS_USER
@handles_errors
def saved_delete(name: str, org_name: str, as_email: str | None) -> None:
    with acting(as_email) as act:
        act(saved.delete_saved_query, org=org_name, name=name)
    click.echo(f"deleted {org_name}/{name}")


@click.group(help="Share one dataset or saved query with another org (read-only).")
def share() -> None:
    pass


KIND = click.argument("kind", type=click.Choice(["dataset", "saved_query"]))


def _object(ref: str) -> tuple[str, str]:
    org_name, sep, name = ref.partition("/")
    if not sep or not org_name or not name:
        raise InvalidInput(f"{ref!r} is not ORG/NAME", "for example: acme/transfers")
    return org_name, name


def _as_someone(as_email: str | None) -> str | None:
    if not as_email and profile_in_effect() is None:  # through a profile: who signed in
        raise InvalidInput("sharing is done by a person", "name them with --as EMAIL")
    return as_email


@share.command("grant", help="Let org --with read dataset or saved_query ORG/NAME.")
@KIND
@click.argument("ref", metavar="ORG/NAME")
@click.option("--with", "grantee", required=True, help="The org to share with.")
@AS_USER
@handles_errors
def share_grant(kind: str, ref: str, grantee: str, as_email: str | None) -> None:
    org_name, name = _object(ref)
    with acting(_as_someone(as_email)) as act:
        act(grants.grant_read, kind=kind, org=org_name, name=name, grantee=grantee)
    click.echo(f"shared {kind} {ref} with org {grantee}")


@share.command("revoke", help="Stop sharing dataset or saved_query ORG/NAME with org --from.")
@KIND
@click.argument("ref", metavar="ORG/NAME")
@click.option("--from", "grantee", required=True, help="The org that loses access.")
@AS_USER
@handles_errors
def share_revoke(kind: str, ref: str, grantee: str, as_email: str | None) -> None:
    org_name, name = _object(ref)
    with acting(_as_someone(as_email)) as act:
        act(grants.revoke_read, kind=kind, org=org_name, name=name, grantee=grantee)
    click.echo(f"org {grantee} no longer reads {kind} {ref}")


@share.command("list", help="What your orgs share, and what is shared with them.")
@AS_USER
@click.option("--json", "as_json", is_flag=True)
def share_list(as_email: str | None, as_json: bool) -> None:
    def line(r: dict[str, Any]) -> str:
        by = f"  by {r['granted_by']}" if r["granted_by"] else ""  # hidden outside the grantor
        return f"{r['kind']:<12} {r['org']}/{r['name']} -> {r['grantee']}{by}"

    with acting(as_email) as act:
        found = act(grants.list_grants, limit=1000)
    print_rows(found, as_json, line, "nothing is shared")
