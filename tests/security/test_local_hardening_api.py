"""Local hardening of the API's side (issue 14, "Local hardening"): DuckDB's extension directory
is private to the service; the platform's secret key rotates (MultiFernet: several keys, the
first encrypts, all decrypt; every stored secret re-encrypted with the new one); S3 credentials
follow AWS's standard chain, session tokens included, into boto3 and DuckDB alike: a profile's
keys against the real SeaweedFS store the tests start, a session token seen in both clients'
requests to a recording endpoint (SeaweedFS refuses temporary keys it did not issue)."""

from __future__ import annotations

import io
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.fernet import Fernet

from chainlake.duck import connect, extension_directory, extension_root
from chainlake.errors import ChainlakeError
from chainlake.local.s3 import SeaweedS3
from chainlake.secrets import (
    add_key_to_file,
    decrypt,
    encrypt,
    load_key,
    reencrypt_all,
    retire_old_keys,
)
from chainlake.storage import S3Store, open_store
from tests.integration.conftest import seaweed  # noqa: F401 - the fixture
from tests.tenants import Tenants


# -- DuckDB's extension directory ------------------------------------------------------------
def test_the_extension_directory_is_private_and_not_a_shared_tmp_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHAINLAKE_DUCKDB_EXTENSIONS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    default = extension_root()
    assert not str(default).startswith(tempfile.gettempdir()), default
    assert default == Path.home() / ".cache" / "chainlake" / "duckdb-extensions"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "cache" / "chainlake" / "duckdb-extensions"
    root.mkdir(parents=True)
    root.chmod(0o777)  # made loose by someone: tightened
    assert extension_directory() == root
    for folder in (root, *[p for p in root.rglob("*") if p.is_dir()]):
        assert folder.stat().st_uid == os.getuid() and (folder.stat().st_mode & 0o777) == 0o700
    links = list(root.rglob("*.duckdb_extension"))
    assert links and all(".venv" in os.readlink(link) or "site-packages" in os.readlink(link)
                         for link in links)  # fmt: skip


def test_a_planted_extension_is_replaced_by_the_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLAKE_DUCKDB_EXTENSIONS", str(tmp_path / "ext"))
    extension_directory()
    (planted,) = [p for p in (tmp_path / "ext").rglob("httpfs.duckdb_extension")]
    evil = tmp_path / "evil.duckdb_extension"
    evil.write_bytes(b"not an extension")
    planted.unlink()
    planted.symlink_to(evil)
    extension_directory()
    assert os.readlink(planted) != str(evil)
    connect("httpfs").close()  # the wheel's extension loads


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a directory of another user")
def test_an_extension_directory_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    monkeypatch.setenv("CHAINLAKE_DUCKDB_EXTENSIONS", str(theirs))
    with pytest.raises(ChainlakeError) as refused:
        connect()
    assert str(theirs) in refused.value.message and "65534" in refused.value.message


# -- key rotation ----------------------------------------------------------------------------
def _store_every_kind_of_secret(tenants: Tenants, key: bytes) -> None:
    org = tenants.org_ids["a"]
    with tenants.login(tenants.user("a", "admin")) as conn:
        conn.execute("SELECT jobs.set_secret('a', 'api_token', %s)", (encrypt(key, "tok"),))
        conn.execute(
            "SELECT alerts.save_channel('a', 'hook', 'webhook', 'http://127.0.0.1:9/h', '{}', %s)",
            (encrypt(key, "hook"),),
        )
        conn.execute(
            "INSERT INTO jobs.definitions (org_id, name, version, spec) VALUES "
            '(%s, \'hooked\', \'1\', \'{"activation": "webhook", "kind": "source"}\')',
            (org,),
        )
        conn.execute("SELECT jobs.set_webhook_secret(%s, 'hooked', %s)", (org, encrypt(key, "wh")))


def _stored(admin: psycopg.Connection[Any]) -> list[bytes]:
    return [
        bytes(value)
        for (value,) in admin.execute(
            "SELECT value FROM core.encrypted_values() WHERE value <> '\\x00'"
        ).fetchall()
    ]


