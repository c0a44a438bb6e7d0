"""/v1/runs and /v1/dead-letters: runs (list with filters and pages, show, logs as a JSON page
or followed as server-sent events, cancel, rerun, rerun from failure) and dead letters (list,
replay). Each handler is one domain operation (chainlake.domain.runs) as the caller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.openapi.spec import Operation
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import Stream

from api.fields import Timestamp, rfc3339
from api.problems import PROBLEMS
from api.session import Page, Req, caller, perform
from api.streams import HEARTBEAT_SECONDS, event, hold, with_event_stream
from chainlake.domain import runs

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RunId = Annotated[str, PathParameter(pattern=UUID_PATTERN, description="a run id (UUID)")]
Status = Literal["queued", "running", "retrying", "succeeded", "failed", "dead", "cancelled"]
FOLLOWS_PER_CALLER = 2  # server-sent event streams one caller may hold open at once
WAITS_PER_CALLER = 4  # GET run with `wait` one caller may hold at once
POLL_SECONDS = 0.5
MAX_FOLLOW_SECONDS = 3600


class Rerun(msgspec.Struct):
    from_failure: bool = False


def _page(found: dict[str, Any]) -> Page:
    return Page(found["items"], found["next"])


@get("/v1/runs", operation_id="listRuns", responses=PROBLEMS, sync_to_thread=True)
def list_runs(
    request: Req,
    org: Annotated[str | None, QueryParameter(max_length=200)] = None,
    job: Annotated[str | None, QueryParameter(max_length=200)] = None,
    status: Annotated[Status | None, QueryParameter()] = None,
    trigger: Annotated[str | None, QueryParameter(max_length=64)] = None,
    since: Timestamp = None,
    after: Annotated[str | None, QueryParameter(pattern=UUID_PATTERN)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
) -> Page:
    """Runs of the caller's orgs, newest first, filtered by org, job, status, trigger kind
    (manual, cron, webhook, reactive, rerun, replay, backfill) and creation time; a page at a
    time (`next` is the `after` of the following page)."""
    found = perform(
        request,
        runs.list_runs,
        org=org,
        job=job,
        status=status,
        trigger=trigger,
        since=rfc3339(since, "since"),
        after=after,
        limit=limit,
    )
    return _page(found)


@get("/v1/runs/{run_id:str}", operation_id="getRun", responses=PROBLEMS)
async def get_run(
    request: Req,
    run_id: RunId,
    wait: Annotated[float, QueryParameter(ge=0, le=runs.MAX_WAIT_SECONDS)] = 0,
) -> dict[str, Any]:
    """Everything about one run: trigger, params, inputs, outputs, error, attempts. With `wait`
    (seconds, at most 60), the answer waits until the run is final or that time has passed,
    whichever comes first (one request instead of a poll a second: `chainlake job run --wait`
    through the API); a caller holds at most four waits at once."""
    run = await asyncio.to_thread(perform, request, runs.show_run, run_id=run_id)
    if not wait or run["status"] in runs.FINAL_STATUSES:
        return run
    leave = hold(f"wait:{caller(request).get('sub', '')}", WAITS_PER_CALLER, "run waits")
    try:
        return await _waited(request, run_id, run, wait)
    finally:
        leave()


async def _waited(request: Req, run_id: str, run: dict[str, Any], wait: float) -> dict[str, Any]:
    """Look at the run again (each look a pooled connection for one statement, given back in
    between, so a waiter holds no connection) until it is final, `wait` seconds passed or the
    token expired."""
    ends = time.monotonic() + wait
    expires: float = getattr(request.state, "token_expires", float("inf"))
    pauses = runs.poll_delays()
    while run["status"] not in runs.FINAL_STATUSES:
        left = min(ends - time.monotonic(), expires - time.time())
        if left <= 0:
            break
        await asyncio.sleep(min(left, next(pauses)))
        run = await asyncio.to_thread(perform, request, runs.show_run, run_id=run_id)
    return run


@dataclass
class LogsOperation(Operation):
    """The logs' 200: a JSON page, or server-sent events when followed."""

    def __post_init__(self) -> None:
        with_event_stream(self, json_too=True)


