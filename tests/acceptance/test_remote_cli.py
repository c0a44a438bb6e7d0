"""Every CLI command that acts as a user, run from a laptop through the API (issue 17).

One setup for the module: a migrated database with orgs a, b, c (tests/tenants.py), the real API
on 127.0.0.1 trusting the real OIDC provider (tests/oidc.py), and a laptop (its own HOME and
config directory, an empty working directory: no platform key, no stack, no database URL) where
two people signed in by the device flow: a's admin (profile `admin`) and a's reader (profile
`reader`). Each case runs `chainlake --profile P ...` as a subprocess there and asserts what the
person sees; a write is checked in the database.

Which commands act as a user is read from the command tree (every command with `--as`), not
from a hand list: `test_every_user_command_has_a_case` fails naming a command without a case.
Every other command is the operator's and refuses through a profile, which is checked over the
tree too (`test_operator_commands_refuse_through_a_profile`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg.rows import dict_row

from chainlake import jobdefs
from chainlake.cli import ANYWHERE, LOCAL_ONLY, command_at, has_as, leaves, main
from chainlake.client import Client
from tests.harness import TestCluster
from tests.integration.test_api_assets import two_versions
from tests.remote import (
    CHAINLAKE,
    cli,
    cli_issuer,
    device_login,
    laptop_env,
    new_laptop,
    profiles_file,
    trusting_api,
)
from tests.runtime import TEST_JOBS, running_runner, wait_for
from tests.tenants import Tenants, build_tenants

OPERATOR_LINE = "works on the operator's machine only"
SUBJECT = "0x" + "ab" * 20
BEHAVE = TEST_JOBS / "behave.yaml"

# Commands with `--as` that are nonetheless the operator's: they refuse through a profile.
OPERATORS_WITH_AS = {("psql",)}


@dataclass
class Laptop:
    folder: Path
    tenants: Tenants
    server: Path  # the API's folder: its object store is server/store
    db: psycopg.Connection[dict[str, Any]]

    def run(
        self, *args: str, profile: str = "admin", **env: str
    ) -> subprocess.CompletedProcess[str]:
        return cli(self.folder, "--profile", profile, *args, **env)

    def ok(self, *args: str, profile: str = "admin", **env: str) -> str:
        done = self.run(*args, profile=profile, **env)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done.stdout

    def refused(self, *args: str, profile: str = "reader", **env: str) -> str:
        """The command fails with one `error:` line and no traceback: that line."""
        done = self.run(*args, profile=profile, **env)
        assert done.returncode != 0, f"{args} was not refused: {done.stdout}"
        assert "Traceback" not in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, done.stderr
        return errors[0]

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return self.db.execute(sql, params).fetchall()

    def client(self, profile: str = "admin") -> Client:
        return Client.from_profile(profile, path=profiles_file(self.folder))

    def api_url(self) -> str:
        return str(
            json.loads(profiles_file(self.folder).read_text())["profiles"]["admin"]["api_url"]
        )

    def org_id(self, org: str) -> str:
        return str(self.rows("SELECT id FROM core.orgs WHERE name = %s", org)[0]["id"])

    def nothing_in_cwd(self) -> None:
        assert list((self.folder / "cwd").iterdir()) == [], "the laptop's directory stays empty"


@pytest.fixture(scope="module")
def laptop(cluster: TestCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Laptop]:
    folder = tmp_path_factory.mktemp("remote_cli")
    database = cluster.new_database()
    try:
        with psycopg.connect(cluster.url(database), autocommit=True) as admin:
            tenants = build_tenants(cluster, database, admin)
        with (
            psycopg.connect(cluster.url(database), autocommit=True, row_factory=dict_row) as db,
            cli_issuer(folder, []) as provider,
            trusting_api(tenants, folder, provider, {}) as api,
        ):
            home = new_laptop(folder / "laptop")
            for profile, role in (("admin", "admin"), ("reader", "reader")):
                code, _, err = device_login(home, api, tenants.user("a", role).email, profile)
                assert code == 0, err
            yield Laptop(home, tenants, folder, db)
    finally:
        cluster.drop_database(database)


Case = Callable[[Laptop], None]
CASES: dict[tuple[str, ...], Case] = {}


def case(*path: str) -> Callable[[Case], Case]:
    def register(func: Case) -> Case:
        CASES[path] = func
        return func

    return register


@case("whoami")
def _whoami(lap: Laptop) -> None:
    me = json.loads(lap.ok("whoami", "--json"))
    assert {(m["org"], m["role"]) for m in me["memberships"]} == {("a", "admin")}
    assert lap.ok("whoami", profile="reader").startswith("reader@a.example")
    said = lap.refused("whoami", "--as", "writer@a.example")
    assert "--as acts as a user on the operator's machine" in said


@case("query")
def _query(lap: Laptop) -> None:
    assert lap.ok("query", "SELECT 40 + 2 AS answer").split() == ["answer", "42"]
    csv = lap.ok("query", "SELECT 'x' AS letter", "--format", "csv", profile="reader")
    assert csv.split() == ['"letter"', '"x"']
    said = lap.refused("query", "DELETE FROM chain.blocks")
    assert (
        said.startswith("error:")
        and lap.rows("SELECT count(*) AS n FROM chain.blocks")[0]["n"] == 1
    ), "the refused statement changed nothing"


@case("catalog", "search")
def _catalog_search(lap: Laptop) -> None:
    found = json.loads(lap.ok("catalog", "search", "ds_", "--json", profile="reader"))
    names = {(r["org"], r["name"]) for r in found}
    assert ("a", "ds_a_seed") in names and ("b", "ds_b_seed") not in names, names
    assert "nothing matches" in lap.ok("catalog", "search", "no-such-thing-anywhere")


@case("saved-query", "create")
def _saved_create(lap: Laptop) -> None:
    out = lap.ok("saved-query", "create", "rq_create", "--org", "a", "--sql", "SELECT 1 AS one")
    assert out.strip() == "saved a/rq_create (private)"
    row = lap.rows(
        "SELECT u.email FROM catalog.saved_queries q JOIN core.users u ON u.id = q.owner_id "
        "WHERE q.name = 'rq_create'"
    )
    assert row == [{"email": "admin@a.example"}], "owned by who signed in"
    said = lap.refused("saved-query", "create", "rq_bad", "--org", "b", "--sql", "SELECT 1")
    assert not lap.rows("SELECT 1 FROM catalog.saved_queries WHERE name = 'rq_bad'"), said


@case("saved-query", "list")
def _saved_list(lap: Laptop) -> None:
    lap.client().save_query(org="a", name="rq_list", sql="SELECT 1", description="listed")
    listed = lap.ok("saved-query", "list")
    assert any(
        line.startswith("a/rq_list  private  admin@a.example") for line in listed.splitlines()
    )
    assert "rq_list" not in lap.ok("saved-query", "list", profile="reader"), "private to its owner"


@case("saved-query", "run")
def _saved_run(lap: Laptop) -> None:
    sql = "SELECT $n::int * 2 AS doubled"
    lap.client().save_query(org="a", name="rq_run", sql=sql, params={"n": 1})
    assert lap.ok("saved-query", "run", "rq_run", "--org", "a").split() == ["doubled", "2"]
    out = lap.ok("saved-query", "run", "rq_run", "--org", "a", "--param", "n=21", "--format", "csv")
    assert out.split() == ['"doubled"', "42"]
    missing = lap.refused("saved-query", "run", "rq_none", "--org", "a", profile="admin")
    assert "rq_none" in missing or "not found" in missing.lower(), missing


@case("saved-query", "delete")
def _saved_delete(lap: Laptop) -> None:
    lap.client().save_query(org="a", name="rq_delete", sql="SELECT 1")
    assert (
        lap.ok("saved-query", "delete", "rq_delete", "--org", "a").strip() == "deleted a/rq_delete"
    )
    assert not lap.rows("SELECT 1 FROM catalog.saved_queries WHERE name = 'rq_delete'")
    lap.refused("saved-query", "delete", "rq_delete", "--org", "a", profile="admin")


def _object_grants(lap: Laptop, grantee: str) -> list[dict[str, Any]]:
    return lap.rows(
        "SELECT g.object_kind FROM catalog.object_grants g JOIN catalog.datasets d "
        "ON d.id = g.object_id WHERE d.name = 'ds_a_seed' AND g.grantee_org_id = %s",
        lap.org_id(grantee),
    )


@case("share", "grant")
def _share_grant(lap: Laptop) -> None:
    out = lap.ok("share", "grant", "dataset", "a/ds_a_seed", "--with", "b")
    assert out.strip() == "shared dataset a/ds_a_seed with org b"
    assert _object_grants(lap, "b") == [{"object_kind": "dataset"}]
    lap.refused("share", "grant", "dataset", "a/ds_a_seed", "--with", "c")  # a reader
    assert _object_grants(lap, "c") == [], "the refused grant changed nothing"


@case("share", "revoke")
def _share_revoke(lap: Laptop) -> None:
    lap.client().grant_read(kind="dataset", org="a", name="ds_a_seed", grantee="c")
    lap.refused("share", "revoke", "dataset", "a/ds_a_seed", "--from", "c")  # a reader
    assert _object_grants(lap, "c"), "the refused revoke changed nothing"
    out = lap.ok("share", "revoke", "dataset", "a/ds_a_seed", "--from", "c")
    assert out.strip() == "org c no longer reads dataset a/ds_a_seed"
    assert _object_grants(lap, "c") == []


@case("share", "list")
def _share_list(lap: Laptop) -> None:
    listed = json.loads(lap.ok("share", "list", "--json"))
    assert {"org": "a", "name": "ds_a_seed", "grantee": "spare"}.items() <= next(
        r for r in listed if r["grantee"] == "spare"
    ).items(), listed
    assert "a/ds_a_seed -> spare" in lap.ok("share", "list")


RULE = ("--dataset", "chain.transactions", "--condition", "value > 1")


def _rule(lap: Laptop, name: str) -> list[dict[str, Any]]:
    return lap.rows("SELECT enabled, severity FROM alerts.rules WHERE name = %s", name)


@case("alert", "create")
def _alert_create(lap: Laptop) -> None:
    out = lap.ok("alert", "create", "r_create", "--org", "a", *RULE, "--severity", "warning")
    assert out.strip() == "alert rule a/r_create saved"
    assert _rule(lap, "r_create") == [{"enabled": True, "severity": "warning"}]
    lap.refused("alert", "create", "r_reader", "--org", "a", *RULE)  # readers do not write
    bad = lap.refused(
        "alert",
        "create",
        "r_bad",
        "--org",
        "a",
        "--dataset",
        "chain.logs",
        "--condition",
        "no_such_column > 1",
        profile="admin",
    )
    assert "no_such_column" in bad, bad
    assert _rule(lap, "r_reader") == [] and _rule(lap, "r_bad") == []


@case("alert", "list")
def _alert_list(lap: Laptop) -> None:
    lap.client().save_alert_rule(
        org="a", name="r_list", dataset="chain.blocks", condition="number > 5"
    )
    listed = lap.ok("alert", "list", profile="reader")
    assert "on  a/r_list  [info] chain.blocks where number > 5  fired 0x" in listed, listed


@case("alert", "show")
def _alert_show(lap: Laptop) -> None:
    lap.client().save_alert_rule(org="a", name="r_show", dataset="chain.logs", condition="true")
    shown = json.loads(lap.ok("alert", "show", "r_show", "--org", "a"))
    assert shown["rule"]["name"] == "r_show" and shown["firings"] == []
    assert "r_none" in lap.refused("alert", "show", "r_none", "--org", "a", profile="admin")


@case("alert", "disable")
def _alert_disable(lap: Laptop) -> None:
    lap.client().save_alert_rule(org="a", name="r_off", dataset="chain.logs", condition="true")
    lap.refused("alert", "disable", "r_off", "--org", "a")
    assert _rule(lap, "r_off")[0]["enabled"] is True
    assert (
        lap.ok("alert", "disable", "r_off", "--org", "a").strip() == "alert rule a/r_off disabled"
    )
    assert _rule(lap, "r_off")[0]["enabled"] is False


@case("alert", "enable")
def _alert_enable(lap: Laptop) -> None:
    made = lap.client()
    made.save_alert_rule(org="a", name="r_on", dataset="chain.logs", condition="true")
    made.set_alert_rule_enabled(org="a", name="r_on", enabled=False)
    assert lap.ok("alert", "enable", "r_on", "--org", "a").strip() == "alert rule a/r_on enabled"
    assert _rule(lap, "r_on")[0]["enabled"] is True


@case("alert", "delete")
def _alert_delete(lap: Laptop) -> None:
    lap.client().save_alert_rule(org="a", name="r_gone", dataset="chain.logs", condition="true")
    lap.refused("alert", "delete", "r_gone", "--org", "a")
    assert _rule(lap, "r_gone"), "the refused delete changed nothing"
    assert (
        lap.ok("alert", "delete", "r_gone", "--org", "a").strip() == "alert rule a/r_gone deleted"
    )
    assert _rule(lap, "r_gone") == []


@case("alert", "backtest")
def _alert_backtest(lap: Laptop) -> None:
    lap.client().save_alert_rule(org="a", name="r_bt", dataset="chain.blocks", condition="true")
    lap.db.execute(  # a chain with no blocks yet: nothing fires
        "INSERT INTO chain.chains (chain_id, name) VALUES (31337, 'devchain') "
        "ON CONFLICT DO NOTHING"
    )
    said = lap.ok("alert", "backtest", "r_bt", "--org", "a", "--from", "1", "--to", "3")
    assert said.strip() == "0 firing(s) over blocks 1..3 (nothing kept)", said
    bad = lap.refused(
        "alert", "backtest", "r_bt", "--org", "a", "--from", "3", "--to", "1", profile="admin"
    )
    assert "from: block 3 is after to: block 1" in bad, bad
    gone = lap.refused("alert", "backtest", "r_none", "--org", "a", "--from", "1", "--to", "1")
    assert 'no alert rule "r_none"' in gone, gone
    lap.nothing_in_cwd()


@case("alert", "listen")
def _alert_listen(lap: Laptop) -> None:
    """The reader listens through the API; a firing announced meanwhile is the line it prints."""
    made = lap.client().save_alert_rule(
        org="a", name="r_listen", dataset="chain.logs", condition="true"
    )
    args = ["--profile", "reader", "alert", "listen", "--org", "a", "--count", "1"]
    with subprocess.Popen(
        [CHAINLAKE, *args, "--seconds", "40"],
        cwd=lap.folder / "cwd",
        env=laptop_env(lap.folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as listening:
        assert listening.stderr is not None
        assert listening.stderr.readline().strip() == "listening on a"
        firing = lap.rows(
            "INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block,"
            " block_hash, match_key, dedup_value)"
            " VALUES (%s, %s, 1, 1, 1, '\\x01', 'k', 'k') RETURNING id",
            lap.org_id("a"),
            made["id"],
        )[0]["id"]
        lap.db.execute("SELECT alerts.announce(%s, 'fired')", (firing,))
        out, err = listening.communicate(timeout=40)
    assert listening.returncode == 0 and "Traceback" not in err, err
    shown = json.loads(out)
    assert (shown["event"], shown["firing"], shown["rule"]) == ("fired", str(firing), "r_listen")
    refused = lap.refused("alert", "listen", "--org", "b", "--seconds", "1")
    assert 'unknown org "b"' in refused, refused
    lap.nothing_in_cwd()


def _channel(lap: Laptop, name: str) -> list[dict[str, Any]]:
    return lap.rows(
        "SELECT kind, target, secret_enc IS NOT NULL AS has_secret FROM alerts.channels "
        "WHERE name = %s",
        name,
    )


@case("alert", "channel", "create")
def _channel_create(lap: Laptop) -> None:
    hook = "http://127.0.0.1:9/hook"
    out = lap.ok(
        "alert", "channel", "create", "ch_made", "--org", "a", "--kind", "webhook", "--target", hook
    )
    assert "channel a/ch_made (webhook) saved" in out and "signing key (shown once):" in out
    assert _channel(lap, "ch_made") == [{"kind": "webhook", "target": hook, "has_secret": True}]
    lap.refused(
        "alert",
        "channel",
        "create",
        "ch_reader",
        "--org",
        "a",
        "--kind",
        "webhook",
        "--target",
        hook,
    )
    assert _channel(lap, "ch_reader") == []
    lap.nothing_in_cwd()  # no platform key was made here: the API encrypts with its own


@case("alert", "channel", "list")
def _channel_list(lap: Laptop) -> None:
    listed = lap.ok("alert", "channel", "list", profile="reader")
    assert "a/ch_a_seed  webhook  http://127.0.0.1:9/hook" in listed, listed
    assert "ch_b_seed" not in listed


@case("secret", "set")
def _secret_set(lap: Laptop) -> None:
    value = "s3cr3t-value-from-a-laptop"
    out = lap.ok("secret", "set", "api_token", "--org", "a", "--value-env", "TOKEN", TOKEN=value)
    assert out.strip() == "secret a/api_token set" and value not in out
    row = lap.rows("SELECT value_enc FROM jobs.secrets WHERE name = 'api_token'")
    assert len(row) == 1 and value.encode() not in bytes(row[0]["value_enc"]), "stored encrypted"
    lap.refused("secret", "set", "reader_token", "--org", "a", "--value-env", "TOKEN", TOKEN=value)
    assert not lap.rows("SELECT 1 FROM jobs.secrets WHERE name = 'reader_token'")
    lap.nothing_in_cwd()


@case("secret", "list")
def _secret_list(lap: Laptop) -> None:
    lap.client().set_secret(org="a", name="listed_token", value="never shown")
    listed = lap.ok("secret", "list", profile="reader")
    assert any(line.startswith("a/listed_token  set ") for line in listed.splitlines()), listed
    assert "never shown" not in listed


@case("secret", "delete")
def _secret_delete(lap: Laptop) -> None:
    lap.client().set_secret(org="a", name="doomed_token", value="x")
    lap.refused("secret", "delete", "doomed_token", "--org", "a")
    assert lap.ok("secret", "delete", "doomed_token", "--org", "a").strip() == (
        "secret a/doomed_token deleted"
    )
    assert not lap.rows("SELECT 1 FROM jobs.secrets WHERE name = 'doomed_token'")


@case("audit", "list")
def _audit_list(lap: Laptop) -> None:
    lap.client().list_pii_labels(org="a")  # an audited read
    found = json.loads(lap.ok("audit", "list", "--org", "a", "--action", "pii.read", "--json"))
    assert found and {r["org"] for r in found} == {"a"}
    assert "admin@a.example" in {r["actor"] for r in found}, found


@case("usage")
def _usage(lap: Laptop) -> None:
    lap.client().query(sql="select 1 as one", max_rows=1)  # a query: a usage row of org a's
    found = json.loads(lap.ok("usage", "--org", "a", "--days", "1", "--json"))
    assert [r["org"] for r in found] == ["a"], found
    assert found[0]["queries"] >= 1, found


def _labels(lap: Laptop, subject: str) -> list[dict[str, Any]]:
    return lap.rows(
        "SELECT label FROM pii.address_labels WHERE address = decode(%s, 'hex') ORDER BY label",
        subject[2:],
    )


@case("pii", "set")
def _pii_set(lap: Laptop) -> None:
    out = lap.ok(
        "pii", "set", "--org", "a", "--subject", SUBJECT, "--label", "exchange", "--org-visible"
    )
    assert out.strip() == f"labelled {SUBJECT} in a (label, org)"
    assert {"label": "exchange"} in _labels(lap, SUBJECT)
    bad = lap.refused(
        "pii", "set", "--org", "a", "--subject", "0x12", "--label", "x", profile="admin"
    )
    assert "subject" in bad, bad


@case("pii", "labels")
def _pii_labels(lap: Laptop) -> None:
    lap.client().set_pii_label(org="a", subject=SUBJECT, label="shared", visibility="org")
    found = json.loads(
        lap.ok("pii", "labels", "--org", "a", "--subject", SUBJECT, "--json", profile="reader")
    )
    assert "shared" in {r["label"] for r in found}, found


def _removes(lap: Laptop, verb: str, done: str, subject: str) -> list[dict[str, Any]]:
    """`pii redact|delete` of one fresh label about `subject`: the labels left."""
    lap.client().set_pii_label(org="a", subject=subject, label=f"to-{verb}")
    out = lap.ok("pii", verb, "--org", "a", "--subject", subject)
    assert out.startswith(f"a: {done} 1 row(s) about {subject}"), out
    said = lap.refused("pii", verb, "--subject", subject, profile="admin")
    assert "--org" in said, said  # a person names the org
    return _labels(lap, subject)


@case("pii", "redact")
def _pii_redact(lap: Laptop) -> None:
    assert _removes(lap, "redact", "redacted", "0x" + "cd" * 20) == [{"label": "[REDACTED]"}]


@case("pii", "delete")
def _pii_delete(lap: Laptop) -> None:
    assert _removes(lap, "delete", "deleted", "0x" + "ef" * 20) == []


def _behave(lap: Laptop, name: str = "behave") -> str:
    """Job `name` of org a (tests/jobs/behave.yaml), applied through the API once."""
    if not lap.rows("SELECT 1 FROM jobs.definitions WHERE name = %s", name):
        lap.client().apply_job(org="a", definition={**jobdefs.load(BEHAVE), "name": name})
    return name


def _run(lap: Laptop, **params: Any) -> str:
    """A queued run of behave (nothing runs it until a case starts a runner): its id."""
    return str(lap.client().run_job(org="a", name=_behave(lap), params=params)["id"])


def _status(lap: Laptop, run_id: str) -> str:
    return str(lap.rows("SELECT status FROM runs.runs WHERE id = %s", run_id)[0]["status"])


@case("job", "apply")
def _job_apply(lap: Laptop) -> None:
    versions = "SELECT version FROM jobs.definitions WHERE name = 'behave'"
    before = lap.rows(versions)
    said = lap.refused("job", "apply", str(BEHAVE), "--org", "a")  # a reader
    assert "may not change jobs" in said and lap.rows(versions) == before, said
    out = lap.ok("job", "apply", str(BEHAVE), "--org", "a")
    assert out.strip() == "applied job behave version 1 (source)"
    assert lap.rows(versions) == [{"version": "1"}]


@case("job", "list")
def _job_list(lap: Laptop) -> None:
    _behave(lap)
    listed = json.loads(lap.ok("job", "list", "--org", "a", "--json", profile="reader"))
    assert ("a", "behave", "1") in {(j["org"], j["name"], j["version"]) for j in listed}


@case("job", "show")
def _job_show(lap: Laptop) -> None:
    _behave(lap)
    shown = json.loads(lap.ok("job", "show", "behave", "--org", "a", profile="reader"))
    assert shown["current"]["spec"]["name"] == "behave"
    assert [v["version"] for v in shown["versions"]] == ["1"]
    assert "nope" in lap.refused("job", "show", "nope", "--org", "a")


@case("job", "run")
def _job_run(lap: Laptop) -> None:
    _behave(lap)
    with running_runner(lap.tenants, lap.server / "store"):
        out = lap.ok(
            "job", "run", "behave", "--org", "a", "--param", "do=ok", "--wait", "--timeout", "90"
        )
    run_id = out.split()[2]
    assert out.splitlines()[-1] == f"run {run_id} succeeded", out
    assert _status(lap, run_id) == "succeeded"
    lap.refused("job", "run", "behave", "--org", "a")  # readers do not run jobs


@case("job", "webhook-secret")
def _job_webhook_secret(lap: Laptop) -> None:
    _behave(lap)
    lap.refused("job", "webhook-secret", "behave", "--org", "a", profile="admin")  # not a webhook
    lap.client().apply_job(
        org="a", definition={**jobdefs.load(BEHAVE), "name": "hooked", "activation": "webhook"}
    )
    out = lap.ok("job", "webhook-secret", "hooked", "--org", "a")
    secret = out.splitlines()[0].removeprefix("secret: ")
    assert secret and f"url:    {lap.api_url()}/" in out, out
    stored = lap.rows("SELECT secret_enc FROM jobs.webhook_secrets WHERE job_name = 'hooked'")
    assert len(stored) == 1 and secret.encode() not in bytes(stored[0]["secret_enc"])
    lap.nothing_in_cwd()  # no platform key was made here


@case("run", "list")
def _run_list(lap: Laptop) -> None:
    run_id = _run(lap, n=1)
    listed = json.loads(
        lap.ok("run", "list", "--org", "a", "--job", "behave", "--json", profile="reader")
    )
    assert run_id in {r["id"] for r in listed}
    bad = lap.refused("run", "list", "--since", "yesterday")
    assert "since" in bad, bad


@case("run", "show")
def _run_show(lap: Laptop) -> None:
    run_id = _run(lap, n=2)
    shown = json.loads(lap.ok("run", "show", run_id, "--json", profile="reader"))
    assert shown["id"] == run_id and shown["params"] == {"n": 2}
    assert "queued" in lap.ok("run", "show", run_id)


@case("run", "logs")
def _run_logs(lap: Laptop) -> None:
    run_id = _run(lap, do="sleep", seconds=1)
    with running_runner(lap.tenants, lap.server / "store"):
        out = lap.ok("run", "logs", run_id, "--follow", "--timeout", "90", profile="reader")
    assert out.strip() and _status(lap, run_id) == "succeeded", out
    assert all("[1]" in line for line in out.splitlines()), out


@case("run", "cancel")
def _run_cancel(lap: Laptop) -> None:
    run_id = _run(lap, n=3)
    lap.refused("run", "cancel", run_id)  # readers read
    assert _status(lap, run_id) == "queued", "the refused cancel changed nothing"
    assert lap.ok("run", "cancel", run_id).strip() == f"run {run_id} cancelled"
    assert _status(lap, run_id) == "cancelled"


@case("run", "rerun")
def _run_rerun(lap: Laptop) -> None:
    run_id = _run(lap, n=4)
    out = lap.ok("run", "rerun", run_id)
    assert out.startswith("queued run ") and out.strip().endswith(f"(a rerun of {run_id})"), out
    again = out.split()[2]
    assert lap.rows("SELECT params FROM runs.runs WHERE id = %s", again) == [{"params": {"n": 4}}]


@case("deadletter", "list")
def _deadletter_list(lap: Laptop) -> None:
    (letter,) = lap.rows("SELECT id FROM runs.dead_letters WHERE job_name = 'job_a_seed'")
    listed = json.loads(lap.ok("deadletter", "list", "--org", "a", "--json", profile="reader"))
    assert (letter["id"], "job_a_seed") in {(d["id"], d["job_name"]) for d in listed}
    assert "job_b_seed" not in lap.ok("deadletter", "list")


@case("deadletter", "replay")
def _deadletter_replay(lap: Laptop) -> None:
    run_id = _run(lap, do="crash")  # three attempts, then a dead letter
    letter = "SELECT id FROM runs.dead_letters WHERE run_id = %s"
    with running_runner(lap.tenants, lap.server / "store"):
        wait_for(lambda: lap.rows(letter, run_id), timeout=90, every=0.2)
    letter_id = str(lap.rows(letter, run_id)[0]["id"])
    lap.refused("deadletter", "replay", letter_id)  # readers read
    out = lap.ok("deadletter", "replay", letter_id)
    again = out.split()[-1]
    assert out.strip() == f"replayed dead letter {letter_id} as run {again}"
    assert lap.rows("SELECT params FROM runs.runs WHERE id = %s", again) == [
        {"params": {"do": "crash"}}
    ]


def _prices(lap: Laptop) -> None:
    """Org a's dataset prices, versions 1 ([1, 2, 3]) and 2 (current), made once."""
    if not lap.rows("SELECT 1 FROM catalog.datasets WHERE name = 'prices'"):
        with psycopg.connect(lap.tenants.cluster.url(lap.tenants.database), autocommit=True) as db:
            two_versions(db, lap.tenants, lap.server)


