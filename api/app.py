"""The Litestar REST API: health, webhook activation, and /v1, a module per domain.
OpenAPI at /schema; errors as RFC 9457 problem details."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.openapi import OpenAPIConfig
from litestar.routes import HTTPRoute
from psycopg_pool import ConnectionPool

from api import (
    alerts,
    assets,
    audit,
    auth_config,
    catalog,
    chain,
    grants,
    jobs,
    observe,
    pii,
    query,
    runs,
    saved,
    secrets,
    usage,
    whoami,
)
from api.access import server_errors
from api.auth import Verifier
from api.limits import QueryCaps, QueryGate
from api.notices import NoticeHub
from api.problems import HANDLERS
from api.webhooks import receive_webhook
from chainlake.observe.metrics import ApiMetrics
from chainlake.query import SessionPool
from chainlake.storage import ObjectStore, open_store


def answer_options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """OPTIONS says every method its path serves (`Allow`). Litestar's own OPTIONS answer knows
    only the methods of the first handler registered on a path; the app's routes know them
    all (one route per path, merged)."""
    if request.method != "OPTIONS":
        return None
    template = _bare(request.scope.get("path_template", ""))
    methods = next(
        (
            r.methods
            for r in request.app.routes
            if isinstance(r, HTTPRoute) and _bare(r.path) == template
        ),
        {"OPTIONS"},
    )
    return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})


def _bare(path: str) -> str:
    """A path template without its parameters' types: /v1/x/{org:str} is /v1/x/{org}."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


@get("/health", operation_id="health")
async def health() -> dict[str, str]:
    """Whether the API answers (no token needed; an alias of /health/live)."""
    return {"status": "ok"}


# Each domain's endpoints (its module's HANDLERS), one line each.
DOMAINS = [
    whoami.HANDLERS,
    catalog.HANDLERS,
    query.HANDLERS,
    saved.HANDLERS,
    grants.HANDLERS,
    audit.HANDLERS,
    alerts.HANDLERS,
    pii.HANDLERS,
    secrets.HANDLERS,
    auth_config.HANDLERS,
    jobs.HANDLERS,
    runs.HANDLERS,
    assets.HANDLERS,
    chain.HANDLERS,
    usage.HANDLERS,
]


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
    notices = NoticeHub(database_url)
    app = Litestar(
        route_handlers=[
            health,
            *observe.HANDLERS,
            receive_webhook,
            *(h for domain in DOMAINS for h in domain),
        ],
        middleware=[observe.timed],
        on_startup=[lambda: pool.open()],
        on_shutdown=[lambda: pool.close(), sessions.close, notices.close],
        exception_handlers=HANDLERS,
        before_request=answer_options,
        logging_config=server_errors(),  # a 500's traceback in the JSON log (api/access.py)
        openapi_config=OpenAPIConfig(
            title="chainlake", version="1", path="/schema", use_handler_docstrings=True
        ),
    )
    app.state.pool = pool
    app.state.database_url = database_url
    app.state.metrics = ApiMetrics()
    app.state.sessions = sessions
    app.state.notices = notices
    app.state.query_gate = QueryGate(query_caps or QueryCaps.from_environment())
    app.state.secret_key = secret_key
    home = home or Path(".chainlake")
    app.state.verifier = verifier or Verifier.from_environment(home)
    app.state.store = store or open_store((home / "data").resolve().as_uri())
    return app
