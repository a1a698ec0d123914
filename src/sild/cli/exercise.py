"""``sild exercise --demo-dir DIR | --target FILE [--json] [--only NAME] [--skip NAME]``: a Locked
Shields-style drill against a live network (issue #12; sild/exercise/).

Every attack is reported with what stopped or detected it and the evidence. Exit codes
(sild/cli/_exit.py): 0 every attack stopped or detected, 5 (FAILED) one or more
succeeded undetected, 1 not a demo folder, 3 the network does not answer.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sild.cli._common import console, quiet_logs

if TYPE_CHECKING:
    from sild.exercise import Attack, Result

__all__ = ["add_parser", "run_exercise"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "exercise", help="attack a running network and report what stopped each attack",
        description="Attack a running Sild network (forged certificates, replayed and "
        "tampered envelopes, ACL bypass, header injection, rolled-back configuration, "
        "log tampering, consent bypass, a flood) and report what stopped or detected each. "
        "Exit 5 if any attack succeeds undetected.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--demo-dir", metavar="DIR",
                       help="the folder of a running `sild demo` (its gateways, keys, "
                            "databases)")
    where.add_argument("--target", metavar="FILE",
                       help="a TOML file naming the network's folders and URLs "
                            "(docs/operations.md \"Exercise\")")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only attacks whose name contains NAME (repeatable)")
    p.add_argument("--skip", action="append", default=[], metavar="NAME",
                   help="leave out attacks whose name contains NAME (repeatable)")
    p.add_argument("--list", action="store_true", help="list the attacks and exit")
    p.set_defaults(func=run_exercise)
    quiet_logs(p)


def _chosen(attacks: tuple[Attack, ...], only: list[str], skip: list[str]) -> list[Attack]:
    from sild.errors import ConfigurationError

    chosen = [a for a in attacks if (not only or any(n in a.name for n in only))
              and not any(n in a.name for n in skip)]
    if not chosen:
        raise ConfigurationError("--only/--skip leave no attack to run (see --list)")
    return chosen


def report(results: list[Result], *, as_json: bool) -> None:
    """The table (rich) or the JSON document of a drill."""
    import json

    from sild.exercise import Outcome, exit_code

    if as_json:
        counts = {str(o): sum(r.outcome is o for r in results) for o in Outcome}
        print(json.dumps({"passed": exit_code(results) == 0, "counts": counts,
                          "attacks": [r.as_json() for r in results]}, indent=1,
                         ensure_ascii=False))
        return
    from rich.table import Table

    colour = {Outcome.STOPPED: "green", Outcome.DETECTED: "green",
              Outcome.UNDETECTED: "bold red", Outcome.SKIPPED: "yellow"}
    t = Table(title="sild exercise", title_justify="left")
    for c in ("attack", "outcome", "stopped or detected by", "evidence"):
        t.add_column(c, overflow="fold")
    for r in results:
        t.add_row(r.attack, f"[{colour[r.outcome]}]{r.outcome}[/]", r.by, r.evidence)
    console.print(t)
    bad = [r.attack for r in results if r.outcome is Outcome.UNDETECTED]
    console.print(f"FAILED: undetected: {', '.join(bad)}" if bad else
                  f"OK: {len(results)} attacks, none succeeded undetected", markup=False)


def run_exercise(args: argparse.Namespace) -> int:
    import asyncio

    from sild.exercise import ATTACKS, Target, exit_code, run_attacks
    from sild.exercise.run import preflight

    if args.list:
        for a in ATTACKS:
            console.print(f"{a.name:<36} {a.description}", markup=False)
        return 0
    from sild.errors import ConfigurationError

    if not args.demo_dir and not args.target:
        raise ConfigurationError("give --demo-dir DIR or --target FILE")
    attacks = _chosen(ATTACKS, args.only, args.skip)
    target = Target.of_demo(Path(args.demo_dir)) if args.demo_dir else \
        Target.of_file(Path(args.target))

    async def drill() -> list[Result]:
        await preflight(target)
        return await run_attacks(target, attacks)

    results = asyncio.run(drill())
    report(results, as_json=args.json)
    return exit_code(results)
