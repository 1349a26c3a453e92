"""Downloads the way torch.hub makes them: once, into a cache, checked, never half-written.

A file is streamed into a temporary file beside its target with a progress
bar, its checksum compared (the SHA-256 prefix in torch.hub's
``name-<hex>.pth`` file names, or a known MD5), and only then moved into
place. Every failure (an unreachable host, an HTTP error, a connection that
drops, a checksum that does not match) is a :class:`DownloadError` that says
what happened and what to do, and leaves nothing in the cache.

Environment:
    ``VIZCNN_OFFLINE=1``: never touch the network (:func:`offline`).
    ``VIZCNN_WEIGHTS_MIRROR=URL``: weights are fetched from ``URL/<file name>``
    instead of their own address (an internal mirror for air-gapped sites).
    ``VIZCNN_DATA_MIRROR=URL``: the same for data sets (MNIST).
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlsplit

from ._io import atomic_path
from .errors import VizcnnError

__all__ = ["DownloadError", "download", "hash_prefix", "is_url", "mirrored", "offline"]

#: Seconds to wait for a connection or for the next block of data.
TIMEOUT = 10.0
_CHUNK = 1 << 16
#: torch.hub's convention: ``resnet18-f37072fd.pth`` carries the first hex digits of the file's SHA-256.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")
_MIRRORS = {"weights": "VIZCNN_WEIGHTS_MIRROR", "data": "VIZCNN_DATA_MIRROR"}


class DownloadError(VizcnnError):
    """A download failed; nothing was written."""


def offline() -> bool:
    """Whether ``VIZCNN_OFFLINE`` forbids the network (``1``, ``true``, ``yes``)."""
    return os.environ.get("VIZCNN_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def is_url(text: object) -> bool:
    """Whether ``text`` is an ``http://`` or ``https://`` address."""
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


def mirrored(url: str, kind: str = "weights") -> str:
    """``url`` with its folder replaced by the mirror set for ``kind`` (``weights`` or ``data``), if any."""
    if kind not in _MIRRORS:
        raise ValueError(f"kind must be one of {sorted(_MIRRORS)}, not {kind!r}")
    mirror = os.environ.get(_MIRRORS[kind], "").strip()
    if not mirror:
        return url
    if not is_url(mirror):
        raise DownloadError(
            f"{_MIRRORS[kind]}={mirror!r} is not an http:// or https:// address. Set it to the folder that holds "
            "the files, e.g. https://mirror.example.org/torch/checkpoints/."
        )
    return mirror.rstrip("/") + "/" + url.rsplit("/", 1)[-1]


def hash_prefix(name: str) -> str | None:
    """The SHA-256 prefix a torch.hub file name carries (``resnet18-f37072fd.pth`` -> ``f37072fd``), else ``None``."""
    match = _HASH_IN_NAME.search(os.path.basename(name))
    return match.group(1) if match else None


def download(
    url: str, target: str | os.PathLike, *, sha256_prefix: str | None = None, md5: str | None = None,
    progress: bool = True, timeout: float = TIMEOUT,
) -> Path:  # fmt: skip
    """Fetch ``url`` into ``target`` atomically, checking its SHA-256 prefix and/or MD5.

    Raises:
        DownloadError: offline, unreachable, HTTP error, dropped connection or
            checksum mismatch; ``target`` is then untouched.
    """
    if not is_url(url):
        raise DownloadError(f"{url!r} is not an http:// or https:// address.")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    target = Path(target)
    if offline():
        raise DownloadError(f"VIZCNN_OFFLINE is set, so {url} was not downloaded to {str(target)!r}.")
    from .progress import progress_bar

    host = urlsplit(url).netloc or url
    sha, md = hashlib.sha256(), hashlib.md5()
    received, expected = 0, None
    try:
        with atomic_path(target) as tmp:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "vizcnn"})
                with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                    length = response.headers.get("Content-Length")
                    expected = int(length) if length and length.isdigit() else None
                    with progress_bar(total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                              disable=not progress, leave=False) as bar:  # fmt: skip
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            sha.update(chunk)
                            md.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
            except urllib.error.HTTPError as exc:
                raise DownloadError(
                    f"{url} answered HTTP {exc.code} {exc.reason}: the file is not there. Check the address "
                    f"(and {_MIRRORS['weights']} / {_MIRRORS['data']} if you set one). Nothing was saved."
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, HTTPException) as exc:
                reason = getattr(exc, "reason", None) or exc
                if received == 0 and expected is None:
                    raise DownloadError(
                        f"cannot reach {host} to download {url} ({reason}). Check the internet connection or proxy; "
                        f"on a machine without internet, copy the file to {str(target)!r} yourself, or point "
                        f"{_MIRRORS['weights']} (weights) or {_MIRRORS['data']} (data) at an internal mirror. "
                        "Nothing was saved."
                    ) from None
                raise _interrupted(url, received, expected, reason) from None
            if expected is not None and received != expected:
                raise _interrupted(url, received, expected, "the connection closed early")
            _check(url, target, sha.hexdigest(), md.hexdigest(), sha256_prefix, md5)
    except DownloadError:
        raise
    except OSError as exc:  # the cache folder cannot be written
        raise DownloadError(f"cannot write {str(target)!r} ({exc.strerror or exc}). Check that the folder is writable.") from None
    return target


def _interrupted(url: str, received: int, expected: int | None, reason) -> DownloadError:
    of = f" of {expected:,}" if expected else ""
    return DownloadError(
        f"the download of {url} broke off after {received:,}{of} bytes ({reason}). Nothing was saved; run the "
        "command again to start over."
    )


def _check(url: str, target: Path, sha: str, md: str, sha256_prefix: str | None, md5: str | None) -> None:
    if sha256_prefix and not sha.startswith(sha256_prefix.lower()):
        raise DownloadError(
            f"the file downloaded from {url} has SHA-256 {sha[:16]}..., but its name says it starts with "
            f"{sha256_prefix}: it is corrupt or not the file the name promises. Nothing was saved to "
            f"{str(target)!r}. Try again; if it persists, the server (or mirror) holds a bad copy."
        )
    if md5 and md != md5.lower():
        raise DownloadError(
            f"the file downloaded from {url} has MD5 {md}, not the published {md5}: it is corrupt or not the "
            f"expected file. Nothing was saved to {str(target)!r}. Try again or use another mirror."
        )
