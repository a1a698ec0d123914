"""``sild notify …``: notifications of data use (docs/spec/notify.md, docs/guide.md
"Notifications").

``serve`` runs the service provider gateways send usage events to; the person-facing
commands (subscribe, unsubscribe, list, inbox) work on the store directly, as the
portal will through the HTTP API. Heavy imports (SQLAlchemy, Starlette, aiohttp) wait
inside the commands.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["DEFAULT_LISTEN", "add_parser"]

DEFAULT_LISTEN = "127.0.0.1:8485"


def add_parser(sub: Any) -> None:
    from sild.cli._common import add_dir_arg
    from sild.cli.identity import _guarded

    p: argparse.ArgumentParser = sub.add_parser(
        "notify", help="notifications of data use: subscriptions, inbox, the event service")
    s = p.add_subparsers(dest="notify_command", metavar="ACTION", required=True)

    def cmd(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = s.add_parser(name, help=help_)
        add_dir_arg(c)
        c.set_defaults(func=_guarded(func))
        return c

    c = cmd("init", "make the notification service's admin token and store", run_init)
    c.add_argument("--database", metavar="URL",
                   help="sqlite:///… or postgresql://… (default: SQLite in DIR/notify)")
    c.add_argument("--allow-network", dest="allow_networks", action="append", default=[],
                   metavar="CIDR", help="a non-public network webhooks may reach, e.g. "
                                        "127.0.0.0/8 for a demo (repeatable)")

    c = cmd("serve", "run the notification service over HTTP (and deliver)", run_serve)
    c.add_argument("--listen", default=DEFAULT_LISTEN,
                   help=f"host:port (default {DEFAULT_LISTEN})")

    c = cmd("subscribe", "subscribe a person to notices (a webhook URL or the inbox)",
            run_subscribe)
    c.add_argument("person", metavar="PERSON", help="personal code, e.g. EE38001085718")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--webhook", metavar="URL", help="POST each notice here, signed")
    how.add_argument("--inbox", action="store_true", help="keep notices for the portal")
    c.add_argument("--category", dest="categories", action="append", default=[],
                   metavar="CATEGORY", help="only uses of this data category (repeatable; "
                                            "default every use)")
    c.add_argument("--emergency-only", action="store_true",
                   help="only break-glass uses (which every subscription receives anyway)")

    c = cmd("unsubscribe", "remove a subscription (and its notices)", run_unsubscribe)
    c.add_argument("person", metavar="PERSON")
    c.add_argument("subscription", metavar="ID", help="the subscription's id (sub_…)")

    c = cmd("list", "a person's subscriptions and their delivery counts", run_list)
    c.add_argument("person", metavar="PERSON")

    c = cmd("inbox", "a person's inbox notices, newest first", run_inbox)
    c.add_argument("person", metavar="PERSON")
    c.add_argument("--unread", action="store_true", help="only notices not yet read")
    c.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")
    c.add_argument("--mark-read", action="store_true", help="then mark them all read")


def _store(args: argparse.Namespace) -> Any:
    from sild.cli._common import _engines, instance_of
    from sild.notify.home import NotifyHome

    home = NotifyHome.load(instance_of(args))
    engine = home.engine()
    _engines.append(engine)  # disposed when the command ends
    return home.store(engine)


def run_init(args: argparse.Namespace) -> int:
    from sild.cli._common import console, instance_of
    from sild.notify.home import NotifyHome

    home = NotifyHome.create(instance_of(args), database_url=args.database,
                             allow_networks=args.allow_networks)
    console.print(f"notification service set up in {home.root}; admin token in "
                  f"{home.root / 'admin-token'}", markup=False)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from sild.cli._common import console, instance_of
    from sild.instance import parse_listen
    from sild.notify.app import create_notify_app, serve_notify
    from sild.notify.delivery import DeliveryWorker
    from sild.notify.home import NotifyHome

    host, port = parse_listen(args.listen)
    home = NotifyHome.load(instance_of(args))
    store = home.store(home.engine())
    app = create_notify_app(store, admin_token=home.admin_token(),
                            worker=DeliveryWorker(store))
    asyncio.run(serve_notify(app, host, port, started=lambda url: console.print(
        f"notification service on {url} (events at {url}/v1/events)", markup=False)))
    return 0


def run_subscribe(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    sub, secret = _store(args).subscribe(args.person, webhook=args.webhook,
                                         inbox=args.inbox, categories=args.categories,
                                         emergency_only=args.emergency_only)
    what = sub.url if sub.kind == "webhook" else "the inbox"
    rule = ("break-glass only" if sub.emergency_only else
            f"uses of {', '.join(sub.categories)}" if sub.categories else "every use")
    console.print(f"subscription {sub.id}: {sub.subject} → {what} ({rule})", markup=False)
    if secret is not None:
        console.print(f"signing secret (shown once; verify webhook-signature with it): "
                      f"{secret}", markup=False)
    return 0


def run_unsubscribe(args: argparse.Namespace) -> int:
    from sild.cli._common import console

    _store(args).unsubscribe(args.person, args.subscription)
    console.print(f"subscription {args.subscription} removed", markup=False)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sild.cli._common import table

    subs = _store(args).subscriptions(args.person)
    table("subscriptions", ["id", "to", "rule", "pending", "delivered", "dead", "inbox"],
          [(s.id, s.url or "inbox", "break-glass only" if s.emergency_only else
            ", ".join(s.categories) or "every use", s.counts.get("pending", 0),
            s.counts.get("delivered", 0), s.counts.get("dead", 0), s.counts.get("inbox", 0))
           for s in subs])
    return 0


def run_inbox(args: argparse.Namespace) -> int:
    from sild.cli._common import console, table
    from sild.errors import InvalidRequest

    if not 0 < args.limit <= 1000:
        raise InvalidRequest("--limit is 1-1000")
    store = _store(args)
    total, unread, page = store.inbox(args.person, unread_only=args.unread, limit=args.limit)
    table("inbox", ["id", "when", "who", "why", "data", "flags", "read"],
          [(n.id, n.event["loggedAt"][:19] + "Z",
            n.event["receiverName"] or n.event["receiver"], n.event["action"],
            ", ".join(n.event["categories"]), ", ".join(n.event["flags"]),
            "yes" if n.read_at else "no") for n in page])
    console.print(f"{total} notices, {unread} unread", markup=False)
    if args.mark_read:
        console.print(f"{store.mark_read(args.person)} marked read", markup=False)
    return 0