@case("asset", "list")
def _asset_list(lap: Laptop) -> None:
    _prices(lap)
    listed = json.loads(lap.ok("asset", "list", "--org", "a", "--json", profile="reader"))
    assert "prices" in {d["name"] for d in listed}, listed


@case("asset", "versions")
def _asset_versions(lap: Laptop) -> None:
    _prices(lap)
    found = json.loads(
        lap.ok("asset", "versions", "prices", "--org", "a", "--json", profile="reader")
    )
    assert [v["version"] for v in found] == [1, 2]


@case("asset", "preview")
def _asset_preview(lap: Laptop) -> None:
    _prices(lap)
    out = lap.ok(
        "asset",
        "preview",
        "prices",
        "--org",
        "a",
        "--version",
        "1",
        "--limit",
        "2",
        profile="reader",
    )
    assert out.splitlines() == ["# prices v1", '{"n": 1}', '{"n": 2}'], out
    lap.nothing_in_cwd()  # the API read its own object store


@case("asset", "status")
def _asset_status(lap: Laptop) -> None:
    _prices(lap)
    found = json.loads(
        lap.ok("asset", "status", "prices", "--org", "a", "--json", profile="reader")
    )
    assert [s["dataset"] for s in found] == ["prices"], found


@case("asset", "rollback")
def _asset_rollback(lap: Laptop) -> None:
    _prices(lap)
    current = "SELECT current_version AS v FROM catalog.datasets WHERE name = 'prices'"
    before = lap.rows(current)
    lap.refused("asset", "rollback", "prices", "--org", "a", "--to", "1")  # readers read
    assert lap.rows(current) == before, "the refused rollback changed nothing"
    out = lap.ok("asset", "rollback", "prices", "--org", "a", "--to", "1")
    assert "prices" in out and lap.rows(current) == [{"v": 1}], out


