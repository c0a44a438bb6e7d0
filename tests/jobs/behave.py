"""A test job that misbehaves on request (params.do, or config.do for runs without params such
as always_on ones): crash, crash_saying, exit, hang, fail_until_attempt, connect, undeclared,
outside, sleep, leak, say, link, hardlink, environ, burn, ok."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from chainlake.sdk import Context, connect, job


@job
def behave(ctx: Context) -> None:
    asked = {**ctx.config, **ctx.params}
    do = asked.get("do", "ok")
    if do == "crash":
        raise ValueError("boom: the job crashed on purpose")
    if do == "crash_saying":  # a message of the caller's: quotes, backslashes, braces
        raise ValueError(asked["message"])
    if do == "exit":
        sys.stderr.write("something went badly wrong\n")
        sys.stderr.flush()
        sys.stdout.flush()
        import os

        os._exit(3)
    if do == "hang":
        time.sleep(3600)
    if do == "fail_until_attempt" and ctx.request["attempt"] < int(ctx.params["attempt"]):
        raise ConnectionError(f"transient failure on attempt {ctx.request['attempt']}")
    if do == "connect":  # through the run's egress proxy when it declares a network
        with connect("127.0.0.1", int(ctx.params["port"]), timeout=2):
            ctx.log("connected")
    if do == "leak":  # prints its secret, then fails with it in the error
        import os

        token = os.environ.get("CHAINLAKE_SECRET_API_TOKEN", "")
        print(f"the token is {token}")
        ctx.log(f"logging the token: {token}")
        raise RuntimeError(f"refused with token {token}")
    if do == "say":  # a log line naming the trace id the job was given (ctx.trace_id)
        ctx.log(f"{asked['message']} (trace {ctx.trace_id})")
    if do == "sleep":
        time.sleep(float(asked["seconds"]))
    if do == "burn":  # holds `mb` MB (every page touched) while it spins `seconds` of CPU
        held = bytearray(int(asked["mb"]) << 20)
        for page in range(0, len(held), 4096):
            held[page] = 1
        ends = time.process_time() + float(asked["seconds"])
        while time.process_time() < ends:
            pass
        del held
    if do == "undeclared":
        path = ctx.output_path("not_mine", "x.txt")
        path.write_text("x")
        ctx.output("not_mine", uris=[path.as_uri()])
        return
    if do == "phantom":  # reports a file it never wrote
        ctx.output("behaved", uris=[ctx.output_path("behaved", "never.txt").as_uri()])
        return
    if do == "outside":
        ctx.output("behaved", uris=[Path("/etc/passwd").as_uri()])
        return
    if do == "link":  # names a symbolic link it planted in its own prefix
        link = ctx.output_path("behaved", "link.txt")
        link.symlink_to("/etc/hostname")
        ctx.output("behaved", uris=[link.as_uri()], rows=1)
        return
    if do == "hardlink":  # names a file that has a second name
        first = ctx.output_path("behaved", "first.txt")
        first.write_text("x\n")
        second = ctx.output_path("behaved", "second.txt")
        second.hardlink_to(first)
        ctx.output("behaved", uris=[second.as_uri()], rows=1)
        return
    path = ctx.output_path("behaved", "out.txt")
    if do == "environ":  # the names in its environment, one a line
        import os

        path.write_text("".join(f"{name}\n" for name in sorted(os.environ)))
    else:
        path.write_text(f"{do}\n")
    ctx.output("behaved", uris=[path.as_uri()], rows=1)


if __name__ == "__main__":
    behave.main()
