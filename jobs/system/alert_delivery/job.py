"""Alert delivery: an always_on job of the system org, run by the runner like any job. It sends
every firing and retraction over its rule's channels (webhook, email, SMS, chat), with retries
and a dead letter (docs/alerts.md). Definition: job.yaml beside it.

It declares `secrets: [alert_sender]`: the runner hands it the delivery role's URL
(CHAINLAKE_ALERTS_DATABASE_URL) and the key channel secrets are encrypted with
(CHAINLAKE_SECRET_KEY); any other org is refused them. It imports the SDK and the engine it
drives (see docs/decisions.md).
"""

from __future__ import annotations

import signal
import threading

from chainlake.alerts.deliver import Deliverer
from chainlake.sdk import Context, credential, job


@job
def deliver(ctx: Context) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deliverer = Deliverer(
        credential("CHAINLAKE_ALERTS_DATABASE_URL", "alert_sender"),
        credential("CHAINLAKE_SECRET_KEY", "alert_sender").encode(),
        max_attempts=int(ctx.config.get("max_attempts", 5)),
        log=ctx.log,
    )
    ctx.log("delivering alerts")
    deliverer.run(stop)


if __name__ == "__main__":
    deliver.main()
