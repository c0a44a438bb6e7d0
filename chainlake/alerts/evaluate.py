"""Alert evaluation in an ingest batch's transaction, under time budgets (docs/alerts.md;
SECURITY.md item 22): one org's slow rule fails that rule only, never ingest for everyone.

Postgres arms statement_timeout per top-level statement, so every attempt here is a statement of
its own, in a savepoint, with SET LOCAL statement_timeout (alerts.time_budget_ms): all rules at
once; if that runs out (or fails), org by org; an org that runs out, rule by rule, and a rule
that runs out on its own is set aside (alerts.set_aside: `last_error` names the budget). An org
whose rules each fit but together took longer than its budget loses its slowest rule, so that
its next batch fits.
What fired stays in the block's transaction, as before: a reorg or a retry takes it with it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class Batch:
    """Blocks first..last of a chain, just committed; finality moved from old_finalized."""

    chain_id: int
    first: int
    last: int
    old_finalized: int | None
    finalized: int | None

    @property
    def blocks(self) -> int:
        return self.last - self.first + 1


class OutOfBudget(Exception):
    """An attempt ran out of its time (QueryCanceled) or failed; its savepoint rolled back."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.timed_out = isinstance(error, psycopg.errors.QueryCanceled)
        self.message = error.diag.message_primary or str(error)


class BudgetedEvaluation:
    """The rules of one batch, evaluated under budgets on `conn`, inside its open transaction."""

    def __init__(self, conn: Connection, batch: Batch) -> None:
        self.conn = conn
        self.batch = batch
        row = conn.execute("SELECT current_setting('statement_timeout')").fetchone()
        self.restore = str(row[0]) if row else "0"

    def run(self) -> int:
        """How many fired. First, the reasons of rules set aside while their rows were locked
        reach their rows, where the rows are free now (alerts.settle_set_aside)."""
        self.conn.execute("SELECT alerts.settle_set_aside()")
        try:
            return self.attempt("batch")
        except OutOfBudget:
            return sum(self.org(org) for org in self.ids("SELECT alerts.active_orgs()"))

    def org(self, org: str) -> int:
        try:
            return self.attempt("org", org=org)
        except OutOfBudget:
            pass
        rules = self.ids("SELECT alerts.active_rules(%s)", org)
        fired, took = 0, dict[str, int]()
        for rule in rules:
            started = time.monotonic()
            try:
                fired += self.attempt("rule", org=org, rule=rule)
            except OutOfBudget as exc:
                self.set_aside(org, rule, None if exc.timed_out else exc.message)
                continue
            took[rule] = round((time.monotonic() - started) * 1000)
        # each fit on its own, together they did not (a hiccup that passed sets nothing aside)
        if rules and len(took) == len(rules) and sum(took.values()) > self.budget("org"):
            slowest = max(took, key=took.__getitem__)
            self.set_aside(org, slowest, took_ms=took[slowest])
        return fired

    def budget(self, scope: str) -> int:
        row = self.conn.execute(
            "SELECT alerts.time_budget_ms(%s, %s)", (scope, self.batch.blocks)
        ).fetchone()
        return int(row[0]) if row else 0

    def attempt(self, scope: str, org: str | None = None, rule: str | None = None) -> int:
        """alerts.on_batch as a statement of its own, within the scope's budget; raises
        OutOfBudget when it runs out or fails (and its savepoint is rolled back)."""
        b = self.batch
        try:
            with self.conn.transaction():  # a savepoint: the batch's transaction is open
                self.conn.execute(
                    "SELECT set_config('statement_timeout', alerts.time_budget_ms(%s, %s) "
                    "|| 'ms', true)",
                    (scope, b.blocks),
                )
                row = self.conn.execute(
                    "SELECT alerts.on_batch(%s, %s, %s, %s, %s, %s, %s)",
                    (b.chain_id, b.first, b.last, b.old_finalized, b.finalized, org, rule),
                ).fetchone()
                self.conn.execute(
                    "SELECT set_config('statement_timeout', %s, true)", (self.restore,)
                )
        except psycopg.Error as exc:
            if self.conn.broken or self.conn.closed:
                raise
            raise OutOfBudget(exc) from exc
        return int(row[0]) if row else 0

    def set_aside(
        self, org: str, rule: str, error: str | None = None, took_ms: int | None = None
    ) -> None:
        self.conn.execute(
            "SELECT alerts.set_aside(%s, %s, %s, %s, %s)",
            (org, rule, self.batch.blocks, error, took_ms),
        )

    def ids(self, query: str, *params: Any) -> list[str]:
        return [str(r[0]) for r in self.conn.execute(query, params).fetchall()]


def evaluate_batch(conn: Connection, batch: Batch) -> int:
    """Every active alert rule over `batch`, in `conn`'s open transaction; how many fired."""
    return BudgetedEvaluation(conn, batch).run()
