"""Orgs a, b, c; a reader, writer and admin in each; org a grants read to org c; rows of every
tenant table for each org, each written the way a user would write it (as that org's writer or
admin, through RLS) or, for tables no user may write, by the operator's functions.

`SEEDS` is the one place that says how to write a row of each tenant table and which role may
do it; the lint test fails when a tenant table has no entry, so a new table cannot slip through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from chainlake.db import claims_transaction, runner_transaction
from tests.harness import TestCluster

ORGS = ("a", "b", "c")
ROLES = ("reader", "writer", "admin")


@dataclass(frozen=True)
class Seed:
    sql: str  # placeholders: org_id, user_id, tag, floater_id, spare_org_id
    writer: str | None  # the least role that may insert it; None: no user may ("platform":
    # only a runner acting for the org, through the run-lifecycle functions)
    reads: str  # who reads the rows: "read" (members + granted orgs), "member", "admin";
    # "audited": nobody directly, only through an audited function (the pii schema)


SEEDS: dict[str, Seed] = {
    "catalog.datasets": Seed(
        "INSERT INTO catalog.datasets (org_id, name, owner_id) "
        "VALUES (%(org_id)s, 'ds_' || %(tag)s, %(user_id)s)",
        "writer",
        "read",
    ),
    "catalog.saved_queries": Seed(
        "INSERT INTO catalog.saved_queries (org_id, owner_id, name, sql, visibility) "
        "VALUES (%(org_id)s, %(user_id)s, 'q_' || %(tag)s, 'select 1', 'org')",
        "writer",
        "member",
    ),
    # PII: written under RLS, never read directly ("audited": only through pii.labels).
    "pii.address_labels": Seed(
        "INSERT INTO pii.address_labels (org_id, owner_id, address, label, visibility) "
        "VALUES (%(org_id)s, %(user_id)s, decode(repeat('01', 20), 'hex'), 'l_' || %(tag)s, "
        "'org')",
        "writer",
        "audited",
    ),
    "catalog.object_grants": Seed(
        "INSERT INTO catalog.object_grants (org_id, object_kind, object_id, grantee_org_id) "
        "VALUES (%(org_id)s, 'dataset', (SELECT min(id::text)::uuid FROM catalog.datasets "
        "WHERE org_id = %(org_id)s), %(spare_org_id)s)",
        "admin",
        "grant",
    ),
    "jobs.definitions": Seed(
        "INSERT INTO jobs.definitions (org_id, name, version) "
        "VALUES (%(org_id)s, 'job_' || %(tag)s, '1')",
        "writer",
        "read",
    ),
    "runs.runs": Seed(
        "INSERT INTO runs.runs (org_id, job_name, job_version) "
        "VALUES (%(org_id)s, 'job_' || %(tag)s, '1')",
        "platform",
        "read",
    ),
    "runs.attempts": Seed(
        "INSERT INTO runs.attempts (org_id, run_id, attempt) "
        "VALUES (%(org_id)s, gen_random_uuid(), 1)",
        "platform",
        "read",
    ),
    "runs.logs": Seed(
        "INSERT INTO runs.logs (org_id, run_id, attempt, event) "
        'VALUES (%(org_id)s, gen_random_uuid(), 1, \'{"type": "log"}\')',
        "platform",
        "read",
    ),
    "catalog.asset_versions": Seed(
        "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, content_hash) "
        "SELECT %(org_id)s, id, 1, gen_random_uuid(), 'seed' FROM catalog.datasets "
        "WHERE org_id = %(org_id)s AND name = 'ds_' || %(tag)s",
        "platform",
        "read",
    ),
    "runs.run_inputs": Seed(
        "INSERT INTO runs.run_inputs (org_id, run_id, dataset_id, version) "
        "VALUES (%(org_id)s, gen_random_uuid(), gen_random_uuid(), 1)",
        "platform",
        "read",
    ),
    "runs.chain_inputs": Seed(
        "INSERT INTO runs.chain_inputs (org_id, run_id, attempt, dataset, chain_id, from_block, "
        "to_block) VALUES (%(org_id)s, gen_random_uuid(), 1, 'chain.logs', 1, 1, 1)",
        "platform",
        "read",
    ),
    "runs.dead_letters": Seed(
        "INSERT INTO runs.dead_letters (org_id, run_id, job_name, attempts) "
        "VALUES (%(org_id)s, gen_random_uuid(), 'job_' || %(tag)s, 3)",
        "platform",
        "read",
    ),
    "jobs.secrets": Seed(
        "INSERT INTO jobs.secrets (org_id, name, value_enc) "
        "VALUES (%(org_id)s, 's_' || %(tag)s, '\\x00')",
        "writer",
        "member",
    ),
    "jobs.schedules": Seed(
        "INSERT INTO jobs.schedules (org_id, job_name, cron, next_fire_at) "
        "VALUES (%(org_id)s, 'job_' || %(tag)s, '* * * * *', now())",
        "writer",
        "read",
    ),
    "alerts.rules": Seed(
        "INSERT INTO alerts.rules (org_id, name, dataset, condition) "
        "VALUES (%(org_id)s, 'rule_' || %(tag)s, 'chain.transactions', 'value > 1')",
        "writer",
        "read",
    ),
    "alerts.channels": Seed(
        "INSERT INTO alerts.channels (org_id, name, kind, target) "
        "VALUES (%(org_id)s, 'ch_' || %(tag)s, 'webhook', 'http://127.0.0.1:9/hook')",
        "writer",
        "read",
    ),
    # Written only by the platform's stored functions (evaluation, the delivery worker).
    "alerts.firings": Seed(
        "INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, "
        "block_hash, match_key, dedup_value) "
        "VALUES (%(org_id)s, gen_random_uuid(), 1, 1, 1, '\\x01', %(tag)s, %(tag)s)",
        None,
        "read",
    ),
    "alerts.deliveries": Seed(
        "INSERT INTO alerts.deliveries (org_id, firing_id, channel, event) "
        "VALUES (%(org_id)s, gen_random_uuid(), 'ch_' || %(tag)s, 'fired')",
        None,
        "read",
    ),
    "core.memberships": Seed(
        "INSERT INTO core.memberships (org_id, user_id, role) "
        "VALUES (%(org_id)s, %(floater_id)s, 'reader')",
        None,  # members are added by the operator (core.add_member), never by INSERT
        "member",
    ),
    "core.org_grants": Seed(
        "INSERT INTO core.org_grants (org_id, grantee_org_id) "
        "VALUES (%(org_id)s, %(spare_org_id)s)",
        "admin",
        "grant",
    ),
    # No user may insert these: the operator's functions create them.
    "jobs.webhook_secrets": Seed(
        "INSERT INTO jobs.webhook_secrets (org_id, job_name, secret_enc) "
        "VALUES (%(org_id)s, 'job_' || %(tag)s, '\\x00')",
        None,
        "admin",
    ),
    "core.orgs": Seed("INSERT INTO core.orgs (name) VALUES ('x' || %(tag)s)", None, "read"),
    "core.quotas": Seed("INSERT INTO core.quotas (org_id) VALUES (%(org_id)s)", None, "member"),
    # what a query cost: written only by catalog.record_query_usage (issue 22, cost per org)
    "catalog.query_usage": Seed(
        "INSERT INTO catalog.query_usage (org_id, seconds, row_count) VALUES (%(org_id)s, 1, 1)",
        None,
        "member",
    ),
    "audit.events": Seed(
        "INSERT INTO audit.events (org_id, action) VALUES (%(org_id)s, 'forged')", None, "admin"
    ),
}

# Tables without org_id, and why.
NON_ORG_TABLES = {
    "core.orgs": "org-root: its id is the org_id",
    "core.users": "identity: a person may belong to several orgs",
    "core.api_requests": "per user: API request counts, each person reads their own",
    "core.sign_ins": "per user: token sign-ins, each person reads their own",
    "core.egress_addresses": "platform: the operator's egress allow-list and platform addresses",
    "core.row_locks": "platform: rows stored functions lock (core.lock_until_commit); nobody reads",
    "core.platform_limits": "platform: the API path's timeouts, one row set by the operator",
    "alerts.held_aside": "platform: rules set aside while their rows were locked; nobody reads",
    "chain.rpc_health": "platform: the RPC endpoints' health, for system alerts; nobody reads",
    **{
        f"chain.{t}": "global chain data"
        for t in (
            "blocks",
            "transactions",
            "logs",
            "chains",
            "reorgs",
            "events",
            "chunks",
            "check_reports",
        )
    },
}


@dataclass
class User:
    email: str
    org: str
    role: str
    id: str
    db_role: str


@dataclass
class Tenants:
    cluster: TestCluster
    database: str
    org_ids: dict[str, str]
    users: dict[str, User]  # key "a.reader"
    floater_id: str
    spare_org_id: str

    def user(self, org: str, role: str) -> User:
        return self.users[f"{org}.{role}"]

    def login_url(self, user: User) -> str:
        return self.cluster.url(self.database, user.db_role)

    @contextmanager
    def login(self, user: User) -> Iterator[psycopg.Connection[Any]]:
        """A connection as the user's own login role (direct SQL), autocommit."""
        with psycopg.connect(self.login_url(user), autocommit=True) as conn:
            yield conn

    @contextmanager
    def api(self, user: User) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction on the API's path: chainlake_api, SET LOCAL ROLE, JWT claims."""
        url = self.cluster.url(self.database, "chainlake_api")
        with psycopg.connect(url) as conn, claims_transaction(conn, {"sub": user.id}) as cur:
            cur.row_factory = tuple_row  # type: ignore[assignment]
            yield cur

    @contextmanager
    def runner(self, org: str) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction of a runner acting for `org`."""
        url = self.cluster.url(self.database, "chainlake_runner")
        with psycopg.connect(url) as conn, runner_transaction(conn, self.org_ids[org]) as cur:
            cur.row_factory = tuple_row  # type: ignore[assignment]
            yield cur

    def params(self, user: User, org: str, tag: str) -> dict[str, Any]:
        return {
            "org_id": self.org_ids[org],
            "user_id": user.id,
            "tag": tag,
            "floater_id": self.floater_id,
            "spare_org_id": self.spare_org_id,
        }


def fresh_targets(admin: psycopg.Connection[Any], tag: str) -> dict[str, str]:
    """A new user and a new org to point a membership or a grant at, so an insert cannot collide
    with a row that already exists."""
    org = _call(admin, "SELECT id FROM core.create_org(%s)", f"t-{tag}".replace("_", "-"))
    user = _call(
        admin,
        "SELECT id FROM core.create_user(%s, %s, 'reader')",
        f"{tag}@fresh.example",
        f"t-{tag}".replace("_", "-"),
    )
    return {"floater_id": str(user["id"]), "spare_org_id": str(org["id"])}


def _call(admin: psycopg.Connection[Any], sql: str, *args: Any) -> dict[str, Any]:
    with admin.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql, args).fetchone()
    assert row is not None
    return row


def build_tenants(cluster: TestCluster, database: str, admin: psycopg.Connection[Any]) -> Tenants:
    org_ids = {o: str(_call(admin, "SELECT id FROM core.create_org(%s)", o)["id"]) for o in ORGS}
    spare = str(_call(admin, "SELECT id FROM core.create_org('spare')")["id"])
    users = {}
    for org in ORGS:
        for role in ROLES:
            email = f"{role}@{org}.example"
            row = _call(admin, "SELECT * FROM core.create_user(%s, %s, %s)", email, org, role)
            users[f"{org}.{role}"] = User(email, org, role, str(row["id"]), row["db_role"])
    floater = _call(
        admin, "SELECT id FROM core.create_user('floater@spare.example', 'spare', 'reader')"
    )
    admin.execute("SELECT core.grant_org_read('a', 'c')")
    # the seed channels point at the discard port: the operator allows exactly that address
    admin.execute("SELECT core.allow_egress('127.0.0.1:9', 'tests: seed channels')")
    tenants = Tenants(cluster, database, org_ids, users, str(floater["id"]), spare)
    for org in ORGS:
        admin.execute("SELECT core.add_member('floater@spare.example', %s, 'reader')", (org,))
    admin.execute(
        "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp) "
        "VALUES (1, 1, '\\x01', '\\x00', now())"
    )
    for org in ORGS:
        for table, seed in SEEDS.items():
            if seed.writer is None:
                if (
                    table != "core.orgs"
                    and not admin.execute(
                        f"SELECT 1 FROM {table} WHERE org_id = %s", (org_ids[org],)
                    ).fetchone()
                ):  # no operator function made one: the operator writes it
                    admin.execute(
                        seed.sql, tenants.params(tenants.user(org, "admin"), org, f"{org}_seed")
                    )
                continue
            if seed.writer == "platform":
                with tenants.runner(org) as cur:
                    cur.execute(
                        seed.sql, tenants.params(tenants.user(org, "admin"), org, f"{org}_seed")
                    )
                continue
            author = tenants.user(org, seed.writer)
            with tenants.login(author) as conn:
                conn.execute(seed.sql, tenants.params(author, org, f"{org}_seed"))
    return tenants
