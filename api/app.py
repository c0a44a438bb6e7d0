"""The Litestar REST API: health, webhook activation, and /v1 (whoami, datasets, query).
OpenAPI at /schema; errors as RFC 9457 problem details."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig
from psycopg_pool import ConnectionPool

from api import alerts, assets, chain, jobs, pii, runs, v1
from api.auth import Verifier
from api.limits import QueryCaps, QueryGate
from api.problems import HANDLERS
from api.webhooks import receive_webhook
from chainlake.query import SessionPool
from chainlake.storage import ObjectStore, open_store


@get("/health", operation_id="health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app(
    database_url: str,
    secret_key: bytes,
    home: Path | None = None,
    store: ObjectStore | None = None,
    verifier: Verifier | None = None,
    query_caps: QueryCaps | None = None,
) -> Litestar:
    """The API connects as chainlake_api (database_url), decrypts secrets with secret_key, verifies
    tokens against the dev issuer under `home` (and configured OIDC issuers), reads cold data
    from `store`, and caps queries by `query_caps` (default: from the environment)."""
    pool = ConnectionPool(database_url, min_size=1, max_size=8, open=False)
    sessions = SessionPool()
    app = Litestar(
        route_handlers=[
            health,
            receive_webhook,
            v1.whoami,
            v1.list_datasets,
            v1.query,
            v1.list_saved_queries,
            v1.save_query,
            v1.get_saved_query,
            v1.delete_saved_query,
            v1.run_saved_query,
            v1.search_catalog,
            v1.list_grants,
            v1.grant_read,
            v1.revoke_read,
            v1.list_audit_events,
            *alerts.HANDLERS,
            *pii.HANDLERS,
            *jobs.HANDLERS,
            *runs.HANDLERS,
            *assets.HANDLERS,
            *chain.HANDLERS,
        ],
        on_startup=[lambda: pool.open()],
        on_shutdown=[lambda: pool.close(), sessions.close],
        exception_handlers=HANDLERS,
        openapi_config=OpenAPIConfig(title="chainlake", version="1", path="/schema"),
    )
    app.state.pool = pool
    app.state.sessions = sessions
    app.state.query_gate = QueryGate(query_caps or QueryCaps.from_environment())
    app.state.secret_key = secret_key
    home = home or Path(".chainlake")
    app.state.verifier = verifier or Verifier.from_environment(home)
    app.state.store = store or open_store((home / "data").resolve().as_uri())
    return app
