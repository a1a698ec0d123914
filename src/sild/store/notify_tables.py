"""The notification service's store (docs/spec/notify.md §3).

* ``notify_subscriptions``: a person's webhooks and inbox, with their rule;
* ``notify_events``: usage events received from provider gateways, once each — the
  key ``(register, subject, seq)`` is the event id (§2), so a batch sent twice is
  stored once;
* ``notify_deliveries``: one row per (subscription, event): the delivery state machine
  of a webhook (pending → delivered | dead) or an inbox notice (inbox, read or not).
  All delivery state is here, so a restarted service resumes where it stopped.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "notify_deliveries", "notify_events", "notify_subscriptions"]

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

notify_subscriptions = sa.Table(
    "notify_subscriptions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False),  # CC<code>
    sa.Column("kind", sa.String(8), nullable=False),  # webhook | inbox
    sa.Column("url", sa.Text, nullable=True),  # webhook only
    sa.Column("secret", sa.String(80), nullable=True),  # whsec_<base64>, webhook only
    sa.Column("categories", sa.Text, nullable=False),  # comma-separated, sorted; "" = all
    sa.Column("emergency_only", sa.Boolean, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.CheckConstraint("kind IN ('webhook', 'inbox')", name="ck_notify_subscriptions_kind"),
)
sa.Index("ix_notify_subscriptions_subject", notify_subscriptions.c.subject)

notify_events = sa.Table(
    "notify_events",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("register", sa.String(1100), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("logged_at", _ts, nullable=False),
    sa.Column("received_at", _ts, nullable=False),
    sa.Column("emergency", sa.Boolean, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the event's JSON (§2)
    sa.UniqueConstraint("register", "subject", "seq", name="ux_notify_events_key"),
)

notify_deliveries = sa.Table(
    "notify_deliveries",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("subscription_id", sa.String(40),
              sa.ForeignKey("notify_subscriptions.id"), nullable=False),
    sa.Column("event_id", _id, sa.ForeignKey("notify_events.id"), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False),  # 0: break-glass, first
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", _ts, nullable=False),  # due (pending) or lease end (in flight)
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("done_at", _ts, nullable=True),  # delivered or dead
    sa.Column("read_at", _ts, nullable=True),  # inbox notices
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.UniqueConstraint("subscription_id", "event_id", name="ux_notify_deliveries_pair"),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'dead', 'inbox')",
                       name="ck_notify_deliveries_state"),
)
sa.Index("ix_notify_deliveries_due", notify_deliveries.c.state, notify_deliveries.c.priority,
         notify_deliveries.c.next_at)
sa.Index("ix_notify_deliveries_subject", notify_deliveries.c.subject,
         notify_deliveries.c.state, notify_deliveries.c.id)
