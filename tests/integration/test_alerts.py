"""Alert rules as rows: a condition is checked by Postgres when saved (only the dataset's
columns, pure functions, no other table, one expression); each ingest batch evaluates the active
rules in its own transaction; a firing is a row, a NOTIFY with opaque ids only, and a delivery
task per channel; a reorg that removes a firing's rows retracts it."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import errors

from chainlake.alerts.backtest import backtest
from chainlake.alerts.deliver import Deliverer
from chainlake.chain.archive import archive
from chainlake.chain.ingest import LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.errors import NotFound
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from chainlake.secrets import encrypt, signature
from chainlake.storage import LocalStore
from tests.chainkit import chain_config
from tests.receivers import Receiver, http_receiver, smtp_server
from tests.tenants import Tenants

ETH = 10**18
RULE = (
    "INSERT INTO alerts.rules (org_id, name, dataset, condition, channels) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)


@pytest.fixture
def ingest_url(tenants: Tenants) -> str:
    return tenants.cluster.url(tenants.database, "chainlake_ingest")


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    with Anvil(free_port(), block_time=None) as node:
        yield node


BAD_CONDITIONS = [
    ("value > (SELECT count(*) FROM chain.logs)", "may not read other tables"),
    ("value > (SELECT 1)", "subqueries"),
    ("nope > 1", 'column "nope" does not exist'),
    ("random() > 0.5", "may not call random()"),
    ("pg_sleep(1) IS NULL", "may not call pg_sleep"),
    ("set_config('x.y', 'z', false) = 'z'", "may not call set_config"),
    ("now() > '2020-01-01'", "may not call now()"),
    ("value >", "does not parse"),
    ("true; DROP TABLE chain.blocks", "one expression only"),
    ("true -- comment", "one expression only"),
    ("E'\\'' = 'x'", "escape strings"),
    ("status = 1 OR e'x' = 'x'", "escape strings"),
    ("true) OR (true", 'unbalanced ")"'),
    ("sum(value) > 1", "aggregates need a window"),
    ("""xmlelement(name "'") IS NULL)); ALTER ROLE "x" SUPERUSER -- ')""", 'no ";"'),
    ("""xmlelement(name "'") IS NULL)) -- ')""", "one expression only"),
    ("current_timestamp > '2020-01-01'", "may not read the clock"),
    ("generate_series(1, 1) = 1", "may not call generate_series"),
    ("value", "boolean"),
    ("", "empty"),
    ("length(repeat(input::text, 10000000)) > 0", "may not call repeat"),
    ("value ^ 1000000 > 0", "may not call numeric_power"),
    ("lpad('x', 1000000000) <> ''", "may not call lpad"),
    ("value > 0 AND " + " AND ".join(["value > 1"] * 200), "at most 2000"),
]


@pytest.mark.parametrize(("condition", "says"), BAD_CONDITIONS)
def test_a_bad_condition_is_refused_when_saved_and_nothing_is_stored(
    tenants: Tenants, condition: str, says: str
) -> None:
    writer = tenants.user("a", "writer")
    with tenants.login(writer) as conn:
        conn.execute(RULE, (tenants.org_ids["a"], "kept", "chain.transactions", "value > 1", []))
        with pytest.raises(errors.InvalidParameterValue, match=None) as refused:
            conn.execute(RULE, (tenants.org_ids["a"], "bad", "chain.transactions", condition, []))
        assert says in str(refused.value), str(refused.value)
        names = {r[0] for r in conn.execute("SELECT name FROM alerts.rules")}
    assert "kept" in names and "bad" not in names


