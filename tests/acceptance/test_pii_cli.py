"""`chainlake pii` through the real CLI: set, an audited read, a malformed address refused with a
clear error, redact and delete as the user, the operator's erasure, and the audit trail."""

from __future__ import annotations

import json

from tests.acceptance.cli import run
from tests.acceptance.conftest import ok

ANN = ("--as", "ann@acme.example")  # a writer of acme (the env fixture)
S1 = "0x" + "ab" * 20
S2 = "0x" + "cd" * 20


def test_pii_commands(env: dict[str, str]) -> None:
    for subject, text, shared in ((S1, "exchange", True), (S1, "alice", False), (S2, "bob", False)):
        args = ("pii", "set", "--org", "acme", "--subject", subject, "--label", text, *ANN)
        out = ok(*args, *(("--org-visible",) if shared else ()), env=env)
        assert f"labelled {subject}" in out
    listed = json.loads(
        ok("pii", "labels", "--org", "acme", "--subject", S1, "--json", *ANN, env=env)
    )
    assert sorted(r["label"] for r in listed) == ["alice", "exchange"]
    bad = run("pii", "labels", "--org", "acme", "--subject", "0x12", *ANN, env=env)
    assert bad.returncode == 2 and 'error: malformed address "0x12"' in bad.stderr
    refused = run("pii", "labels", "--org", "acme", env=env)
    assert refused.returncode == 2 and "--as EMAIL" in refused.stderr
    out = ok("pii", "redact", "--org", "acme", "--subject", S1, *ANN, env=env)
    assert f"acme: redacted 2 row(s) about {S1}" in out
    out = ok("pii", "labels", "--org", "acme", *ANN, env=env)
    assert out.count("[REDACTED]") == 2 and "bob" in out and "alice" not in out
    out = ok("pii", "delete", "--org", "acme", "--subject", S1, *ANN, env=env)
    assert f"acme: deleted 2 row(s) about {S1}" in out
    out = ok("pii", "delete", "--subject", S2, env=env)  # the operator, every org
    assert f"acme: deleted 1 row(s) about {S2}; 0 asset version(s) marked" in out
    assert "no labels you may read" in ok("pii", "labels", "--org", "acme", *ANN, env=env)
    audit = json.loads(ok("audit", "list", "--org", "acme", "--json", env=env))
    actions = [e["action"] for e in audit if e["action"].startswith("pii.")]
    assert actions.count("pii.read") == 3, "three reads (the refused ones are no read)"
    assert {"pii.redact", "pii.delete", "pii.label.add", "pii.label.remove"} <= set(actions)
    assert "alice" not in json.dumps(audit), "the audit holds no label value"
