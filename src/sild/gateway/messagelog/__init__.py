"""The message log: durable group-committed records of every signed message (log),
operational-monitoring records (opmon), and signed archives with export, verify and
purge (archive). research/xroad.md §3.4, §4.3."""