def test_good_conditions_are_saved(tenants: Tenants) -> None:
    writer = tenants.user("a", "writer")
    good = [
        ("chain.transactions", "value >= 1000000000000000000 AND status = 1"),
        ("chain.transactions", "lower(encode(from_address, 'hex')) LIKE 'f39f%'"),
        (
            "chain.logs",
            "topic0 = '\\xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'::bytea",
        ),
        ("chain.blocks", "gas_used * 2 > gas_limit"),
    ]
    with tenants.login(writer) as conn:
        for i, (dataset, condition) in enumerate(good):
            conn.execute(RULE, (tenants.org_ids["a"], f"good{i}", dataset, condition, []))
        with pytest.raises(errors.InvalidParameterValue, match="not a column"):
            conn.execute("UPDATE alerts.rules SET dedup_key = '{nope}' WHERE name = 'good0'")
        with pytest.raises(errors.InvalidParameterValue, match='"nowhere" is not a channel'):
            conn.execute(RULE, (tenants.org_ids["a"], "lost", "chain.blocks", "true", ["nowhere"]))
        with pytest.raises(errors.InvalidParameterValue, match="alerts watch"):
            conn.execute(RULE, (tenants.org_ids["a"], "other", "catalog.datasets", "true", []))


def _notifications(conn: psycopg.Connection[Any], want: int) -> list[dict[str, Any]]:
    got = []
    for note in conn.notifies(timeout=10, stop_after=want):
        got.append(json.loads(note.payload))
    return got


def test_a_large_transfer_fires_once_notifies_opaquely_and_a_reorg_retracts_it(
    tenants: Tenants, admin: psycopg.Connection[Any], anvil: Anvil, ingest_url: str
) -> None:
    org_a = tenants.org_ids["a"]
    admin.execute("UPDATE alerts.rules SET enabled = false")  # the tenants' seed rules
    writer = tenants.user("a", "writer")
    with tenants.login(writer) as conn:
        conn.execute(
            "INSERT INTO alerts.channels (org_id, name, kind, target) "
            "VALUES (%s, 'hook', 'webhook', 'http://127.0.0.1:9/hook')",
            (org_a,),
        )
        conn.execute(RULE, (org_a, "whale", "chain.transactions", f"value >= {3 * ETH}", ["hook"]))
        # passes the check, fails at run time on every row: set aside, never fails ingest
        conn.execute(
            RULE, (org_a, "broken", "chain.transactions", "value / (nonce - nonce) > 0", [])
        )
    channel = admin.execute("SELECT alerts.channel_name(%s)", (org_a,)).fetchone()
    assert channel is not None
    # b listens on a's channel: Postgres lets it (LISTEN has no access control) ...
    eavesdropper = tenants.user("b", "admin")
    with tenants.login(tenants.user("a", "reader")) as mine, tenants.login(eavesdropper) as b:
        mine.execute(f'LISTEN "{channel[0]}"')
        b.execute(f'LISTEN "{channel[0]}"')
        rpc = RpcClient([anvil.url])
        sender, receiver = rpc.call("eth_accounts")[:2]
        for value in (1 * ETH, 5 * ETH):
            rpc.call("eth_sendTransaction", [{"from": sender, "to": receiver, "value": hex(value)}])
        rpc.call("anvil_mine", ["0x1"])  # both in block 1
        ingest = LiveIngest(chain_config(anvil.url), ingest_url, log=lambda _m: None)
        ingest.prepare()
        while ingest.step():
            pass

        (fired,) = _notifications(mine, 1)
        assert set(fired) == {"firing", "event"} and fired["event"] == "fired"
        row = mine.execute(
            "SELECT f.vals ->> 'value', f.from_block, r.name FROM alerts.firings f "
            "JOIN alerts.rules r ON r.id = f.rule_id WHERE f.id = %s",
            (fired["firing"],),
        ).fetchone()
        assert row is not None and row[0] == str(5 * ETH) and row[2] == "whale"
        # ... but the payload is an opaque id, and b reads nothing through it
        (overheard,) = _notifications(b, 1)
        assert overheard == fired
        assert b.execute(
            "SELECT count(*) FROM alerts.firings WHERE id = %s", (fired["firing"],)
        ).fetchone() == (0,)
        broken = admin.execute("SELECT last_error FROM alerts.rules WHERE name = 'broken'")
        assert broken.fetchone() == ("division by zero",)
        deliveries = admin.execute(
            "SELECT channel, event, state FROM alerts.deliveries WHERE firing_id = %s",
            (fired["firing"],),
        ).fetchall()
        assert deliveries == [("hook", "fired", "pending")]
        queued = admin.execute("SELECT count(*) FROM pgmq.q_alert_deliveries").fetchone()
        assert queued == (1,)

        # a replay of the same blocks fires nothing again
        replay = admin.execute("SELECT alerts.evaluate(31337, 0, %s, 'provisional')", (row[1],))
        assert replay.fetchone() == (0,)

        # the block is orphaned: the firing is retracted, announced and queued for delivery
        rpc.call("anvil_reorg", [1, []])
        while ingest.step():
            pass
        ingest.close()
        (retracted,) = _notifications(mine, 1)
        assert retracted == {"firing": fired["firing"], "event": "retracted"}
    state = admin.execute(
        "SELECT retracted_at IS NOT NULL FROM alerts.firings WHERE id = %s", (fired["firing"],)
    ).fetchone()
    assert state == (True,)
    events = admin.execute(
        "SELECT event FROM alerts.deliveries WHERE firing_id = %s ORDER BY created_at",
        (fired["firing"],),
    ).fetchall()
    assert events == [("fired",), ("retracted",)]


