"""A small content-addressed cache for expensive results (renders, scans).

Keys hash everything that determines a result: model name, weights hash,
layer, channel, settings. Values are files written atomically, so an
interrupted run leaves either nothing or a complete entry, and a later run
continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ._io import write_bytes

__all__ = ["ResultCache", "default_cache_dir", "cache_key"]


def default_cache_dir() -> Path:
    """``$VIZCNN_CACHE``, else ``$XDG_CACHE_HOME/vizcnn`` (``~/.cache/vizcnn``)."""
    if os.environ.get("VIZCNN_CACHE"):
        return Path(os.environ["VIZCNN_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vizcnn"


def cache_key(**parts: Any) -> str:
    """A stable hex key for keyword parts (JSON-serialisable values)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class ResultCache:
    """Files under ``root/<kind>/<key><suffix>``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, kind: str, key: str, suffix: str = ".bin") -> Path:
        return self.root / kind / f"{key}{suffix}"

    def get(self, kind: str, key: str, suffix: str = ".bin") -> bytes | None:
        p = self.path(kind, key, suffix)
        return p.read_bytes() if p.is_file() else None

    def put(self, kind: str, key: str, data: bytes, suffix: str = ".bin") -> Path:
        return write_bytes(self.path(kind, key, suffix), data)
