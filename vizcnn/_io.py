"""File output: atomic writes (a file is either the old one or the complete new one) and safe file names."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator

from .errors import VizcnnError

__all__ = ["IMAGE_FORMATS", "atomic_path", "atomic_write", "check_output", "image_format", "save_with", "slug", "write_bytes", "write_text"]

#: Picture formats by file suffix (what PIL writes them as).
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def image_format(path: str | os.PathLike) -> str:
    """PIL's format name for ``path``'s suffix (PNG when it has none); an unknown suffix is refused."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "PNG"
    if suffix not in IMAGE_FORMATS:
        raise VizcnnError(f"cannot write {str(path)!r}: unknown picture type {suffix!r}; end the name in one of {', '.join(IMAGE_FORMATS)}.")
    return IMAGE_FORMATS[suffix]


def check_output(path: str | os.PathLike, suffixes: Iterable[str] | None = None, *, folder: bool = False, option: str = "-o") -> Path:
    """Refuse, before any work is done, an output that cannot be written.

    A file output must not be an existing folder and must end in one of
    ``suffixes`` (when given); a folder output must not be an existing file.
    Every folder above it that exists must be a folder, and the nearest one
    writable. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    what = "folder" if folder else "file"
    if folder and path.exists() and not path.is_dir():
        raise VizcnnError(f"{option} {str(path)!r} is a file; give a folder (new or existing) to write into.")
    if not folder:
        if path.is_dir():
            raise VizcnnError(f"{option} {str(path)!r} is a folder; give a file name, e.g. {str(path / ('out' + (next(iter(suffixes), '.png') if suffixes else '.png')))!r}.")
        if suffixes is not None and path.suffix.lower() not in set(suffixes):
            raise VizcnnError(f"{option} {str(path)!r}: unknown file type {path.suffix or '(none)'!r}; end the name in one of {', '.join(suffixes)}.")
    parent = path.absolute().parent if not folder else path.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise VizcnnError(f"{option} {str(path)!r}: {str(parent)!r} is a file, so no {what} can be made under it.")
    try:  # the one sure test of writability (permissions, read-only mounts, /proc): make a file there
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise VizcnnError(f"{option} {str(path)!r}: cannot write into the folder {str(parent)!r} ({exc.strerror or exc}); write somewhere else.") from None
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched,
    so a failed run never leaves a half-written output.
    """
    path = Path(path)
    if path.is_dir():
        raise VizcnnError(f"cannot write {str(path)!r}: it is a folder; give a file name.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    except OSError as exc:
        raise VizcnnError(f"cannot write {str(path)!r}: {exc.strerror or exc}. Give a path in a folder you can write to.") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a file for writing that appears at ``path`` only once complete."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def save_with(path: str | os.PathLike, save: Callable[[Path], None]) -> Path:
    """Call ``save(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        save(tmp)
    return Path(path)


def slug(text: str) -> str:
    """A file-name-safe form of a model or layer name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"
