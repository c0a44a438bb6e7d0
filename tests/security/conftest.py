"""The side-door tier (issue "Tenancy through the side doors", SECURITY.md items 19-24): one
test module per finding, named after it (test_c1_*, test_h2_*, ...), each attacking as org
"evil"'s users (the tenants fixture's org b) against org "acme" (org a). The integration tier's
fixtures (the API on a real port, container images, objects of org a) are shared here."""

from __future__ import annotations

from tests.integration.conftest import (  # noqa: F401
    api,
    api_data,
    images,
    objects_of_a,
    remote_engine,
)
