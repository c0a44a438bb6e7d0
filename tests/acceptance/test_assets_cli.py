"""Assets through the real CLI: versions, lineage (JSON and OpenLineage), preview, verify of an
intact and a tampered version, rollback refused for a version that does not exist, rerun."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from chainlake.local.s3 import EmbeddedS3
from chainlake.storage import open_store
from tests.acceptance.cli import run
from tests.acceptance.conftest import ok, start_runner
from tests.runtime import TEST_JOBS, wait_for


def test_assets_through_the_cli(
    env: dict[str, str], runners: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    spec = tmp_path / "derive.yaml"
    spec.write_text((TEST_JOBS / "derive.yaml").read_text())
    (tmp_path / "derive.py").write_text((TEST_JOBS / "derive.py").read_text())
    ok("job", "apply", str(spec), "--org", "acme", env=env)
    start_runner(env, runners)
    for value in (1, 2):
        ok("job", "run", "derive", "--org", "acme", "--param", f"value={value}", "--wait", env=env)
    versions = json.loads(ok("asset", "versions", "derived", "--org", "acme", "--json", env=env))
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, True)]
    assert "derive(2)" in ok("asset", "preview", "derived", "--org", "acme", env=env)
    assert "derive(1)" in ok(
        "asset", "preview", "derived", "--org", "acme", "--version", "1", env=env
    )
    assert "1 file(s) verified" in ok("verify", "derived", "--org", "acme", env=env)
    tampered = versions[1]["uris"][0]  # in the stack's own object store, by default
    store = open_store(
        tampered.rsplit("/", 1)[0], **EmbeddedS3(Path(env["CHAINLAKE_HOME"])).settings()
    )
    store.put(tampered.rsplit("/", 1)[1], b"tampered\n")
    bad = run("verify", "derived", "--org", "acme", env=env)
    assert bad.returncode == 1 and f"altered: {tampered}" in bad.stdout, bad.stdout
    refused = run("asset", "rollback", "derived", "--org", "acme", "--to", "7", env=env)
    assert refused.returncode == 3
    assert refused.stderr.startswith('error: dataset "derived" has no version 7')
    assert "is at version 1" in ok(
        "asset", "rollback", "derived", "--org", "acme", "--to", "1", env=env
    )
    runs = json.loads(ok("run", "list", "--json", env=env))
    out = ok("run", "rerun", runs[0]["id"], env=env)
    assert "a rerun of" in out
    wait_for(
        lambda: all(
            r["status"] == "succeeded" for r in json.loads(ok("run", "list", "--json", env=env))
        )
    )
    graph = json.loads(ok("lineage", "derived", "--org", "acme", "--json", env=env))
    assert graph["direction"] == "upstream" and graph["edges"] == []  # a source: no inputs
    status = ok("asset", "status", "--org", "acme", env=env)
    assert "derived v" in status
