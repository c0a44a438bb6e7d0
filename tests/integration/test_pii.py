"""PII (address labels): nobody reads the pii schema directly; every read through pii.labels
makes exactly one audit row in its own transaction (SECURITY.md item 18: a rolled-back read
leaves none, a failed audit fails the read); delete and redact touch exactly the subject's rows
in the caller's scope, are audited, and mark exactly the asset versions derived from PII. All as
the users' own roles or the API's path, never as the superuser (the operator only sets up
asset lineage and checks what is stored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chainlake import assets
from tests.integration.conftest import send, token
from tests.tenants import Tenants, User

S1 = "0x" + "a1" * 20
S2 = "0x" + "b2" * 20
SEED = "0x" + "01" * 20  # tests/tenants.py: each org's writer shares a label on it
LABELS = "SELECT org, subject, kind, label, visibility, owner, redacted FROM pii.labels(%s, %s)"


def label(
    tenants: Tenants, user: User, subject: str, text: str, visibility: str = "private"
) -> None:
    with tenants.login(user) as conn:
        row = conn.execute(
            "SELECT pii.set_label(%s, %s, %s, 'label', %s)", (user.org, subject, text, visibility)
        ).fetchone()
    assert row == (1,)


def stored(admin: psycopg.Connection[Any]) -> set[tuple[str, str, str, str, bool]]:
    """(org, owner, subject, label, redacted) of every stored label (the operator's check)."""
    return {
        (org, email.split("@")[0], "0x" + bytes(addr).hex(), text, redacted)
        for org, email, addr, text, redacted in admin.execute(
            "SELECT o.name, u.email, l.address, l.label, l.redacted_at IS NOT NULL "
            "FROM pii.address_labels l JOIN core.orgs o ON o.id = l.org_id "
            "JOIN core.users u ON u.id = l.owner_id WHERE l.label NOT LIKE 'l\\_%%'"
        )
    }


def events(admin: psycopg.Connection[Any], action: str) -> list[tuple[Any, ...]]:
    return admin.execute(
        "SELECT e.org_id::text, e.actor_user_id::text, e.target, e.detail, e.at FROM audit.events e"
        " WHERE e.action = %s ORDER BY e.id",
        (action,),
    ).fetchall()


def seed_labels(tenants: Tenants) -> None:
    writer, reader = tenants.user("a", "writer"), tenants.user("a", "reader")
    label(tenants, writer, S1, "w-private")
    label(tenants, writer, S1, "w-shared", "org")
    label(tenants, writer, S2, "w-s2")
    label(tenants, reader, S1, "r-private")
    label(tenants, tenants.user("b", "writer"), S1, "b-label", "org")


SEEDED = {
    ("a", "writer", S1, "w-private", False),
    ("a", "writer", S1, "w-shared", False),
    ("a", "writer", S2, "w-s2", False),
    ("a", "reader", S1, "r-private", False),
    ("b", "writer", S1, "b-label", False),
}


def test_people_cannot_read_or_change_pii_tables_directly(tenants: Tenants) -> None:
    seed_labels(tenants)
    for user in (tenants.user("a", "writer"), tenants.user("a", "admin")):
        for sql in (
            "SELECT label FROM pii.address_labels",
            "UPDATE pii.address_labels SET label = 'x' WHERE label = 'w-private'",
            "DELETE FROM pii.address_labels WHERE label = 'w-private'",
            "SELECT * FROM pii.remove_subject(NULL, pii.subject(%s), NULL, true, false)",
            "SELECT * FROM pii.erase_subject(%s)",
        ):
            args = (S1,) if "%s" in sql else ()
            with pytest.raises(errors.InsufficientPrivilege), tenants.login(user) as conn:
                conn.execute(sql, args)
            with pytest.raises(errors.InsufficientPrivilege), tenants.api(user) as cur:
                cur.execute(sql, args)


def test_each_audited_read_makes_exactly_one_audit_row(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    seed_labels(tenants)
    writer = tenants.user("a", "writer")
    with tenants.login(writer) as conn:
        before = conn.execute("SELECT now()").fetchone()
        rows = conn.execute(LABELS, ("a", S1)).fetchall()
    assert sorted(r[3] for r in rows) == ["w-private", "w-shared"]
    (read,) = events(admin, "pii.read")
    org, who, target, detail, at = read
    assert (org, who, target) == (tenants.org_ids["a"], writer.id, S1)
    assert detail == {"filters": {"subject": S1, "limit": 1000}, "rows": 2, "subjects": [S1]}
    assert before is not None and at >= before[0]
    # the API's path, every subject, and a read that finds nothing: one row each
    reader = tenants.user("a", "reader")
    with tenants.api(reader) as cur:
        seen = cur.execute(LABELS, ("a", None)).fetchall()
        assert {r[3] for r in seen} == {"w-shared", "r-private", "l_a_seed"}, "own and shared"
    with tenants.login(tenants.user("a", "admin")) as conn:
        assert conn.execute(LABELS, ("a", "0x" + "00" * 20)).fetchall() == []
    reads = events(admin, "pii.read")
    assert [(e[1], e[3]["rows"], e[3]["subjects"]) for e in reads[1:]] == [
        (reader.id, 3, [SEED, S1]),
        (tenants.user("a", "admin").id, 0, []),
    ]
    assert "w-private" not in json.dumps([e[3] for e in reads]), "no value in the audit"


def test_a_rolled_back_read_leaves_no_audit_row(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    seed_labels(tenants)
    writer = tenants.user("a", "writer")
    with psycopg.connect(tenants.login_url(writer)) as conn:  # not autocommit
        with conn.transaction(force_rollback=True):
            assert len(conn.execute(LABELS, ("a", S1)).fetchall()) == 2
            assert conn.execute(
                "SELECT count(*) FROM audit.events WHERE action = 'pii.read'"
            ).fetchone() == (0,), "a writer reads no audit (RLS): the read itself went through"
        assert events(admin, "pii.read") == [], "rolled back with the read"
        with conn.transaction():
            conn.execute(LABELS, ("a", S1)).fetchall()
    assert len(events(admin, "pii.read")) == 1, "a committed read is recorded"


def test_a_failed_audit_fails_the_read(tenants: Tenants, admin: psycopg.Connection[Any]) -> None:
    """Fail closed: when the audit row cannot be written, the caller gets no rows."""
    seed_labels(tenants)
    admin.execute(
        "CREATE FUNCTION public.refuse_pii_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$"
    )
    admin.execute(
        "CREATE TRIGGER refuse_pii_audit BEFORE INSERT ON audit.events FOR EACH ROW "
        "WHEN (NEW.action = 'pii.read') EXECUTE FUNCTION public.refuse_pii_audit()"
    )
    with (
        pytest.raises(psycopg.Error, match="audit store unavailable"),
        tenants.login(tenants.user("a", "writer")) as conn,
    ):
        conn.execute(LABELS, ("a", S1)).fetchall()
    admin.execute("DROP TRIGGER refuse_pii_audit ON audit.events")
    with tenants.login(tenants.user("a", "writer")) as conn:
        assert len(conn.execute(LABELS, ("a", S1)).fetchall()) == 2


def test_org_b_sees_nothing_of_org_a_labels_nor_their_audit(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    seed_labels(tenants)
    with tenants.login(tenants.user("a", "reader")) as conn:
        conn.execute(LABELS, ("a", S1)).fetchall()
    for role in ("reader", "writer", "admin"):
        user = tenants.user("b", role)
        refused = pytest.raises(errors.UndefinedObject, match='unknown org "a"')
        with refused, tenants.login(user) as conn:
            conn.execute(LABELS, ("a", S1))
        with pytest.raises(errors.UndefinedObject), tenants.api(user) as cur:
            cur.execute(LABELS, ("a", None))
        with pytest.raises(errors.UndefinedObject), tenants.login(user) as conn:
            conn.execute("SELECT * FROM pii.delete_subject('a', %s)", (S1,))
        with tenants.login(user) as conn:
            own = conn.execute(LABELS, ("b", S1)).fetchall()
            assert [r[3] for r in own] == ["b-label"], "b's own label, nothing of a's"
            seen = conn.execute(
                "SELECT count(*) FROM audit.events WHERE action LIKE 'pii.%%' AND org_id = %s",
                (tenants.org_ids["a"],),
            ).fetchone()
            assert seen == (0,), f"{user.email} reads none of a's PII audit"
    with tenants.login(tenants.user("a", "admin")) as conn:  # a's admin does: the suite can fail
        actions = {r[0] for r in conn.execute("SELECT action FROM audit.events")}
    assert {"pii.read", "pii.label.add"} <= actions
    assert stored(admin) == SEEDED, "nothing was removed"


def test_a_reader_cannot_delete_org_visible_labels_an_admin_can(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    seed_labels(tenants)
    with tenants.login(tenants.user("a", "reader")) as conn:
        gone = conn.execute("SELECT rows FROM pii.delete_subject('a', %s)", (S1,)).fetchone()
    assert gone == (1,), "only the reader's own label"
    assert stored(admin) == SEEDED - {("a", "reader", S1, "r-private", False)}
    with tenants.login(tenants.user("a", "admin")) as conn:
        gone = conn.execute("SELECT rows FROM pii.delete_subject('a', %s)", (S1,)).fetchone()
    assert gone == (1,), "the shared one, not the writer's private one"
    assert stored(admin) == {
        ("a", "writer", S1, "w-private", False),
        ("a", "writer", S2, "w-s2", False),
        ("b", "writer", S1, "b-label", False),
    }


def lineage(admin: psycopg.Connection[Any], org_id: str) -> None:
    """enrich (reads_pii) -> enriched v1 (built a day before any label), v2 (after); report
    (no PII itself) v1 from enriched v1, v2 from enriched v2; other: unrelated, after."""
    specs = {"enrich": {"reads_pii": True}, "report": {}, "other": {"reads_pii": False}}
    for job, spec in specs.items():
        admin.execute(
            "INSERT INTO jobs.definitions (org_id, name, version, spec) VALUES (%s, %s, '1', %s)",
            (org_id, job, json.dumps({"name": job, "version": "1", **spec})),
        )
    builds = [  # (job, dataset, version, days ago, input)
        ("enrich", "enriched", 1, 1, None),
        ("enrich", "enriched", 2, 0, None),
        ("report", "report", 1, 0, ("enriched", 1)),
        ("report", "report", 2, 0, ("enriched", 2)),
        ("other", "other", 1, 0, None),
    ]
    for job, dataset, version, days, source in builds:
        run = admin.execute(
            "INSERT INTO runs.runs (org_id, job_name, job_version, status) "
            "VALUES (%s, %s, '1', 'succeeded') RETURNING id",
            (org_id, job),
        ).fetchone()
        assert run is not None
        admin.execute(
            "INSERT INTO catalog.datasets (org_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (org_id, dataset),
        )
        admin.execute(
            "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, "
            "content_hash, created_at) SELECT %s, id, %s, %s, md5(random()::text), "
            "now() - make_interval(days => %s) FROM catalog.datasets "
            "WHERE org_id = %s AND name = %s",
            (org_id, version, run[0], days, org_id, dataset),
        )
        if source:
            admin.execute(
                "INSERT INTO runs.run_inputs (org_id, run_id, dataset_id, version) "
                "SELECT %s, %s, id, %s FROM catalog.datasets WHERE org_id = %s AND name = %s",
                (org_id, run[0], source[1], org_id, source[0]),
            )


def marked(admin: psycopg.Connection[Any]) -> set[tuple[str, str, int]]:
    return {
        (org, name, version)
        for org, name, version in admin.execute(
            "SELECT o.name, d.name, v.version FROM catalog.asset_versions v "
            "JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id "
            "JOIN core.orgs o ON o.id = v.org_id WHERE v.needs_rebuild_at IS NOT NULL"
        )
    }


@pytest.mark.parametrize("action", ["delete", "redact"])
def test_delete_and_redact_touch_exactly_the_subject_and_mark_exactly_the_derived_versions(
    tenants: Tenants, admin: psycopg.Connection[Any], action: str
) -> None:
    seed_labels(tenants)
    for org in ("a", "b"):
        lineage(admin, tenants.org_ids[org])
    writer = tenants.user("a", "writer")
    with tenants.login(writer) as conn:
        (done,) = conn.execute(f"SELECT * FROM pii.{action}_subject('a', %s)", (S1,)).fetchall()
    assert done == ("a", 2, 2), "the writer's two labels; enriched v2 and report v2"
    mine = {("a", "writer", S1, "w-private", False), ("a", "writer", S1, "w-shared", False)}
    if action == "delete":
        assert stored(admin) == SEEDED - mine
    else:
        masked = {("a", "writer", S1, "[REDACTED]", True)}  # both rows, kept: a set shows one
        assert stored(admin) == (SEEDED - mine) | masked
        n = admin.execute(
            "SELECT count(*) FROM pii.address_labels WHERE label = '[REDACTED]'"
        ).fetchone()
        assert n == (2,)
        with tenants.login(writer) as conn:
            shown = conn.execute(LABELS, ("a", S1)).fetchall()
        assert [(r[3], r[6]) for r in shown] == [("[REDACTED]", True)] * 2
    assert marked(admin) == {("a", "enriched", 2), ("a", "report", 2)}
    (event,) = events(admin, f"pii.{action}")
    assert event[:3] == (tenants.org_ids["a"], writer.id, S1)
    assert event[3] == {"rows": 2, "versions_marked": 2, "scope": "own"}
    changes = events(admin, "pii.label.remove" if action == "delete" else "pii.label.change")
    assert [(e[2], e[3]["owner_id"]) for e in changes] == [(S1, writer.id)] * 2
    assert "w-private" not in json.dumps([e[3] for e in changes]), "no value in the audit"
    # users notice: the asset listing (CLI) and the API's dataset list show it
    with tenants.login(tenants.user("a", "reader")) as conn:
        listed = {r["name"]: r["needs_rebuild"] for r in assets.list_datasets(conn, "a")}
        versions = assets.versions(conn, "a", "report")
    assert {k: listed[k] for k in ("enriched", "report", "other")} == {
        "enriched": 1,
        "report": 1,
        "other": 0,
    }
    assert [v["rebuild_reason"] is not None for v in versions] == [False, True]
    assert (
        f"was {action}" in versions[1]["rebuild_reason"] and S1 not in versions[1]["rebuild_reason"]
    )
    with tenants.api(tenants.user("a", "reader")) as cur:
        api_listed = {
            r[1]: r[5] for r in cur.execute("SELECT * FROM catalog.list_datasets(NULL, 100)")
        }
    assert api_listed["report"] == 1 and api_listed["other"] == 0


def test_nothing_in_scope_is_still_audited_and_marks_nothing(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    seed_labels(tenants)
    lineage(admin, tenants.org_ids["a"])
    with tenants.login(tenants.user("a", "admin")) as conn:
        done = conn.execute("SELECT * FROM pii.redact_subject('a', %s)", (S2,)).fetchall()
    assert done == [("a", 0, 0)], "w-s2 is the writer's private label"
    assert marked(admin) == set() and stored(admin) == SEEDED
    assert [e[3] for e in events(admin, "pii.redact")] == [{"rows": 0, "versions_marked": 0}]


def test_the_operator_erases_a_subject_everywhere(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    seed_labels(tenants)
    lineage(admin, tenants.org_ids["b"])
    done = admin.execute("SELECT * FROM pii.erase_subject(%s)", (S1,)).fetchall()
    assert done == [("a", 3, 0), ("b", 1, 2)], "every owner's rows; a has no lineage here"
    assert stored(admin) == {("a", "writer", S2, "w-s2", False)}
    assert marked(admin) == {("b", "enriched", 2), ("b", "report", 2)}
    assert {e[0] for e in events(admin, "pii.delete")} == {
        tenants.org_ids["a"],
        tenants.org_ids["b"],
    }


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pii.labels('a', %s)",
        "SELECT pii.set_label('a', %s, 'x')",
        "SELECT * FROM pii.delete_subject('a', %s)",
        "SELECT * FROM pii.redact_subject('a', %s)",
    ],
)
@pytest.mark.parametrize("bad", ["0x1234", "a1" * 20, "0x" + "zz" * 20, ""])
def test_a_malformed_address_is_refused_clearly_and_loses_nothing(
    tenants: Tenants, admin: psycopg.Connection[Any], sql: str, bad: str
) -> None:
    seed_labels(tenants)
    before = admin.execute("SELECT count(*) FROM audit.events").fetchone()
    with (
        pytest.raises(
            errors.InvalidParameterValue, match=f'malformed address "{bad}": expected 0x'
        ),
        tenants.login(tenants.user("a", "admin")) as conn,
    ):
        conn.execute(sql, (bad,))
    assert stored(admin) == SEEDED
    assert admin.execute("SELECT count(*) FROM audit.events").fetchone() == before


def test_bad_labels_and_kinds_are_refused_clearly(tenants: Tenants) -> None:
    with tenants.login(tenants.user("a", "reader")) as conn:
        for args, message in (
            (("a", S1, "  ", "label", "private"), "a label needs 1 to 1000 characters"),
            (("a", S1, "x", "Bad Kind", "private"), 'invalid kind "Bad Kind"'),
            (("a", S1, "x", "label", "org"), 'only writers and admins of org "a" share labels'),
        ):
            with pytest.raises(psycopg.Error, match=message):
                conn.execute("SELECT pii.set_label(%s, %s, %s, %s, %s)", args)
        assert [r[3] for r in conn.execute(LABELS, ("a", None))] == ["l_a_seed"]


def test_the_api_reads_audited_sets_deletes_and_redacts(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    wes = token(tmp_path, tenants.user("a", "writer"))
    bob = token(tmp_path, tenants.user("b", "admin"))
    body = {"subject": S1.upper().replace("0X", "0x"), "label": "api-label", "visibility": "org"}
    status, answer = send(api, "POST", "/v1/pii/a/label", wes, body)
    assert (status, answer) == (201, {"org": "a", "subject": S1, "added": True})
    status, page = send(api, "GET", f"/v1/pii/a/labels?subject={S1}", wes)
    assert status == 200 and [i["label"] for i in page["items"]] == ["api-label"]
    assert len(events(admin, "pii.read")) == 1
    status, problem = send(api, "GET", "/v1/pii/a/labels", bob)
    assert status == 404 and "api-label" not in json.dumps(problem)
    status, problem = send(api, "GET", "/v1/pii/a/labels?subject=0x12", wes)
    assert status == 400 and problem["detail"].startswith("subject:"), "it names the field"
    status, problem = send(api, "DELETE", f"/v1/pii/a/labels?subject={S1}", bob)
    assert status == 404
    status, done = send(api, "POST", "/v1/pii/a/redact", wes, {"subject": S1})
    assert (status, done) == (200, {"org": "a", "subject": S1, "rows": 1, "versions_marked": 0})
    status, done = send(api, "DELETE", f"/v1/pii/a/labels?subject={S1}", wes)
    assert (status, done["rows"]) == (200, 1)
    status, page = send(api, "GET", "/v1/pii/a/labels", wes)
    assert status == 200 and [i["subject"] for i in page["items"]] == [SEED], "S1's are gone"
    assert len(events(admin, "pii.read")) == 2, "one per read, none for a refused read"
