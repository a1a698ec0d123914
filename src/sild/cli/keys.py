"""``sild keys``: make key pairs and certificate signing requests."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sild.cli._common import add_passphrase_arg, console
from sild.cli._out import check_out, write_out
from sild.crypto.kinds import KeyType
from sild.errors import ConfigurationError
from sild.instance import read_passphrase


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("keys", help="key pairs and CSRs")
    s = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = s.add_parser("new", help="generate a private key (0600; encrypted with a passphrase)")
    new.add_argument("--type", choices=[k.value for k in KeyType], default="p256")
    new.add_argument("--out", required=True, metavar="FILE")
    add_passphrase_arg(new)
    new.set_defaults(func=run_new)
    csr = s.add_parser("csr", help="write a certificate signing request for a key")
    csr.add_argument("--key", required=True, metavar="FILE")
    csr.add_argument("--cn", default="sild", help="subject common name (the CA sets identity)")
    csr.add_argument("--out", required=True, metavar="FILE")
    add_passphrase_arg(csr)
    csr.set_defaults(func=run_csr)


def run_new(args: argparse.Namespace) -> int:
    from sild.crypto.keys import generate_key, key_id, save_private_key

    out = Path(args.out)
    if out.exists():
        raise ConfigurationError(f"{out} exists; refusing to overwrite a key")
    check_out(out, overwrite=False)
    key = generate_key(KeyType(args.type))
    save_private_key(out, key, passphrase=read_passphrase(args.passphrase_file))
    console.print(f"wrote {args.type} key {key_id(key.public_key())} to {out}")
    return 0


def run_csr(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization

    from sild.crypto.certs import build_csr
    from sild.crypto.keys import load_private_key

    out = Path(args.out)
    check_out(out)
    key = load_private_key(Path(args.key), passphrase=read_passphrase(args.passphrase_file))
    csr = build_csr(key, args.cn)
    write_out(out, csr.public_bytes(serialization.Encoding.PEM))
    console.print(f"wrote CSR to {args.out}")
    return 0
