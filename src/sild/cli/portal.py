"""``sild portal …``: the citizen portal (docs/guide.md "The citizen portal";
docs/spec/portal.md; docs/operations.md "Portal"). Heavy imports wait inside the command."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "portal", help="the citizen portal: my data, who used it, locks, documents")
    s = p.add_subparsers(dest="portal_command", metavar="ACTION", required=True)
    c: argparse.ArgumentParser = s.add_parser("serve", help="serve the portal over HTTP")
    c.add_argument("--config", required=True, metavar="FILE",
                   help="portal.toml (docs/spec/portal.md §2)")
    c.add_argument("--listen", metavar="HOST:PORT",
                   help="override the configuration's listen (default 127.0.0.1:8487)")
    c.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sild.cli._common import console
    from sild.cli._serve import run_until_signal
    from sild.instance import parse_listen
    from sild.portal.app import create_portal_app, serve_portal
    from sild.portal.config import load_config

    config = load_config(Path(args.config))
    host, port = parse_listen(args.listen or config.listen)
    app = create_portal_app(config)
    mode = " (DEMO MODE: demo login without authentication)" if config.demo else ""
    return run_until_signal(serve_portal(app, host, port, started=lambda url: console.print(
        f"citizen portal on {url}{mode}", markup=False)))
