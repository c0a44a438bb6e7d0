"""`chainlake chain ...` and `chainlake devchain`: the operator's chain-data commands. They act as
the chain-writing role (chainlake_ingest) of the local stack, or of CHAINLAKE_DATABASE_URL."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import psycopg

from chainlake.chain.archive import archive, backfill
from chainlake.chain.ingest import ChainConfig
from chainlake.chain.integrity import repair
from chainlake.cli.common import AS_OPTION, acting, fail, print_page
from chainlake.cli.progress import progress_bar
from chainlake.cli.query import run_locally
from chainlake.db import INGEST_ROLE
from chainlake.domain import chain as chain_ops
from chainlake.errors import ChainlakeError, InvalidInput
from chainlake.local.stack import Stack
from chainlake.storage import ObjectStore


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


class ChainContext:
    def __init__(self) -> None:
        self.stack = Stack.load()
        self.url = self.stack.platform_url(INGEST_ROLE)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)

    def store(self) -> ObjectStore:
        return self.stack.open_store()

    def chain_id(self, conn: psycopg.Connection[Any], given: int | None) -> int:
        if given is not None:
            return given
        ids = chain_ops.chain_ids(conn)
        if len(ids) != 1:
            raise InvalidInput(
                f"{len(ids)} chains are registered ({ids}): name one with --chain"
                if ids
                else "no chain is registered yet: `make up` starts the devchain and its ingest"
            )
        return int(ids[0])

    def config(
        self, conn: psycopg.Connection[Any], chain_id: int, rpc: tuple[str, ...]
    ) -> ChainConfig:
        urls = list(rpc)
        if not urls and os.environ.get("CHAINLAKE_RPC_URL"):
            urls = os.environ["CHAINLAKE_RPC_URL"].split(",")
        info = self.stack.devchain_info()
        if not urls and info and int(info["chain_id"]) == chain_id:
            urls = [info["url"]]
        if not urls:
            raise InvalidInput(f"no RPC endpoint for chain {chain_id}", "give one with --rpc URL")
        row = chain_ops.chain_settings(conn, chain_id=chain_id)
        return ChainConfig(
            chain_id=chain_id,
            name=row["name"],
            rpc_urls=urls,
            start_block=row["start_block"],
            finality_depth=row["finality_depth"],
            chunk_size=row["chunk_size"],
            use_finalized_tag=True,
        )


CHAIN_OPTION = click.option("--chain", "chain_id", type=int, default=None, help="chain id")
RPC_OPTION = click.option("--rpc", multiple=True, help="RPC endpoint (repeat for failover)")


@click.group(help="Chain data: status, integrity check and repair, backfill, archive, SQL.")
def chain() -> None:
    pass


@chain.command("status", help="Each chain: hot head, finalized block, watermark, reorgs.")
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
def chain_status(as_json: bool, as_email: str | None) -> None:
    try:
        with acting(as_email) as act:
            rows = act(chain_ops.chain_status)["chains"]
    except ChainlakeError as exc:
        fail(exc)
        return
    if as_json:
        _echo_json({"chains": rows})
        return
    for r in rows:
        click.echo(
            f"{r['chain_id']} {r['name']}: head {r['head']}, finalized {r['finalized']}, "
            f"watermark {r['watermark']}, {r['hot_blocks']} hot blocks, {r['chunks']} chunks, "
            f"{r['reorgs']} reorgs"
            + (f"  STOPPED: {r['stopped_reason']}" if r["stopped_reason"] else "")
        )
        if r["last_reorg"]:
            click.echo(f"  {_reorg_line(r['last_reorg'])}")


def _reorg_line(reorg: dict[str, Any]) -> str:
    """The last reorg and the datasets whose partitions it superseded."""
    datasets = ", ".join(
        f"{d['org']}/{d['dataset']} ({d['partitions']} partition(s))" for d in reorg["invalidated"]
    )
    return (
        f"last reorg {reorg['id']}: {reorg['depth']} block(s) from block {reorg['fork_block'] + 1}"
        f" at {reorg['detected_at']}; invalidated: {datasets or 'no derived data'}"
    )


@chain.command("check", help="Find missing blocks, broken hash chains, missing or altered chunks.")
@CHAIN_OPTION
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
def chain_check(chain_id: int | None, as_json: bool, as_email: str | None) -> None:
    try:
        with acting(as_email) as act:
            found = act(chain_ops.chain_check, chain_id=chain_id, store=act.store())
    except ChainlakeError as exc:
        fail(exc)
        return
    cid, problems = found["chain_id"], found["problems"]
    if as_json:
        _echo_json(found)
    elif problems:
        for p in problems:
            click.echo(f"{p['kind']:<22} {p['from_block']}..{p['to_block']}  {p['detail']}")
    else:
        click.echo(f"chain {cid}: no problems")
    sys.exit(1 if problems else 0)


@chain.command("repair", help="Re-fetch from the node what `chain check` finds, and fix it.")
@CHAIN_OPTION
@RPC_OPTION
def chain_repair(chain_id: int | None, rpc: tuple[str, ...]) -> None:
    try:
        ctx = ChainContext()
        with ctx.connect() as conn:
            cid = ctx.chain_id(conn, chain_id)
            left = repair(conn, ctx.url, ctx.store(), ctx.config(conn, cid, rpc), log=click.echo)
    except ChainlakeError as exc:
        fail(exc)
        return
    for p in left:
        click.echo(f"left: {p.kind} {p.from_block}..{p.to_block}  {p.detail}")
    click.echo(f"chain {cid}: " + ("repaired" if not left else f"{len(left)} problem(s) left"))
    sys.exit(1 if left else 0)


@chain.command("backfill", help="Historical blocks to cold Parquet chunks (resumable).")
@click.option("--from", "first", type=int, required=True)
@click.option("--to", "last", type=int, required=True)
@click.option("--workers", type=int, default=4, show_default=True)
@CHAIN_OPTION
@RPC_OPTION
def chain_backfill(
    first: int, last: int, workers: int, chain_id: int | None, rpc: tuple[str, ...]
) -> None:
    if first > last:
        fail(InvalidInput(f"--from {first} is after --to {last}"))
    try:
        ctx = ChainContext()
        with ctx.connect() as conn:
            cid = ctx.chain_id(conn, chain_id)
            config = ctx.config(conn, cid, rpc)
            with progress_bar(f"chain {cid} backfill", "chunks") as advance:
                backfill(
                    conn,
                    ctx.store(),
                    config.rpc(),
                    cid,
                    first,
                    last,
                    workers=workers,
                    log=click.echo,
                    advance=advance,
                )
    except ChainlakeError as exc:
        fail(exc)


@chain.command("archive", help="Move finalized hot blocks to cold chunks now.")
@CHAIN_OPTION
def chain_archive(chain_id: int | None) -> None:
    try:
        ctx = ChainContext()
        with ctx.connect() as conn:
            cid = ctx.chain_id(conn, chain_id)
            done = archive(conn, ctx.store(), cid, log=click.echo)
    except ChainlakeError as exc:
        fail(exc)
        return
    click.echo(f"chain {cid}: {len(done.written)} chunk(s) archived")


@chain.command("sql", help="The operator's `chainlake query`: SQL over blocks, transactions, logs.")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True)
def chain_sql(query: str, as_json: bool) -> None:
    try:
        stack = Stack.load()
        page = json.loads(b"".join(run_locally(stack, query, "json", 10_000)))
    except ChainlakeError as exc:
        fail(exc)
        return
    if as_json:
        names = [c["name"] for c in page["columns"]]
        _echo_json([dict(zip(names, row, strict=True)) for row in page["rows"]])
    else:
        print_page(page)


@click.command(
    "devchain",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    help="Run the devchain in the foreground (anvil at 400 ms blocks, an ERC-20, traffic, a "
    "price feed). Options: --port --chain-id --block-time --tx-rate --feed-port.",
)
@click.pass_context
def devchain(ctx: click.Context) -> None:
    from chainlake.local.devchain import main as devchain_main

    sys.exit(devchain_main(list(ctx.args)))
