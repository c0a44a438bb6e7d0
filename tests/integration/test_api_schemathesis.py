"""The API fuzzed from its own OpenAPI document (schemathesis): every operation, with cases
generated from its parameters and request body (valid ones, then invalid ones), called on the
real API over a real Postgres as org a's admin, with org a's objects in place. No answer may be
a 5xx, have a status code the document does not list, a content type it does not list, or a
body that does not match the schema it gives. Without a token, or with a junk one, every /v1
operation answers 401.

Bounded and reproducible: a few examples per operation (derandomized, no shrinking, no example
database), one request at a time with a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from chainlake.tokens import DEV_ISSUER, issue_dev_token
from tests.integration.conftest import objects_of_a, path_values, send, token
from tests.tenants import Tenants

EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}  # per operation
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CHECKS = {
    GenerationMode.POSITIVE: CONFORMANCE,
    GenerationMode.NEGATIVE: [*CONFORMANCE, negative_data_rejection],
}
UNAUTHENTICATED = (  # no token
    "/health",
    "/health/live",
    "/health/ready",
    "/v1/webhooks/{org_id}/{job}",
    "/v1/auth/config",
)
TIMEOUT = 30  # seconds, each request
QUERIES = [  # generated SQL hardly ever parses: these reach a result in each format too
    {"sql": 'SELECT * FROM "a"."prices"', "format": fmt}
    for fmt in ("json", "jsonl", "csv", "parquet", "arrow")
]


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _load(api: str) -> Any:
    schema = schemathesis.openapi.from_url(
        f"{api}/schema/openapi.json", config=schemathesis.Config(), timeout=TIMEOUT
    )
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document is invalid: {result.err()}"
        operations.append(result.ok())
    return sorted(operations, key=lambda op: op.method.lower() == "delete")  # deletes last


def _explore(strategy: st.SearchStrategy[Any], examples: int, probe: Callable[..., Any]) -> str:
    """Run `probe` on `examples` values of `strategy`; the first failure, or ""."""

    @_settings(examples)
    @given(value=strategy)
    def run(value: Any) -> None:
        probe(*value) if isinstance(value, tuple) else probe(value)

    try:
        run()
    except Unsatisfiable:  # nothing to vary (a negative case of an operation without input)
        return ""
    except (Exception, FailureGroup) as exc:  # every kind of failure, with its case
        return str(exc) or repr(exc)
    return ""


def _with_body(operation: Any, body: Any) -> st.SearchStrategy[Any]:
    return operation.as_strategy(GenerationMode.POSITIVE, body=body)  # type: ignore[no-any-return]


def fuzz(
    api: str,
    bearer: str | None,
    real: dict[str, str],
    include: Callable[[Any], bool] = lambda _: True,
) -> list[str]:
    """Fuzz every operation `include` accepts as `bearer`; the failures found, one each.
    Valid cases also name real objects (`real`) in their path, so that they reach existing rows
    as well as missing ones, and /v1/query also runs real SQL in each format."""
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    for operation in filter(include, _load(api)):
        names = {p.name for p in operation.path_parameters}
        existing = {k: v for k, v in real.items() if k in names}
        for mode, examples in EXAMPLES.items():
            strategy = operation.as_strategy(mode)
            if mode == GenerationMode.POSITIVE and existing:
                strategy |= operation.as_strategy(mode, path_parameters=existing)
            if mode == GenerationMode.POSITIVE and operation.path == "/v1/query":
                strategy |= st.sampled_from(QUERIES).flatmap(partial(_with_body, operation))
            failure = _explore(
                strategy,
                examples,
                lambda case, mode=mode: case.call_and_validate(
                    base_url=api, headers=headers, checks=CHECKS[mode], timeout=TIMEOUT
                ),
            )
            if failure:
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    return failures


def test_the_api_conforms_to_its_schema_and_never_answers_5xx(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    objects_of_a(tenants, admin, api, tmp_path)
    admin.execute(  # the run makes more requests in a minute than the default quota allows
        "UPDATE core.quotas SET api_requests_per_minute = 100000 WHERE org_id = %s",
        (tenants.org_ids["a"],),
    )
    failures = fuzz(api, token(tmp_path, tenants.user("a", "admin")), path_values(tenants))
    assert not failures, "\n\n".join(failures)


CLI_EXAMPLES = 6  # per operation and phase
CLI_SECONDS = 900  # the whole run, at most (it takes a minute or two)
# Operations whose body carries a program (DuckDB SQL): the document says its length and that
# it is text, not that it parses, so a 400 saying it does not is an answer to valid data too.
PROGRAMS = ("query", "runSavedQuery")
ACCEPTED = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "429"]


def test_the_api_passes_every_check_schemathesis_has(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """`schemathesis run --checks all` over the whole document, as an outside client would run
    it: the examples, coverage (every boundary of every constraint, methods the document does
    not list, missing headers) and fuzzing phases, as org a's admin. Among its checks: a method
    a path does not serve answers 405 with `Allow` (RFC 9110), a request the document calls
    valid is accepted and one it calls invalid refused, no request works without the token."""
    objects_of_a(tenants, admin, api, tmp_path)
    admin.execute(
        "UPDATE core.quotas SET api_requests_per_minute = 100000 WHERE org_id = %s",
        (tenants.org_ids["a"],),
    )
    bearer = token(tmp_path, tenants.user("a", "admin"))
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "".join(
            f'[[operations]]\ninclude-operation-id = "{op}"\n'
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED)}\n"
            for op in PROGRAMS
        )
    )
    argv = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"),
        f"{api}/schema/openapi.json",
        *("--checks", "all", "--phases", "examples,coverage,fuzzing"),
        *("--max-examples", str(CLI_EXAMPLES), "--seed", "17", "--no-shrink", "--workers", "1"),
        *("--request-timeout", str(TIMEOUT)),
        *("--header", f"Authorization: Bearer {bearer}", "--suppress-health-check", "all"),
        *("--warnings", "off", "--output-sanitize", "false"),
    ]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS + 120,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]


def _junk_tokens(tmp_path: Path, tenants: Tenants) -> list[str | None]:
    """Credentials that must all be refused with 401: none, malformed, unsigned, signed by a
    stranger under the dev issuer's name, and expired."""
    ada = tenants.user("a", "admin")
    claims = {"iss": DEV_ISSUER, "sub": ada.id, "aud": "chainlake", "iat": 0, "exp": 2**31}
    stranger = Ed25519PrivateKey.generate()
    return [
        None,
        "",
        "junk",
        "a.b.c",
        jwt.encode(claims, key="", algorithm="none"),
        jwt.encode(claims, "shared-secret-guess-0123456789abcdef", algorithm="HS256"),
        jwt.encode(claims, stranger, algorithm="EdDSA"),
        issue_dev_token(tmp_path / "home" / "dev-issuer", ada.id, ada.email, now=1000.0),
    ]