@case("lineage")
def _lineage(lap: Laptop) -> None:
    _prices(lap)
    graph = json.loads(lap.ok("lineage", "prices", "--org", "a", "--json", profile="reader"))
    assert graph["dataset"] == "prices" and graph["edges"] == []
    assert lap.ok("lineage", "prices", "--org", "a", "--openlineage") == "", "no runs built it"


@case("verify")
def _verify(lap: Laptop) -> None:
    _prices(lap)
    out = lap.ok("verify", "prices", "--org", "a", "--version", "1", profile="reader")
    assert out.strip() == "prices v1: 0 file(s) verified", out  # no manifest: nothing to re-hash
    assert "no such version" in lap.refused("verify", "prices", "--org", "a", "--version", "9")


@case("backfill")
def _backfill(lap: Laptop) -> None:
    spec = {
        **jobdefs.load(TEST_JOBS / "derive.yaml"),
        "name": "parted",
        "output_datasets": ["parted"],
        "partitions": {"kind": "block_range", "size": 10},
    }
    lap.client().apply_job(org="a", definition=spec)
    by_backfill = "SELECT count(*) AS n FROM runs.runs WHERE trigger ->> 'kind' = 'backfill'"
    lap.refused("backfill", "parted", "--org", "a", "--from", "0", "--to", "19")  # a reader
    assert lap.rows(by_backfill) == [{"n": 0}], "the refused backfill queued nothing"
    out = lap.ok("backfill", "parted", "--org", "a", "--from", "0", "--to", "19")
    assert "2 partition run(s) queued" in out, out
    assert lap.rows(by_backfill) == [{"n": 2}]


