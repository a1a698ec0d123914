"""Output files named on the command line (``--out``): checked before any work, written
atomically (:func:`sild.files.atomic_write`), one-line errors, never a traceback.

``sild ledger submit`` checks its ``--out`` *before* submitting: once the ledger has
accepted a hash, a receipt that cannot be written would be lost.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["check_out", "write_out"]


def check_out(path: Path, *, overwrite: bool = True) -> None:
    """:class:`~sild.errors.ConfigurationError` unless ``path`` can be written."""
    from sild.errors import ConfigurationError

    if path.is_dir():
        raise ConfigurationError(f"{path} is a folder; give a file name for the output")
    if path.exists() and not overwrite:
        raise ConfigurationError(f"{path} exists; refusing to overwrite")
    parent = path.parent
    if not parent.is_dir():
        raise ConfigurationError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot write {path}: folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigurationError(f"cannot write {path}: permission denied")


def write_out(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``path`` atomically; an OS error is one line (exit 1)."""
    from sild.errors import ConfigurationError
    from sild.files import atomic_write

    check_out(path)
    try:
        atomic_write(path, data, private=private)
    except OSError as e:
        raise ConfigurationError(f"cannot write {path}: {e.strerror or e}") from e
