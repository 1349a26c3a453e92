"""A small content-addressed cache for expensive results (renders, scans).

Keys hash everything that determines a result: model name, weights hash,
layer, channel, settings. Values are files written atomically, so an
interrupted run leaves either nothing or a complete entry, and a later run
continues where it stopped. Each file starts with a checksum of its payload:
an entry damaged afterwards (truncated, overwritten, copied in part) is
detected on read, removed, reported on the ``vizcnn`` logger (stderr) and
recomputed by the caller, never handed on.
"""

from __future__ import annotations

import hashlib
import json
import logging
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


#: Every entry starts with this tag and the SHA-256 of the payload that follows.
_MAGIC = b"vizcnn-cache-1\n"
_HEADER = len(_MAGIC) + 32

log = logging.getLogger("vizcnn")


class ResultCache:
    """Files under ``root/<kind>/<key><suffix>``, each checksummed.

    Attributes:
        damaged: the entries found damaged (and removed) by this object so far.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.damaged: list[Path] = []

    def path(self, kind: str, key: str, suffix: str = ".bin") -> Path:
        return self.root / kind / f"{key}{suffix}"

    def get(self, kind: str, key: str, suffix: str = ".bin") -> bytes | None:
        """The payload, or ``None`` when the entry is absent or damaged (a damaged one is removed and reported)."""
        return self.load(self.path(kind, key, suffix))

    def load(self, p: Path) -> bytes | None:
        """The payload of the entry file ``p``, checked as :meth:`get` does."""
        try:
            blob = p.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        payload = blob[_HEADER:]
        if blob[: len(_MAGIC)] == _MAGIC and hashlib.sha256(payload).digest() == blob[len(_MAGIC) : _HEADER]:
            return payload
        self.damaged.append(p)
        log.warning("vizcnn: cache entry %s is damaged (its checksum does not match); removed, it will be recomputed.", p)
        p.unlink(missing_ok=True)
        return None

    def put(self, kind: str, key: str, data: bytes, suffix: str = ".bin") -> Path:
        return write_bytes(self.path(kind, key, suffix), _MAGIC + hashlib.sha256(data).digest() + data)
