"""The Python client (chainlake.client.Client) against the real API: answers as the API gives
them, Arrow tables from the streamed download, pages followed, and every problem back as the
ChainlakeError subclass the API made it from, with its detail (naming the field) and hint."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from chainlake.client import Client, NotSignedIn, Unreachable
from chainlake.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from chainlake.local.localpg import free_port
from tests.integration.conftest import token
from tests.tenants import Tenants

PRICES = 'SELECT * FROM "a"."prices" ORDER BY 1'


def test_queries_come_back_as_pages_downloads_and_arrow_tables(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    with Client(api, token(tmp_path, tenants.user("a", "reader"))) as client:
        assert client.whoami()["memberships"][0]["email"] == tenants.user("a", "reader").email
        page = client.query(sql=PRICES, max_rows=2)
        assert page["rows"] == [[1], [2]] and page["truncated"] is True
        table = client.query_arrow(sql=PRICES)
        assert table.num_rows == 3 and table.column(0).to_pylist() == [1, 2, 3]
        out = io.BytesIO()
        assert client.query_download(sql=PRICES, format="parquet", out=out) > 0
        assert pq.read_table(io.BytesIO(out.getvalue())).num_rows == 3
        if importlib.util.find_spec("pandas") is None:
            with pytest.raises(InvalidInput, match="pandas is not installed"):
                client.to_pandas(sql=PRICES)
        else:
            assert list(client.to_pandas(sql=PRICES).iloc[:, 0]) == [1, 2, 3]


def test_saved_queries_pages_and_grants_round_trip(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    with Client(api, token(tmp_path, tenants.user("a", "writer"))) as client:
        for name in ("q1", "q2", "q3"):
            client.save_query(org="a", name=name, sql=PRICES, visibility="org")
        first = client.list_saved_queries(limit=2)
        assert [q["name"] for q in first] == ["q1", "q2"]
        every = [q["name"] for q in client.pages("/v1/saved-queries", {"limit": 2})]
        assert every == ["q1", "q2", "q3", "q_a_seed"], "every page, each once, in order"
        assert client.run_saved_query(org="a", name="q2")["rows"] == [[1], [2], [3]]
        arrow = client.run_saved_query_arrow(org="a", name="q3")
        assert arrow.num_rows == 3
        client.delete_saved_query(org="a", name="q3")
        with pytest.raises(NotFound, match='no saved query "q3"'):
            client.get_saved_query(org="a", name="q3")
        client.grant_read(kind="saved_query", org="a", name="q1", grantee="b")
        with pytest.raises(AlreadyExists):
            client.grant_read(kind="saved_query", org="a", name="q1", grantee="b")
        assert any(g["name"] == "q1" for g in client.list_grants())
        client.revoke_read(kind="saved_query", org="a", name="q1", grantee="b")
        assert not any(g["name"] == "q1" for g in client.list_grants())


def test_problems_come_back_as_chainlake_errors_naming_the_field(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    reader = Client(api, token(tmp_path, tenants.user("a", "reader")))
    with reader:
        with pytest.raises(InvalidInput) as bad:
            reader.save_query(org="a", name="x", sql=PRICES, visibility="everyone")  # type: ignore[arg-type]
        assert "visibility" in str(bad.value), str(bad.value)
        before = reader.list_saved_queries()
        with pytest.raises(PermissionDenied):
            reader.save_query(org="a", name="shared", sql=PRICES, visibility="org")
        assert reader.list_saved_queries() == before, "nothing was saved"
        with pytest.raises(InvalidInput, match="q: Expected text that is not empty or blank"):
            reader.search_catalog(q=" ")
    with Client(api, "not-a-jwt") as stranger, pytest.raises(NotSignedIn) as refused:
        stranger.whoami()
    assert "chainlake login" in str(refused.value)
    nowhere = f"http://127.0.0.1:{free_port()}"
    with Client(nowhere, "x") as lost, pytest.raises(Unreachable, match=nowhere):
        lost.whoami()
