"""``sild init DIR``: create a working instance in one command."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from sild.cli._common import add_passphrase_arg, console, sild_command
from sild.clock import utc_now
from sild.crypto.kinds import KeyType
from sild.instance import read_passphrase


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "init", help="create an instance: CA, registry keys, database, anchor")
    p.add_argument("dir", metavar="DIR", help="new folder for the instance")
    p.add_argument("--instance", default="SILD", help="X-Road instance code (default SILD)")
    p.add_argument("--listen", default="127.0.0.1:4000",
                   help="registry host:port (default 127.0.0.1:4000)")
    p.add_argument("--public-url", help="URL gateways use to reach the registry")
    p.add_argument("--database", metavar="URL",
                   help="sqlite:///… or postgresql://… (default: SQLite in DIR); "
                        "refused if it already holds a registry")
    p.add_argument("--ca-key-type", choices=[k.value for k in KeyType], default="p256")
    add_passphrase_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sild.bootstrap import create_instance
    from sild.errors import ConfigurationError

    try:
        inst = create_instance(
            Path(args.dir), instance_id=args.instance, at=utc_now(), listen=args.listen,
            public_url=args.public_url, database_url=args.database,
            passphrase=read_passphrase(args.passphrase_file),
            ca_key_type=KeyType(args.ca_key_type),
        )
    except OSError as e:  # create_instance has removed what it wrote
        raise ConfigurationError(
            f"cannot create the instance in {args.dir}: {e.strerror or e}"
            + (f" ({e.filename})" if e.filename else "")) from e
    d, sild = shlex.quote(args.dir), sild_command()
    console.print(f"[bold green]Created instance {inst.instance_id}[/] in {inst.root}")
    console.print(f"  anchor:   {inst.anchor_path}\n  CA:       {inst.ca_dir / 'ca.pem'}\n"
                  f"  database: {inst.database_url}")
    console.print("\nNext:")
    console.print(f"  {sild} registry serve --dir {d} &  # registry on {inst.registry_listen}")
    console.print(f"  {sild} registry member add --dir {d} {inst.instance_id}/GOV/70000001 "
                  "--name 'First member'")
    console.print(f"  curl -s {inst.registry_url}/globalconf -o globalconf.json")
    console.print(f"  {sild} conf verify --anchor {shlex.quote(str(inst.anchor_path))} "
                  "globalconf.json")
    console.print("  docs/guide.md walks through registering a gateway and a subsystem.")
    return 0