def test_without_a_valid_token_every_v1_operation_answers_401(
    api: str, tenants: Tenants, tmp_path: Path
) -> None:
    operations = [op for op in _load(api) if op.path not in UNAUTHENTICATED]
    assert len(operations) >= 20, "the OpenAPI document lists every endpoint"
    junk = _junk_tokens(tmp_path, tenants)
    refused: list[str] = []
    for operation in operations:

        def probe(case: Any, bearer: str | None, label: str = operation.label) -> None:
            headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
            response = case.call_and_validate(
                base_url=api, headers=headers, checks=CONFORMANCE, timeout=TIMEOUT
            )
            assert response.status_code == 401, (
                f"{label} with {bearer!r}: {response.status_code} {response.text[:300]}"
            )
            assert json.loads(response.text)["detail"], "a 401 says why"

        strategy = st.tuples(operation.as_strategy(), st.sampled_from(junk))
        failure = _explore(strategy, 2 * len(junk), probe)
        if failure:
            refused.append(f"{operation.label}: {failure}")
    assert not refused, "\n\n".join(refused)


def test_a_dev_token_for_no_user_is_refused(api: str, tenants: Tenants, tmp_path: Path) -> None:
    """Found by the fuzzing: a well-signed token whose subject is no user is a 401, not an empty
    200 (core.note_sign_in says 'unknown')."""
    nobody = issue_dev_token(
        tmp_path / "home" / "dev-issuer", "00000000-0000-0000-0000-000000000000", "x@y.z"
    )
    status, body = send(api, "GET", "/v1/datasets", nobody)
    assert status == 401 and "does not exist or is disabled" in body["detail"], body


