"""`make try-production`: the README's Production section, followed on this machine.

Starts what an operator installs (a throwaway PostgreSQL, a redis-server on TCP,
localstripe in place of Stripe, an SMTP server), tries every line of the
Production section as tests/topology/readme.py says, prints the address and the
first admin's one-time link, and keeps it all running until Ctrl-C.
"""

import signal
import threading

from tests.topology.harness import Topology, TopologyError


def main() -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Topology() as topology:
        try:
            for tried in topology.follow():
                print(f"[{tried.step}] {tried.how}: {tried.line}", flush=True)
                if tried.how == "not tried":
                    print(f"    ({tried.detail})", flush=True)
        except TopologyError as error:
            print(f"\n{error}\n\nLogs: {topology.root / 'logs'}", flush=True)
            return 1
        link = next(
            (out.strip().splitlines()[-1] for line, out in topology.outputs.items()
             if "create-practice" in line),
            "",
        )  # fmt: skip
        print(
            f"\n  Covered (COVERED_ENV=production) is running at {topology.public_url}\n"
            f"  Set the first admin's password: {link}\n"
            f"  Payments: localstripe at {topology.localstripe.url}; "
            f"mail: SMTP on 127.0.0.1:{topology.smtp.port}\n"
            f"  Settings: {topology.env_file}; logs: {topology.root / 'logs'}\n"
            "  Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