def test_the_secret_key_rotates_and_every_stored_secret_is_reencrypted(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHAINLAKE_SECRET_KEY", raising=False)
    home = tmp_path / "home"
    old = load_key(home)
    admin.execute("DELETE FROM jobs.secrets")  # the fixture's seeds hold no real ciphertext
    admin.execute("DELETE FROM jobs.webhook_secrets")
    admin.execute("UPDATE alerts.channels SET secret_enc = NULL")
    _store_every_kind_of_secret(tenants, old)
    before = _stored(admin)
    assert len(before) == 3

    both = add_key_to_file(home)  # the new key first, the old one still decrypts
    new = both.split(b"\n")[0]
    assert new != old and both.split(b"\n")[1] == old
    assert {decrypt(both, v) for v in before} == {"tok", "hook", "wh"}
    assert reencrypt_all(admin, both).changed == 3
    after = _stored(admin)
    assert {decrypt(new, v) for v in after} == {"tok", "hook", "wh"}  # the new key alone
    with pytest.raises(ChainlakeError):
        decrypt(old, after[0])
    retire_old_keys(home)
    assert load_key(home) == new
    assert (home / "secret.key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("CHAINLAKE_SECRET_KEY", f"{Fernet.generate_key().decode()},{new.decode()}")
    assert (
        decrypt(load_key(home), after[0])
        == {"tok", "hook", "wh"}.intersection({decrypt(new, after[0])}).pop()
    )


def test_one_orgs_junk_ciphertext_does_not_stop_the_rotation(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A review finding: one writer's `jobs.set_secret(..., '\\x6a756e6b')` (no ciphertext at
    all) made `rotate-key` fail for the whole platform. It is now skipped and named."""
    monkeypatch.delenv("CHAINLAKE_SECRET_KEY", raising=False)
    home = tmp_path / "home"
    admin.execute("DELETE FROM jobs.secrets")
    admin.execute("DELETE FROM jobs.webhook_secrets")
    admin.execute("UPDATE alerts.channels SET secret_enc = NULL")
    _store_every_kind_of_secret(tenants, load_key(home))
    with tenants.login(tenants.user("b", "writer")) as conn:
        conn.execute("SELECT jobs.set_secret('b', 'junk', '\\x6a756e6b'::bytea)")
    both = add_key_to_file(home)
    done = reencrypt_all(admin, both)
    assert done.changed == 3
    assert done.undecryptable == [("job secret", "b", "junk")]
    new = both.split(b"\n")[0]
    assert {decrypt(new, v) for v in _stored(admin) if v != b"junk"} == {"tok", "hook", "wh"}


# -- S3 credentials: the standard chain -----------------------------------------------------
def _parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"n": [7, 8]}), sink)
    return sink.getvalue()


def _reads_through_both(store: S3Store) -> None:
    key = f"org/{uuid.uuid4().hex}.parquet"
    store.put(key, _parquet())  # boto3
    assert store.get(key) == _parquet()
    con = connect("httpfs")  # DuckDB, with the secret the query service gives it
    try:
        for statement in store.duckdb_setup():
            con.execute(statement)
        assert con.execute(f"SELECT sum(n) FROM read_parquet('{store.uri(key)}')").fetchone() == (
            15,
        )
    finally:
        con.close()


def _clear_aws(monkeypatch: pytest.MonkeyPatch, server: SeaweedS3, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)


@contextmanager
def recording_s3() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An HTTP server on 127.0.0.1 that records each request's headers and refuses it (403):
    SeaweedFS refuses a temporary key it did not issue itself (its STS needs an IAM setup), so
    the session token's way into boto3's and DuckDB's requests is seen here."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_HEAD = do_POST = _refuse

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_s3_session_tokens_from_the_environment_reach_boto3_and_duckdb(
    seaweed: SeaweedS3,  # noqa: F811 - the fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clear_aws(monkeypatch, seaweed, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMPORARYKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "temporary-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-from-env")
    with recording_s3() as (endpoint, seen):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        store = open_store("s3://chainlake/hardening")
        assert isinstance(store, S3Store)
        assert "SESSION_TOKEN 'session-token-from-env'" in store.duckdb_setup()[0]
        with pytest.raises(Exception, match=r"403|Forbidden|AccessDenied"):
            store.put("x.bin", b"x")  # boto3
        con = connect("httpfs")
        try:
            for statement in store.duckdb_setup():
                con.execute(statement)
            with pytest.raises(duckdb.Error):
                con.execute(f"SELECT * FROM read_parquet('{store.uri('x.parquet')}')")
        finally:
            con.close()
    agents = {h.get("user-agent", "").split("/")[0].lower() for h in seen}
    assert {"boto3", "duckdb"} <= agents, agents
    assert seen and all(h.get("x-amz-security-token") == "session-token-from-env" for h in seen)


def test_s3_credentials_of_a_profile_reach_boto3_and_duckdb(
    seaweed: SeaweedS3,  # noqa: F811 - the fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clear_aws(monkeypatch, seaweed, tmp_path)
    shared = tmp_path / "credentials"
    shared.write_text(
        "[lake]\n"
        f"aws_access_key_id = {seaweed.ACCESS_KEY}\n"
        f"aws_secret_access_key = {seaweed.secret_key}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_PROFILE", "lake")
    store = open_store("s3://chainlake/hardening")
    assert isinstance(store, S3Store)
    setup = store.duckdb_setup()[0]
    assert f"KEY_ID '{seaweed.ACCESS_KEY}'" in setup and f"SECRET '{seaweed.secret_key}'" in setup
    _reads_through_both(store)
