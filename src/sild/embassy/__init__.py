"""Data embassy: encrypted, signed snapshots of a role's state kept at a second site.

Estonia keeps copies of its critical registers in a "data embassy" in Luxembourg
(research/citizen.md §5, "integrity that outlives availability: … off-site replicas").
``sild embassy`` snapshots a gateway, registry (with identity) or ledger folder and its
databases, encrypts it to age X25519 recipients, signs the chunk list with the making
site's Ed25519 key, and restores it on a fresh machine, where the restore drill proves
against the ledger that nothing anchored before the snapshot is missing or altered.
docs/operations.md, "Data embassy".

Modules: keys (site keys), manifest (the signed chunk list), site (the folder at the
second site), stream (encrypted chunks), databases (consistent SQLite/PostgreSQL
snapshots), roles (what each role's snapshot holds), snapshot (backup, verify,
restore), drill (completeness against the ledger).
"""

from sild.embassy.keys import SiteKey, SitePublic, generate, load_key, load_public
from sild.embassy.site import FolderSite
from sild.embassy.snapshot import BackupResult, RestoreResult, backup, restore, verify

__all__ = ["BackupResult", "FolderSite", "RestoreResult", "SiteKey", "SitePublic", "backup",
           "generate", "load_key", "load_public", "restore", "verify"]
