"""`python -m connectors.simulator --port 8900 --seed 1 --scale small --sites acme,globex`."""

from __future__ import annotations

import argparse

from connectors.simulator.cli import serve_command


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.simulator", description="Serve simulated Jira and GitHub sites."
    )
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scale",
        default="small",
        help="small, medium, large, or issues=N,prs=M,projects=P,repos=R,...",
    )
    parser.add_argument("--sites", default="acme,globex", help="comma-separated site names")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="requests (GitHub: points) per window per credential",
    )
    parser.add_argument("--latency-ms", type=float, default=None)
    args = parser.parse_args(argv)
    serve_command(
        args.port,
        args.seed,
        args.scale,
        args.sites,
        args.rate_limit,
        host=args.host,
        latency_ms=args.latency_ms,
    )


if __name__ == "__main__":
    main()