def _mine_transfer(anvil: Anvil, value: int) -> None:
    rpc = RpcClient([anvil.url])
    sender, receiver = rpc.call("eth_accounts")[:2]
    rpc.call("eth_sendTransaction", [{"from": sender, "to": receiver, "value": hex(value)}])
    rpc.call("anvil_mine", ["0x1"])


def _catch_up(ingest: LiveIngest) -> None:
    for _ in range(100):
        if not ingest.step():
            return


def _deliver_all(deliverer: Deliverer, url: str, until: Any) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 20
        while not until() and time.monotonic() < deadline:
            if not deliverer.deliver_once(conn):
                time.sleep(0.05)
    assert until(), "deliveries did not finish in 20 s"


def test_a_firing_and_its_retraction_reach_webhook_email_sms_and_chat(
    tenants: Tenants, admin: psycopg.Connection[Any], anvil: Anvil, ingest_url: str
) -> None:
    org_a = tenants.org_ids["a"]
    admin.execute("UPDATE alerts.rules SET enabled = false")  # the tenants' seed rules
    key = Fernet.generate_key()
    with (
        http_receiver(Receiver()) as web,
        smtp_server() as mail,
        tenants.login(tenants.user("a", "writer")) as conn,
    ):
        for address in (web.address, mail.address):  # loopback: the operator allows them
            admin.execute("SELECT core.allow_egress(%s)", (address,))
        channels = [
            ("hook", "webhook", f"{web.url}/hook", {}, "hook-secret"),
            ("mail", "email", "ops@a.example", {"host": "127.0.0.1", "port": mail.port}, None),
            (
                "sms",
                "sms",
                "+15550001",
                {"base_url": web.url, "account_sid": "AC123", "from": "+15559999"},
                "sms-token",
            ),
            ("chat", "slack", f"{web.url}/slack", {}, None),
        ]
        for name, kind, target, config, secret in channels:
            conn.execute(
                "INSERT INTO alerts.channels (org_id, name, kind, target, config, secret_enc) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    org_a,
                    name,
                    kind,
                    target,
                    json.dumps(config),
                    encrypt(key, secret) if secret else None,
                ),
            )
        names = [c[0] for c in channels]
        conn.execute(RULE, (org_a, "whale", "chain.transactions", f"value >= {3 * ETH}", names))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT secret_enc FROM alerts.channels")

        _mine_transfer(anvil, 5 * ETH)
        ingest = LiveIngest(chain_config(anvil.url), ingest_url, log=lambda _m: None)
        ingest.prepare()
        _catch_up(ingest)
        alerts_url = tenants.cluster.url(tenants.database, "chainlake_alerts")
        deliverer = Deliverer(alerts_url, key, log=lambda _m: None)
        _deliver_all(deliverer, alerts_url, lambda: len(web.received) == 3 and mail.messages)

        (hook,) = web.posts("/hook")
        ts = hook.headers["X-Chainlake-Timestamp"]
        assert hook.headers["X-Chainlake-Signature"] == signature(
            "hook-secret", ts, hook.headers["X-Chainlake-Delivery"], hook.body
        )
        sent = json.loads(hook.body)
        assert sent["event"] == "fired" and sent["rule"] == "whale"
        assert sent["values"]["value"] == 5 * ETH
        (sms,) = web.posts("/2010-04-01/Accounts/AC123/Messages.json")
        form = urllib.parse.parse_qs(sms.body.decode())
        assert form["To"] == ["+15550001"] and form["From"] == ["+15559999"]
        assert "a/whale" in form["Body"][0]
        auth = base64.b64decode(sms.headers["Authorization"].split()[1]).decode()
        assert auth == "AC123:sms-token"
        (chat,) = web.posts("/slack")
        assert "[info] a/whale on chain 31337" in json.loads(chat.body)["text"]
        (message,) = mail.messages
        assert message.rcpt_tos == ["ops@a.example"] and b"a/whale" in message.content

        RpcClient([anvil.url]).call("anvil_reorg", [1, []])
        _catch_up(ingest)
        ingest.close()
        _deliver_all(deliverer, alerts_url, lambda: len(web.received) == 6)
        assert json.loads(web.posts("/hook")[1].body)["event"] == "retracted"
        assert "RETRACTED" in json.loads(web.posts("/slack")[1].body)["text"]
        _deliver_all(deliverer, alerts_url, lambda: len(mail.messages) == 2)
        states = conn.execute(
            "SELECT channel, event, state, attempts FROM alerts.deliveries "
            "WHERE channel = ANY(%s) ORDER BY 2, 1",
            (names,),
        ).fetchall()
    assert states == [
        (name, event, "delivered", 1) for event in ("fired", "retracted") for name in sorted(names)
    ]