@pytest.mark.parametrize("broken", ["alerts.list_channels()", "catalog.find_query(text, text)"])
def test_the_fuzzing_notices_a_server_error(
    api: str,
    tenants: Tenants,
    api_data: None,
    tmp_path: Path,
    admin: psycopg.Connection[Any],
    broken: str,
) -> None:
    """Break a stored function an endpoint calls (the answer becomes a 500) and the fuzzing
    reports that endpoint: the suite above could not pass vacuously."""
    admin.execute(f"ALTER FUNCTION {broken} RENAME TO broken_by_test")
    failures = fuzz(
        api,
        token(tmp_path, tenants.user("a", "admin")),
        path_values(tenants),
        include=lambda op: op.path in ("/v1/alerts/channels", "/v1/saved-queries/{org}/{name}"),
    )
    assert failures, "a 500 went unnoticed"
    assert any("Server error" in f for f in failures), failures


# What the fuzzing found, kept as plain regression tests: each answered 500 before its fix (the
# bodies are now refused by the document's own constraints, with a 400 naming the field).
HUGE = 10**30


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("GET", f"/v1/catalog/search?q=x&limit={HUGE}", None, 200, ""),
        ("GET", f"/v1/alerts/firings?limit={-HUGE}", None, 200, ""),
        ("GET", f"/v1/alerts/rules/a/zz_mark?limit={HUGE}", None, 200, ""),
        (
            "POST",
            "/v1/alerts/rules/a",
            {"name": "r", "dataset": "chain.blocks", "condition": "true", "window_blocks": HUGE},
            400,
            "window_blocks:",
        ),
        (
            "POST",
            "/v1/saved-queries/a",
            {"name": "q", "sql": "SELECT 1", "params": {"p": "\u0000"}},
            400,
            "params",
        ),
        ("POST", "/v1/saved-queries/a", {"name": "q\u0000", "sql": "SELECT 1"}, 400, "name:"),
        (
            "POST",
            "/v1/alerts/channels/a",
            {
                "name": "c",
                "kind": "webhook",
                "target": "http://127.0.0.1:9/",
                "config": {"\u0000": 1},
            },
            400,
            "config",
        ),
    ],
)
def test_what_the_fuzzing_found(
    api: str,
    tenants: Tenants,
    api_data: None,
    tmp_path: Path,
    admin: psycopg.Connection[Any],
    method: str,
    path: str,
    body: Any,
    status: int,
    says: str,
) -> None:
    objects_of_a(tenants, admin, api, tmp_path)
    answer = send(api, method, path, token(tmp_path, tenants.user("a", "admin")), body)
    assert answer[0] == status, answer
    assert says in (answer[1].get("detail", "") if status >= 400 else ""), answer


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/saved-queries/a/zz_mark", "DELETE, GET, OPTIONS"),
        ("/v1/alerts/rules/a", "OPTIONS, POST"),
        ("/v1/secrets/a/zz_mark", "DELETE, OPTIONS, POST"),
    ],
)
def test_a_method_a_path_does_not_serve_is_a_405_that_says_which_it_does(
    api: str, tenants: Tenants, tmp_path: Path, path: str, methods: str
) -> None:
    """RFC 9110: a 405 carries `Allow`; OPTIONS lists every method of the path (Litestar's own
    answer listed only the first handler's)."""
    bearer = token(tmp_path, tenants.user("a", "admin"))
    request = urllib.request.Request(  # noqa: S310 - loopback http
        api + path, b"{}", {"Authorization": f"Bearer {bearer}"}, method="PUT"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 - loopback http
    assert refused.value.code == 405 and _methods(refused.value.headers["Allow"]) == methods
    options = urllib.request.Request(api + path, method="OPTIONS")  # noqa: S310 - loopback
    with urllib.request.urlopen(options, timeout=TIMEOUT) as answer:  # noqa: S310 - loopback
        assert answer.status == 204 and _methods(answer.headers["Allow"]) == methods


def _methods(allow: str | None) -> str:
    return ", ".join(sorted(m.strip() for m in (allow or "").split(",")))
