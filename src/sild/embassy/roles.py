"""What a snapshot of each role holds, and how a restored folder is re-pointed.

==========  =====================================================================
gateway     the gateway folder (gateway.toml, anchor.json, keys/, is-clients/,
            confcache/) and its database: message log with operational-monitoring
            records and the archive chain (messagelog), service configuration
            (serverconf), anchoring rounds, proofs and receipts (anchoring)
registry    the instance folder (instance.toml, anchor.json, ca/, registry/) and the
            registry's database; with identity/ (the person CA, tokens) and the
            identity store when ``sild identity init`` was run
ledger      the ledger folder (ledger.json, keys, tiles/) and its database
==========  =====================================================================

A SQLite database inside the folder is taken as a consistent image, never as the live
file (its ``-wal`` and ``-shm`` are skipped); lock files are skipped too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from sild.embassy.databases import DatabaseSpec, sqlite_path
from sild.errors import ConfigurationError

__all__ = ["Role", "detect", "repoint"]

_SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".lock", ".tmp")


@dataclass(frozen=True)
class Role:
    kind: str
    root: Path
    databases: tuple[DatabaseSpec, ...]

    def files(self) -> list[Path]:
        """Files of the folder to copy (relative), without live database files."""
        skip: set[Path] = set()
        for db in self.databases:
            if db.relpath is not None:
                skip.add(Path(db.relpath))
        out = []
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root)
            if p.is_symlink() or not p.is_file() or rel in skip:
                continue
            if p.name.endswith(_SKIP_SUFFIXES) or any(
                    rel == Path(str(s) + suf) for s in skip for suf in _SKIP_SUFFIXES):
                continue
            out.append(rel)
        return out


def _db(name: str, url: str, root: Path, components: tuple[str, ...]) -> DatabaseSpec:
    rel = None
    if url.startswith("sqlite"):
        path = sqlite_path(url).resolve()
        if path.is_relative_to(root.resolve()):
            rel = str(path.relative_to(root.resolve()))
    return DatabaseSpec(name, url, components, rel)


def detect(root: Path) -> Role:
    """The role whose folder ``root`` is; :class:`ConfigurationError` if none."""
    if not root.is_dir():
        raise ConfigurationError(f"--dir {root}: not a folder")
    root = root.resolve()
    if (root / "gateway.toml").is_file():
        from sild.gateway.config import GatewaySettings

        gw = GatewaySettings.load(root)
        return Role("gateway", root, (_db("gateway", gw.database_url, root,
                                          ("messagelog", "serverconf", "anchoring")),))
    if (root / "instance.toml").is_file():
        from sild.instance import Instance

        inst = Instance.load(root)
        dbs = [_db("registry", inst.database_url, root, ("registry",))]
        if (root / "identity" / "identity.toml").is_file():
            from sild.identity.home import IdentityHome

            idh = IdentityHome.load(inst)
            dbs.append(_db("identity", idh.database_url, root, ("identity",)))
        return Role("registry", root, tuple(dbs))
    if (root / "ledger.json").is_file():
        from sild.ledger.settings import LedgerSettings

        led = LedgerSettings.load(root / "ledger.json")
        return Role("ledger", root, (_db("ledger", led.database_url, root,
                                         ("ledger", "witness")),))
    raise ConfigurationError(f"{root} is not a gateway, instance or ledger folder "
                             "(no gateway.toml, instance.toml or ledger.json)")


def repoint(kind: str, stage: Path, urls: dict[str, str]) -> None:
    """Rewrite the restored settings in ``stage`` so that, once the folder is renamed
    into place, they name the restored databases (``urls``: database name → URL)."""
    if kind == "gateway":
        from sild.gateway.config import GatewaySettings

        gw = GatewaySettings.load(stage)
        replace(gw, database_url=urls["gateway"]).write()
    elif kind == "registry":
        from sild.identity.home import IdentityHome
        from sild.instance import Instance

        inst = Instance.load(stage)
        replace(inst, database_url=urls["registry"]).write_config()
        if "identity" in urls:
            idh = IdentityHome.load(inst)
            replace(idh, database_url=urls["identity"])._write_settings()
    elif kind == "ledger":
        path = stage / "ledger.json"
        data = json.loads(path.read_text())
        data["database_url"] = urls["ledger"]
        path.write_text(json.dumps(data, indent=2) + "\n")