def test_a_flaky_receiver_gets_the_alert_once_and_a_dead_one_ends_in_the_dead_letter(
    tenants: Tenants, admin: psycopg.Connection[Any], anvil: Anvil, ingest_url: str
) -> None:
    org_a = tenants.org_ids["a"]
    admin.execute("UPDATE alerts.rules SET enabled = false")
    with (
        http_receiver(Receiver(fail_first={"/flaky": 2}, fail_always={"/down"})) as web,
        tenants.login(tenants.user("a", "writer")) as conn,
    ):
        admin.execute("SELECT core.allow_egress(%s)", (web.address,))
        for name in ("flaky", "down"):
            conn.execute(
                "INSERT INTO alerts.channels (org_id, name, kind, target) "
                "VALUES (%s, %s, 'webhook', %s)",
                (org_a, name, f"{web.url}/{name}"),
            )
        conn.execute(
            RULE, (org_a, "whale", "chain.transactions", f"value >= {3 * ETH}", ["flaky", "down"])
        )
        _mine_transfer(anvil, 4 * ETH)
        ingest = LiveIngest(chain_config(anvil.url), ingest_url, log=lambda _m: None)
        ingest.prepare()
        _catch_up(ingest)
        ingest.close()
        alerts_url = tenants.cluster.url(tenants.database, "chainlake_alerts")
        deliverer = Deliverer(
            alerts_url, b"", max_attempts=4, retry_seconds=(0,), log=lambda _m: None
        )

        def settled() -> bool:
            states = {
                r[0]
                for r in conn.execute(
                    "SELECT state FROM alerts.deliveries WHERE channel IN ('flaky', 'down')"
                )
            }
            return states == {"delivered", "dead"}

        _deliver_all(deliverer, alerts_url, settled)
        rows = dict(
            (r[0], r[1:])
            for r in conn.execute(
                "SELECT channel, state, attempts, last_error FROM alerts.deliveries "
                "WHERE channel IN ('flaky', 'down')"
            )
        )
    assert len(web.posts("/flaky")) == 1 and web.failed.count("/flaky") == 2
    assert rows["flaky"] == ("delivered", 3, None)
    assert rows["down"] == ("dead", 4, "HTTP 500"), "the receiver's answer is not kept"
    assert web.failed.count("/down") == 4, "no attempt after the dead letter"


