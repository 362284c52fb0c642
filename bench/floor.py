"""The floor under a durable engine's latency on this machine (`python -m bench.floor`).

The bench's yardstick is the bare chain: eight Celery hops that do nothing. A durable engine's hop
cannot do less than write and commit what it decided before it sends the next message. This runs
the same chain three ways, one chain at a time, on the bench's private PostgreSQL and Redis:

- bare: the yardstick itself;
- one write: each hop writes and commits a row in one round trip before sending the next;
- read, then write: each hop first locks and reads a row (a round trip), then writes and commits
  (another), as a transition reads the state it decides on.

and prints each one's latency alone (p50, p95) and its ratio to the bare chain: what
`latency_ratio` would be for an engine that did nothing else. The engine's stack runs beside,
idle, as in `make bench`.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.measure import percentile
from bench.world import world

MODES = {"bare": "0", "one write": "1", "read, then write": "2"}


def main() -> int:
    from bench.__main__ import chain_alone, chain_worker

    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=200, help="chains alone per mode and round")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with world() as bench:
        # The engine's stack runs beside, idle, as in `make bench`: what else runs on the machine
        # moves the chain's figures (two cores that sleep less wake up sooner).
        bench.stack_start("stack")
        for _ in range(options.rounds):
            for mode, durable in MODES.items():
                env = {
                    **bench.env,
                    "BENCH_CHAIN_DURABLE": durable,
                    "BENCH_CHAIN_DATABASE_URL": bench.postgres.url,
                }
                workers = [chain_worker(env, n, bench.folder) for n in range(2)]
                try:
                    chain_alone(10, f"{mode}: warm-up")
                    results[mode] += chain_alone(options.chains, f"{mode}: one at a time")
                finally:
                    for worker in workers:
                        worker.terminate()
                        worker.wait(30)
    bare = percentile(results["bare"], 50)
    summary = {}
    for mode, seconds in results.items():
        p50, p95 = 1000 * percentile(seconds, 50), 1000 * percentile(seconds, 95)
        summary[mode] = {
            "p50_ms": round(p50, 2),
            "p95_ms": round(p95, 2),
            "ratio": round(p50 / 1000 / bare, 2),
        }
        print(
            f"  {mode:<20} alone p50 {p50:6.2f} ms  p95 {p95:6.2f} ms"
            f"  ({p50 / 1000 / bare:.2f}x the bare chain)"
        )
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
