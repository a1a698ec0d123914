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
import tomllib
from dataclasses import dataclass
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


def set_toml_string(path: Path, section: str, key: str, value: str) -> None:
    """Set ``[section] key = "value"`` in a TOML file, keeping every other line (settings
    this version does not know, comments) as it was; checked by parsing it back."""
    lines = path.read_text().splitlines(keepends=True)
    new = f"{key} = {json.dumps(value)}\n"  # TOML basic strings accept JSON escapes
    header = next((i for i, ln in enumerate(lines) if ln.strip() == f"[{section}]"), None)
    if header is None:
        lines += [f"\n[{section}]\n", new]
    else:
        end = next((i for i in range(header + 1, len(lines))
                    if lines[i].lstrip().startswith("[")), len(lines))
        at = next((i for i in range(header + 1, end)
                   if lines[i].split("=", 1)[0].strip() == key), None)
        if at is None:
            lines.insert(header + 1, new)
        else:
            lines[at] = new
    text = "".join(lines)
    if tomllib.loads(text).get(section, {}).get(key) != value:
        raise ConfigurationError(f"{path}: cannot set [{section}] {key}")
    path.write_text(text)


def repoint(kind: str, stage: Path, urls: dict[str, str]) -> None:
    """Rewrite the restored settings in ``stage`` so that, once the folder is renamed
    into place, they name the restored databases (``urls``: database name → URL)."""
    if kind == "gateway":
        set_toml_string(stage / "gateway.toml", "gateway", "database", urls["gateway"])
    elif kind == "registry":
        set_toml_string(stage / "instance.toml", "registry", "database", urls["registry"])
        if "identity" in urls:
            set_toml_string(stage / "identity" / "identity.toml", "identity", "database",
                            urls["identity"])
    elif kind == "ledger":
        path = stage / "ledger.json"
        data = json.loads(path.read_text())
        data["database_url"] = urls["ledger"]
        path.write_text(json.dumps(data, indent=2) + "\n")