def test_a_backtest_across_the_watermark_finds_exactly_what_live_evaluation_found(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    anvil: Anvil,
    ingest_url: str,
    tmp_path: Path,
) -> None:
    org_a = tenants.org_ids["a"]
    admin.execute("UPDATE alerts.rules SET enabled = false")
    with tenants.login(tenants.user("a", "writer")) as conn:
        conn.execute(RULE, (org_a, "whale", "chain.transactions", f"value >= {3 * ETH}", []))
        conn.execute(
            "INSERT INTO alerts.rules (org_id, name, dataset, condition, window_blocks, "
            "group_by) VALUES (%s, 'spree', 'chain.transactions', %s, 3, '{from_address}')",
            (org_a, f"sum(value) > {6 * ETH}"),
        )
        conn.execute(
            "INSERT INTO alerts.rules (org_id, name, dataset, condition, confirmation) "
            "VALUES (%s, 'final-whale', 'chain.transactions', %s, 'finalized')",
            (org_a, f"value >= {3 * ETH}"),
        )
        conn.execute(  # a window rule whose condition names its group column
            "INSERT INTO alerts.rules (org_id, name, dataset, condition, window_blocks, "
            "group_by) VALUES (%s, 'busy', 'chain.transactions', %s, 2, '{from_address}')",
            (org_a, "count(*) >= 2 AND from_address IS NOT NULL"),
        )
    rpc = RpcClient([anvil.url])
    accounts = rpc.call("eth_accounts")
    for block in range(1, 21):
        for i, eth in enumerate((block % 4 + 1, (block * 7) % 5)):
            tx = {"from": accounts[i], "to": accounts[5], "value": hex(eth * ETH)}
            rpc.call("eth_sendTransaction", [tx])
        rpc.call("anvil_mine", ["0x1"])
    ingest = LiveIngest(
        chain_config(anvil.url, finality_depth=4, chunk_size=5), ingest_url, log=lambda _m: None
    )
    ingest.prepare()
    _catch_up(ingest)
    ingest.close()
    store = LocalStore(tmp_path / "cold")
    with psycopg.connect(ingest_url, autocommit=True) as conn:
        archive(conn, store, 31337, log=lambda _m: None)
    mark = admin.execute("SELECT archived_to FROM chain.chains").fetchone()
    assert mark is not None and 5 <= mark[0] < 20, "the range crosses the watermark"

    def live(rule: str) -> set[tuple[Any, ...]]:
        return {
            (r[0], r[1], bytes(r[2]))
            for r in admin.execute(
                "SELECT f.to_block, f.match_key, f.block_hash FROM alerts.firings f "
                "JOIN alerts.rules r ON r.id = f.rule_id WHERE r.name = %s AND NOT f.backtest",
                (rule,),
            )
        }

    finalized = admin.execute("SELECT finalized FROM chain.chains").fetchone()
    assert finalized is not None and finalized[0] < 20
    assert live("final-whale") == {f for f in live("whale") if f[0] <= finalized[0]}, (
        "a finalized-level rule fires on exactly the finalized blocks' matches"
    )
    with tenants.login(tenants.user("a", "reader")) as reader:
        errors_seen = reader.execute(
            "SELECT name, last_error FROM alerts.rules WHERE last_error IS NOT NULL"
        ).fetchall()
        assert errors_seen == [], errors_seen
        for rule in ("whale", "spree", "busy"):
            found = backtest(reader, store, "a", rule, 31337, 1, 20)
            assert {(f["to_block"], f["match_key"], bytes(f["block_hash"])) for f in found} == live(
                rule
            ), rule
            assert live(rule), f"{rule} fired live"
            assert all(f["backtest"] for f in found)
        kept = reader.execute("SELECT count(*) FROM alerts.firings WHERE backtest").fetchone()
        assert kept == (0,), "a backtest keeps nothing unless asked"
        with pytest.raises(NotFound, match="no alert rule"):
            backtest(reader, store, "b", "whale", 31337, 1, 20)