@case("chain", "status")
def _chain_status(lap: Laptop) -> None:
    _dev_chain(lap)
    found = json.loads(lap.ok("chain", "status", "--json", profile="reader"))
    assert 31337 in {c["chain_id"] for c in found["chains"]}, found


@case("chain", "check")
def _chain_check(lap: Laptop) -> None:
    _dev_chain(lap)
    found = json.loads(lap.ok("chain", "check", "--chain", "31337", "--json", profile="reader"))
    assert found == {"chain_id": 31337, "problems": []}
    assert "424242" in lap.refused("chain", "check", "--chain", "424242")
    lap.nothing_in_cwd()


def _dev_chain(lap: Laptop) -> None:
    if not lap.rows("SELECT 1 FROM chain.chains WHERE chain_id = 31337"):
        lap.db.execute("SELECT chain.register_chain(31337, 'dev', 0, 2, 100)")


def user_commands() -> set[tuple[str, ...]]:
    """Every command of the tree that acts as a user (has `--as`), but the operator's own."""
    return {p for p in leaves(main) if has_as(command_at(p))} - OPERATORS_WITH_AS


def operator_commands() -> set[tuple[str, ...]]:
    everything = {p for p in leaves(main) if p[0] not in ANYWHERE}
    return everything - user_commands()


