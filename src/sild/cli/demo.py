"""``sild demo``: start a local network to explore (see :mod:`sild.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sild.cli._common import WARNING, console, sild_command


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="start a local demo network on SQLite (Ctrl-C stops it)")
    p.add_argument("--dir", default="sild-demo",
                   help="folder for the demo instance (default ./sild-demo; recreated)")
    p.add_argument("--port", type=int,
                   help="registry port (default 4000; with --free-ports, a free one)")
    p.add_argument("--free-ports", action="store_true",
                   help="free loopback ports instead of X-Road's defaults (8080, 5500, 5566, "
                        "…), to run beside another demo or services on those ports")
    p.add_argument("--scenario", choices=("country", "enterprise"), default="country",
                   help="country (default) or enterprise: a company's siloed systems joined "
                        "on a private instance (docs/guide.md, \"Adopting Sild in a company\")")
    p.add_argument("--size", choices=("small", "medium", "large"), default="large",
                   help="the country's registers: 100, 1,000 or 10,000 persons "
                        "(default large)")
    p.add_argument("--no-wait", action="store_true",
                   help="set everything up, print the tour, then stop (for scripts)")
    p.set_defaults(func=run, log_level=WARNING)  # the tour on stdout stays readable


def run(args: argparse.Namespace) -> int:
    from sild.demo import run_demo

    port = args.port if args.port is not None else (0 if args.free_ports else 4000)
    if args.scenario == "enterprise":
        from sild.enterprise import run_enterprise

        return run_enterprise(Path(args.dir), port=port, wait=not args.no_wait,
                              fixed_ports=not args.free_ports, sild=sild_command(),
                              say=lambda line: console.print(line, markup=False))
    return run_demo(Path(args.dir), port=port, wait=not args.no_wait,
                    fixed_ports=not args.free_ports, sild=sild_command(), size=args.size,
                    say=lambda line: console.print(line, markup=False))