def test_system_alerts_watch_the_platform_and_are_delivered_the_same_way(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("UPDATE alerts.rules SET enabled = false")
    admin.execute("SELECT core.set_system_org('c')")
    assert admin.execute("SELECT alerts.install_system_rules()").fetchone() == (6,)
    assert admin.execute("SELECT alerts.install_system_rules()").fetchone() == (0,), "kept"
    with (
        tenants.login(tenants.user("b", "admin")) as conn,
        pytest.raises(errors.InsufficientPrivilege, match="belong to the system org"),
    ):
        conn.execute(RULE, (tenants.org_ids["b"], "spy", "platform.health", "true", []))

    for status in ("failed", "dead", "succeeded"):  # org b: two of three runs failed
        admin.execute(
            "INSERT INTO runs.runs (org_id, job_name, job_version, status, finished_at) "
            "VALUES (%s, 'j', '1', %s, now())",
            (tenants.org_ids["b"], status),
        )
    admin.execute("SELECT chain.register_chain(5, 'five', 0, 64, 100)")
    admin.execute(
        "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp, ingested_at) "
        "VALUES (5, 0, '\\x05', '\\x00', now(), now() - interval '2 minutes')"
    )
    admin.execute(
        "INSERT INTO alerts.channels (org_id, name, kind, target) "
        "VALUES (%s, 'ops', 'webhook', 'http://127.0.0.1:9/ops')",
        (tenants.org_ids["c"],),
    )
    admin.execute("UPDATE alerts.rules SET channels = '{ops}' WHERE name = 'ingest-lag'")

    alerts_url = tenants.cluster.url(tenants.database, "chainlake_alerts")
    with psycopg.connect(alerts_url, autocommit=True) as conn:
        assert conn.execute("SELECT alerts.evaluate_platform()").fetchone() == (2,)
        assert conn.execute("SELECT alerts.evaluate_platform()").fetchone() == (0,), "throttled"
    fired = admin.execute(
        "SELECT r.name, f.vals ->> 'subject', (f.vals ->> 'value')::float FROM alerts.firings f "
        "JOIN alerts.rules r ON r.id = f.rule_id WHERE f.chain_id = 0 ORDER BY 1"
    ).fetchall()
    assert [(n, s) for n, s, _ in fired] == [("ingest-lag", "5"), ("run-failure-rate", "b")]
    assert fired[0][2] >= 110 and abs(fired[1][2] - 2 / 3) < 1e-9
    queued = admin.execute(
        "SELECT d.channel, d.state FROM alerts.deliveries d JOIN alerts.firings f "
        "ON f.id = d.firing_id WHERE f.chain_id = 0"
    ).fetchall()
    assert queued == [("ops", "pending")], "delivered like any alert"
    with tenants.login(tenants.user("c", "reader")) as conn:
        seen = conn.execute("SELECT count(*) FROM alerts.firings WHERE chain_id = 0").fetchone()
    assert seen == (2,), "the system org's members see its system alerts"
