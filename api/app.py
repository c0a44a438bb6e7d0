"""The Litestar REST API. Today it serves webhook activation and a health check; the query
issue adds authentication, queries and the rest."""

from __future__ import annotations

from litestar import Litestar, get
from psycopg_pool import ConnectionPool

from api.webhooks import receive_webhook


@get("/health", operation_id="health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app(database_url: str, secret_key: bytes) -> Litestar:
    """The API connects as chainlake_api (database_url) and decrypts secrets with secret_key."""
    pool = ConnectionPool(database_url, min_size=1, max_size=8, open=False)
    app = Litestar(
        route_handlers=[health, receive_webhook],
        on_startup=[lambda: pool.open()],
        on_shutdown=[lambda: pool.close()],
    )
    app.state.pool = pool
    app.state.secret_key = secret_key
    return app
