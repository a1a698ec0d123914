"""The gateway's message log, operational-monitoring records and archive chain.

Modelled on X-Road's message log (research/xroad.md §3.4; X-Road
``dm-ml_x-road_message_log_data_model.md``: ``logrecord``, ``last_archive_digest``)
and operational monitoring (research/xroad.md §4.3; X-Road
``pr-opmon_x-road_operational_monitoring_protocol`` record fields, in snake_case).

Times in ``message_log`` and ``log_archives`` are timezone-aware UTC (stored as UTC
on SQLite, whose DATETIME carries no zone). Operational-monitoring times are Unix
epoch integers as X-Road defines them: ``monitoring_data_ts`` in seconds, the four
request/response timestamps in milliseconds.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
           "log_archives",
           "message_log",
           "metadata",
           "opmon_records",
           "usage_cutoffs",
           "usage_heads",
           "usage_log",
           "usage_notify_marks",
           "usage_releases",
]

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)

log_archives = sa.Table(
    "log_archives",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("from_ts", _ts, nullable=False),  # inclusive
    sa.Column("to_ts", _ts, nullable=False),  # exclusive
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("sha256", sa.LargeBinary(32), nullable=False, unique=True),
    # X-Road's digest chain (last_archive_digest): each archive names its predecessor,
    # and no two archives may claim the same one.
    sa.Column("previous_sha256", sa.LargeBinary(32), nullable=True, unique=True),
)

message_log = sa.Table(
    "message_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("logged_at", _ts, nullable=False),
    sa.Column("side", sa.String(8), nullable=False),  # consumer | provider
    sa.Column("kind", sa.String(8), nullable=False),  # request | response
    sa.Column("message_id", sa.String(255), nullable=False),  # X-Road-Id
    sa.Column("request_id", sa.String(64), nullable=False),  # X-Road-Request-Id (uuid)
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("service_id", sa.Text, nullable=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),  # the signed canonical header
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("signer_cert_fingerprint", sa.String(64), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),  # NULL when body logging is "digest"
    sa.Column("body_digest", sa.LargeBinary(64), nullable=False),  # SHA-512
    sa.Column("status", sa.Integer, nullable=True),  # HTTP status of a response
    sa.Column("record_hash", sa.LargeBinary(32), nullable=False),  # anchored by the ledger
    # Set by export: the archive that holds this record; purge deletes only these.
    sa.Column("archive_id", sa.Integer, sa.ForeignKey("log_archives.id"), nullable=True),
    sa.CheckConstraint("side IN ('consumer', 'provider')", name="ck_message_log_side"),
    sa.CheckConstraint("kind IN ('request', 'response')", name="ck_message_log_kind"),
    # Ids are never reused, even after the newest rows were purged: anchoring resumes
    # after the last anchored id (docs/spec/anchoring.md §3), so a reused id would
    # never be anchored. PostgreSQL sequences already behave so.
    sqlite_autoincrement=True,
)
# One request record and one response record per side of an exchange: a record that is
# logged twice is a bug upstream, and the batch holding it fails (LoggingFailed).
sa.Index("ux_message_log_request", message_log.c.request_id, message_log.c.side,
         message_log.c.kind, unique=True)
sa.Index("ix_message_log_logged_at", message_log.c.logged_at)

opmon_records = sa.Table(
    "opmon_records",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("monitoring_data_ts", sa.BigInteger, nullable=False),  # Unix seconds
    sa.Column("security_server_type", sa.String(8), nullable=False),  # Client | Producer
    sa.Column("request_in_ts", sa.BigInteger, nullable=False),  # Unix milliseconds
    sa.Column("request_out_ts", sa.BigInteger, nullable=True),
    sa.Column("response_in_ts", sa.BigInteger, nullable=True),
    sa.Column("response_out_ts", sa.BigInteger, nullable=True),
    sa.Column("client_xroad_instance", sa.String(255), nullable=True),
    sa.Column("client_member_class", sa.String(255), nullable=True),
    sa.Column("client_member_code", sa.String(255), nullable=True),
    sa.Column("client_subsystem_code", sa.String(255), nullable=True),
    sa.Column("service_xroad_instance", sa.String(255), nullable=True),
    sa.Column("service_member_class", sa.String(255), nullable=True),
    sa.Column("service_member_code", sa.String(255), nullable=True),
    sa.Column("service_subsystem_code", sa.String(255), nullable=True),
    sa.Column("service_code", sa.String(255), nullable=True),
    sa.Column("represented_party_class", sa.String(255), nullable=True),
    sa.Column("represented_party_code", sa.String(255), nullable=True),
    sa.Column("rest_method", sa.String(16), nullable=True),
    sa.Column("rest_path", sa.Text, nullable=True),
    sa.Column("message_id", sa.String(255), nullable=True),
    sa.Column("message_user_id", sa.String(255), nullable=True),
    sa.Column("message_issue", sa.Text, nullable=True),
    sa.Column("x_request_id", sa.String(64), nullable=True),
    sa.Column("client_security_server_address", sa.String(255), nullable=True),
    sa.Column("service_security_server_address", sa.String(255), nullable=True),
    sa.Column("request_size", sa.BigInteger, nullable=True),
    sa.Column("response_size", sa.BigInteger, nullable=True),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("fault_code", sa.String(255), nullable=True),
    sa.Column("fault_string", sa.Text, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.CheckConstraint("security_server_type IN ('Client', 'Producer')",
                       name="ck_opmon_records_type"),
)
sa.Index("ix_opmon_records_ts", opmon_records.c.monitoring_data_ts)

# The data tracker's usage records (docs/spec/tracker.md §2), written in the same
# transaction as the message-log records of their exchange: both or neither.
usage_log = sa.Table(
    "usage_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("register", sa.String(1100), nullable=False),  # provider subsystem id
    sa.Column("subject", sa.String(32), nullable=False),  # CC<code>, as findUsage's userCode
    sa.Column("seq", sa.BigInteger, nullable=False),  # 1, 2, 3, … per (register, subject)
    sa.Column("logged_at", _ts, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("purpose_code", sa.String(64), nullable=False),
    sa.Column("legal_basis", sa.Text, nullable=False),
    sa.Column("receiver", sa.String(1100), nullable=False),  # client id
    sa.Column("receiver_name", sa.Text, nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("service", sa.String(1400), nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("consent_id", sa.String(255), nullable=False),
    sa.Column("categories", sa.Text, nullable=False),  # comma-separated, sorted
    sa.Column("flags", sa.Text, nullable=False),  # comma-separated, sorted
    # a covert query (§4): shown to the subject only as its hash and time until released
    sa.Column("sealed", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("record_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("chain", sa.LargeBinary(32), nullable=False),  # §3.2 after this record
    sa.UniqueConstraint("register", "subject", "seq", name="ux_usage_log_seq"),
    sqlite_autoincrement=True,
)
sa.Index("ix_usage_log_subject_time", usage_log.c.subject, usage_log.c.register,
         usage_log.c.logged_at, usage_log.c.id)
sa.Index("ix_usage_log_logged_at", usage_log.c.logged_at)

# The head of each subject's chain, kept when expired rows are deleted (§3.2, §5).
usage_heads = sa.Table(
    "usage_heads",
    metadata,
    sa.Column("register", sa.String(1100), primary_key=True),
    sa.Column("subject", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("chain", sa.LargeBinary(32), nullable=False),
    sa.Column("updated_at", _ts, nullable=False),  # logged_at of the head record
)

# Sealed (covert) usage records released by a court decision (§4): the release is
# itself a usage record (``release_id``) in the subject's chain.
usage_releases = sa.Table(
    "usage_releases",
    metadata,
    sa.Column("usage_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("release_id", sa.BigInteger, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("released_at", _ts, nullable=False),
)

# Where each chain's expired part ended (§5.3): a proof of a later period starts here.
usage_cutoffs = sa.Table(
    "usage_cutoffs",
    metadata,
    sa.Column("register", sa.String(1100), primary_key=True),
    sa.Column("subject", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the last expired record
    sa.Column("chain", sa.LargeBinary(32), nullable=False),  # the chain value after it
)

# How far the gateway's notifier has sent usage records to the notification service
# (docs/spec/notify.md §4): the last ``usage_log.id`` the service acknowledged.
usage_notify_marks = sa.Table(
    "usage_notify_marks",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
)
