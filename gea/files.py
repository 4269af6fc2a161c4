"""Crash-safe file writes (temporary file, fsync, rename) and file checksums: the one home of atomic writes.

Every file the platform writes for a reader to trust later (configs, reports, tokenizers, checkpoints' pointers,
dataset shards and metadata) goes through ``atomic_write``: a reader sees the old file or the complete new one,
never a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


def fsync_directory(folder: Path) -> None:
    """Flush a directory entry so that a rename inside it survives a power loss."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)``, fsync the result and rename it to ``path``.

    Readers see either the old file or the complete new one; a crash leaves at most a ``*.tmp`` file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, lambda temporary: temporary.write_text(text))


def atomic_write_json(path: Path, document: Any, indent: int = 2, sort_keys: bool = True) -> None:
    """Write ``document`` as indented JSON to ``path`` atomically (values JSON cannot hold are written as text)."""
    atomic_write_text(path, json.dumps(document, indent=indent, sort_keys=sort_keys, default=str) + "\n")


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's contents."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def remove_temporary_files(folder: Path) -> list[Path]:
    """Delete leftover ``*.tmp`` files of interrupted writes under ``folder``; return what was removed."""
    removed = sorted(folder.rglob(f".*{TEMP_SUFFIX}")) if folder.exists() else []
    for path in removed:
        path.unlink()
    return removed