def test_every_user_command_has_a_case() -> None:
    missing = user_commands() - set(CASES)
    assert not missing, f"user commands without a remote case: {sorted(missing)}"
    assert set(CASES) <= user_commands(), sorted(set(CASES) - user_commands())


@pytest.mark.parametrize("path", sorted(CASES), ids=" ".join)
def test_user_command_through_the_api(laptop: Laptop, path: tuple[str, ...]) -> None:
    CASES[path](laptop)


def _placeholder(param: click.Parameter, spare: Path) -> list[str]:
    """Arguments that get `param` past click's parsing, whatever they mean."""
    kind = param.type
    if isinstance(kind, click.Choice):
        value = str(kind.choices[0])
    elif isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        value = "1"
    elif isinstance(kind, click.Path):
        value = str(spare)
    else:
        value = "x"
    if isinstance(param, click.Option):
        return [param.opts[0]] if param.is_flag else [param.opts[0], value]
    return [] if param.nargs == -1 else [value]


def _required(command: click.Command, spare: Path) -> list[str]:
    return [
        word
        for p in command.params
        if p.required or (isinstance(p, click.Argument) and p.nargs != -1)
        for word in _placeholder(p, spare)
    ]


def test_operator_commands_refuse_through_a_profile(
    laptop: Laptop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command that acts as nobody (and psql) refuses with the operator's line, in the
    laptop's directory, and leaves it empty (no key, no stack, no database made)."""
    spare = tmp_path / "spare"
    spare.write_text("FROM scratch\n")
    monkeypatch.chdir(laptop.folder / "cwd")
    env = {k: v for k, v in laptop_env(laptop.folder).items() if k in ("HOME", "XDG_CONFIG_HOME")}
    runner = CliRunner(env={**env, "CHAINLAKE_PROFILE": None})
    found = sorted(operator_commands())
    assert {("org", "create"), ("user", "list"), ("egress", "allow"), ("psql",)} <= set(found)
    for path in found:
        args = ["--profile", "admin", *path, *_required(command_at(path), spare)]
        done = runner.invoke(main, args)
        assert done.exit_code != 0, f"{path} ran through a profile: {done.output}"
        assert OPERATOR_LINE in done.output, f"{path}: {done.output}"
        assert done.exception is None or isinstance(done.exception, SystemExit), path
    assert set(LOCAL_ONLY) <= {p[0] for p in found}
    laptop.nothing_in_cwd()
