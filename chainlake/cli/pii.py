"""`chainlake pii`: personal data about an address (labels and similar enrichments), private to
a user or shared with their org. Every read is audited (one `pii.read` event, in the same
transaction); delete and redact are audited too and mark the asset versions built from PII for
rebuild. The rules live in sql/88_pii.sql; docs/tenancy.md explains them."""

from __future__ import annotations

from typing import Any

import click

from chainlake.cli.common import (
    AS_USER,
    acting,
    handles_errors,
    print_rows,
    profile_in_effect,
    stamp,
)
from chainlake.domain import pii as labels
from chainlake.errors import InvalidInput

SUBJECT = click.option("--subject", required=True, help="The address, 0x and 40 hex digits.")


@click.group(help="PII: address labels and similar enrichments, with audited reads.")
def pii() -> None:
    pass


def _person(as_email: str | None, what: str) -> str | None:
    if not as_email and profile_in_effect() is None:  # through a profile: who signed in
        raise InvalidInput(f"{what} is done by a person", "name them with --as EMAIL")
    return as_email


@pii.command("labels", help="Your labels and those shared with --org (an audited read).")
@click.option("--org", "org_name", required=True)
@click.option("--subject", default=None, help="Only labels about this address.")
@click.option("--limit", default=1000, show_default=True, help="At most 1000.")
@AS_USER
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def pii_labels(
    org_name: str, subject: str | None, limit: int, as_email: str | None, as_json: bool
) -> None:
    def line(r: dict[str, Any]) -> str:
        return (
            f"{r['subject']}  {r['kind']}  {r['label']}  {r['visibility']}  {r['owner'] or '-'}"
            f"  {stamp(r['created_at'])}"
        )

    with acting(_person(as_email, "reading PII")) as act:
        found = act(
            labels.list_pii_labels, org=org_name, subject=subject, limit=max(1, min(limit, 1000))
        )
    print_rows(found, as_json, line, "no labels you may read")


@pii.command("set", help="Label an address: private, or --org-visible (writers and admins).")
@click.option("--org", "org_name", required=True)
@SUBJECT
@click.option("--label", required=True)
@click.option("--kind", default="label", show_default=True, help="e.g. label, name, note.")
@click.option("--org-visible", is_flag=True, help="Share it with the org.")
@AS_USER
@handles_errors
def pii_set(
    org_name: str,
    subject: str,
    label: str,
    kind: str,
    org_visible: bool,
    as_email: str | None,
) -> None:
    visibility = "org" if org_visible else "private"
    with acting(_person(as_email, "labelling")) as act:
        done = act(
            labels.set_pii_label,
            org=org_name,
            subject=subject,
            label=label,
            kind=kind,
            visibility=visibility,
        )
    said = "labelled" if done["added"] else "already labelled"
    click.echo(f"{said} {subject.lower()} in {org_name} ({kind}, {visibility})")


def _remove(
    redact: bool, verb: str, org_name: str | None, subject: str, as_email: str | None
) -> None:
    if as_email or profile_in_effect() is not None:  # a person: --as, or who signed in
        if not org_name:
            raise InvalidInput(
                "--org is required when a person deletes or redacts", "name the org: --org ORG"
            )
        op = labels.redact_pii_subject if redact else labels.delete_pii_subject
        with acting(as_email) as act:
            found = [act(op, org=org_name, subject=subject)]
    else:  # the operator: everyone's rows, in --org or in every org
        with acting(None) as act:
            found = act(labels.erase_pii_subject, subject=subject, org=org_name, redact=redact)
    for r in found:
        click.echo(
            f"{r['org'] or '-'}: {verb} {r['rows']} row(s) about {subject.lower()}; "
            f"{r['versions_marked']} asset version(s) marked for rebuild"
        )


@pii.command(
    "delete",
    help="Delete every label about an address in your scope: your own, and as an admin those "
    "shared with the org. Without --as: the operator, everyone's, in --org or every org.",
)
@click.option("--org", "org_name", default=None)
@SUBJECT
@AS_USER
@handles_errors
def pii_delete(org_name: str | None, subject: str, as_email: str | None) -> None:
    _remove(False, "deleted", org_name, subject, as_email)


@pii.command(
    "redact",
    help="Mask every label about an address in your scope as [REDACTED], keeping the rows. "
    "Without --as: the operator, everyone's, in --org or every org.",
)
@click.option("--org", "org_name", default=None)
@SUBJECT
@AS_USER
@handles_errors
def pii_redact_sql(org_name: str | None, subject: str, as_email: str | None) -> None:
    _remove(True, "redacted", org_name, subject, as_email)