@get(
    "/v1/runs/{run_id:str}/logs",
    operation_id="getRunLogs",
    responses=PROBLEMS,
    operation_class=LogsOperation,
    sync_to_thread=True,
)
def run_logs(
    request: Req,
    run_id: RunId,
    after: Annotated[int, QueryParameter(ge=0)] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=10000)] = 1000,
    follow: Annotated[bool, QueryParameter()] = False,
    timeout: Annotated[int, QueryParameter(ge=1, le=MAX_FOLLOW_SECONDS)] = 600,
) -> Response[Any]:
    """A run's events after sequence number `after`: `items`, `next` (the `after` of the next
    call) and the run's `status`. With `follow=true` or `Accept: text/event-stream`,
    server-sent events (`log` events, `: heartbeat` comments, an `end` event with the final
    status) until the run is final, `timeout` seconds passed (a `timeout` event) or the token
    expired (an `expired` event: follow again from `next` with a new one); a caller holds at
    most two."""
    first = perform(request, runs.run_logs, run_id=run_id, after=after, limit=limit)
    if not (follow or "text/event-stream" in request.headers.get("accept", "")):
        return Response(first, media_type="application/json")
    leave = hold(
        f"follow:{caller(request).get('sub', '')}", FOLLOWS_PER_CALLER, "follow runs' logs"
    )
    return Stream(
        _follow(request, run_id, first, limit, timeout, leave),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


async def _follow(
    request: Req, run_id: str, page: dict[str, Any], limit: int, timeout: int, leave: Any
) -> AsyncIterator[bytes]:
    """Events until the run is final (or `timeout`): each poll takes a pooled connection for
    one statement and gives it back, so a follower holds no connection while it waits."""
    ends = time.monotonic() + timeout
    beat = time.monotonic() + HEARTBEAT_SECONDS
    expires: float | None = getattr(request.state, "token_expires", None)
    try:
        while True:
            if expires is not None and time.time() >= expires:  # what opened it is no more
                yield event("expired", {"status": page["status"], "next": page["next"]})
                return
            for row in page["items"]:
                yield event("log", row, row["seq"])
            if len(page["items"]) < limit and page["status"] in runs.FINAL_STATUSES:
                yield event("end", {"status": page["status"], "next": page["next"]})
                return
            if time.monotonic() > ends:
                yield event("timeout", {"status": page["status"], "next": page["next"]})
                return
            if time.monotonic() > beat:
                yield b": heartbeat\n\n"
                beat = time.monotonic() + HEARTBEAT_SECONDS
            if not page["items"]:
                await asyncio.sleep(POLL_SECONDS)
            after = page["next"]
            page = await asyncio.to_thread(
                perform, request, runs.run_logs, run_id=run_id, after=after, limit=limit
            )
    finally:
        leave()


@post(
    "/v1/runs/{run_id:str}/cancel",
    operation_id="cancelRun",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def cancel_run(request: Req, run_id: RunId) -> dict[str, Any]:
    """Cancel a queued, retrying or running run (writers of its org): it becomes `cancelled`.
    A run that is already final is a 409."""
    return perform(request, runs.cancel_run, run_id=run_id)


@post(
    "/v1/runs/{run_id:str}/rerun",
    operation_id="rerunRun",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def rerun(request: Req, run_id: RunId, data: JSONBody[Rerun]) -> dict[str, Any]:
    """The same job again with the same params and inputs (`run`); with `from_failure`, every
    failed run of the DAG run `run_id` set off (`queued`: how many)."""
    return perform(request, runs.rerun, run_id=run_id, from_failure=data.from_failure)


@get("/v1/dead-letters", operation_id="listDeadLetters", responses=PROBLEMS, sync_to_thread=True)
def list_dead_letters(
    request: Req,
    org: Annotated[str | None, QueryParameter(max_length=200)] = None,
    after: Annotated[int | None, QueryParameter(ge=1)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> Page:
    """Runs of the caller's orgs that used up their attempts, newest first, with their last
    error; a page at a time."""
    return _page(perform(request, runs.list_dead_letters, org=org, after=after, limit=limit))


@post(
    "/v1/dead-letters/{letter_id:int}/replay",
    operation_id="replayDeadLetter",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def replay_dead_letter(
    request: Req, letter_id: Annotated[int, PathParameter(ge=1)]
) -> dict[str, Any]:
    """Run a dead letter's job again with the same params and inputs (writers of its org);
    a letter replayed already is a 409."""
    return perform(request, runs.replay_dead_letter, letter_id=letter_id)


HANDLERS = [
    list_runs,
    get_run,
    run_logs,
    cancel_run,
    rerun,
    list_dead_letters,
    replay_dead_letter,
]
