"""``sild demo``: start a local network to explore (see :mod:`sild.demo`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from sild.cli._common import console


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="start a local demo network on SQLite (Ctrl-C stops it)")
    p.add_argument("--dir", default="sild-demo",
                   help="folder for the demo instance (default ./sild-demo; recreated)")
    p.add_argument("--port", type=int, default=4000, help="registry port (default 4000)")
    p.add_argument("--no-wait", action="store_true",
                   help="set everything up, print the tour, then stop (for scripts)")
    p.set_defaults(func=run, log_level=logging.WARNING)  # the tour on stdout stays readable


def run(args: argparse.Namespace) -> int:
    from sild.demo import run_demo

    return run_demo(Path(args.dir), port=args.port, wait=not args.no_wait,
                    say=lambda line: console.print(line, markup=False))
