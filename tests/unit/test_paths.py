"""The output path convention and per-job templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlake.errors import InvalidInput
from chainlake.paths import DEFAULT_TEMPLATE, check_template, output_prefix

RUN = {"org_id": "o1", "id": "r1", "job_name": "prices", "job_version": "3"}


def test_the_default_convention() -> None:
    assert output_prefix(Path("/data"), RUN, {}) == "file:///data/o1/_runs/r1/"
    check_template(DEFAULT_TEMPLATE)


def test_a_template_overrides_it() -> None:
    spec = {"output_path_template": "{org_id}/jobs/{job}/v{job_version}/{run_id}"}
    assert output_prefix(Path("/data"), RUN, spec) == "file:///data/o1/jobs/prices/v3/r1/"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{org_id}/{job}", "must contain {run_id}"),
        ("shared/{run_id}", "must start with {org_id}/"),
        ("{org_id}/../other/{run_id}", "no '..'"),
        ("{org_id}/{dataset}/{run_id}", "unknown field(s) ['dataset']"),
        ("{org_id}/a b/{run_id}", "use only letters"),
    ],
)
def test_templates_that_could_collide_or_escape_are_refused(template: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_template(template)
    assert reason in str(caught.value)
