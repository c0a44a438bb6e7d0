"""The platform's alert-delivery job, run by the runner like any job:

    python -m chainlake.alerts.jobs deliver    always_on: send firings and retractions

It runs in the system org and declares `secrets: [alert_sender]`: the runner hands it the
delivery role's URL (CHAINLAKE_ALERTS_DATABASE_URL) and the key channel secrets are encrypted
with (CHAINLAKE_SECRET_KEY); any other org is refused them. Definition: jobs/alerts/deliver.yaml.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from chainlake.alerts.deliver import Deliverer
from chainlake.sdk import Context, PermanentError, job


def _credential(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise PermanentError(
            f"{name} is not set: declare `secrets: [alert_sender]` and run in the system org"
        )
    return value


@job
def deliver(ctx: Context) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deliverer = Deliverer(
        _credential("CHAINLAKE_ALERTS_DATABASE_URL"),
        _credential("CHAINLAKE_SECRET_KEY").encode(),
        max_attempts=int(ctx.config.get("max_attempts", 5)),
        log=ctx.log,
    )
    ctx.log("delivering alerts")
    deliverer.run(stop)


ENTRY_POINTS = {"deliver": deliver}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ENTRY_POINTS:
        sys.exit(f"usage: python -m chainlake.alerts.jobs {{{'|'.join(ENTRY_POINTS)}}}")
    ENTRY_POINTS[sys.argv[1]].main()
