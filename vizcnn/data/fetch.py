"""Fetching the official MNIST files, with torchvision's list of mirrors and MD5 checksums.

The addresses and checksums are ``torchvision.datasets.MNIST.mirrors`` and
``.resources``; the files are fetched by :func:`vizcnn.download.download`
under the same rules as weights: a progress bar, checked before they land,
never half-written, ``VIZCNN_OFFLINE=1`` respected. ``VIZCNN_DATA_MIRROR``
replaces torchvision's mirrors with one of your own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .. import download as dl
from ..errors import VizcnnError

__all__ = ["DEFAULT_MNIST_DIR", "fetch_mnist", "mnist_resources"]

#: Where ``vizcnn data mnist`` puts the files when no folder is given.
DEFAULT_MNIST_DIR = Path("vizcnn-data") / "mnist"


def mnist_resources() -> tuple[list[str], list[tuple[str, str]]]:
    """torchvision's MNIST mirrors (folder URLs) and ``(file name, md5)`` pairs."""
    from torchvision.datasets import MNIST

    return list(MNIST.mirrors), [(name, md5) for name, md5 in MNIST.resources]


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def fetch_mnist(folder: str | os.PathLike = DEFAULT_MNIST_DIR, *, progress: bool = True) -> list[Path]:
    """Download the four MNIST ``.gz`` files into ``folder`` (skipping ones already there and intact).

    Returns the four paths. ``folder`` then works as ``--data`` / :func:`vizcnn.data.mnist`.

    Raises:
        VizcnnError: offline, every mirror failed, or a file of the same name
            that is not the official one is in the way (it is left alone).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise VizcnnError(f"{str(folder)!r} is a file, not a folder: give a folder for the MNIST files.")
    mirrors, resources = mnist_resources()
    paths = []
    for name, md5 in resources:
        target = folder / name
        paths.append(target)
        if target.is_file():
            if _md5(target) == md5:
                continue
            raise VizcnnError(
                f"{str(target)!r} exists but is not the official {name} (its MD5 is not {md5}). vizcnn does not "
                "overwrite your files: move it away or choose another folder, then run the command again."
            )
        if dl.offline():
            raise VizcnnError(
                f"VIZCNN_OFFLINE is set, so {name} was not downloaded. On a machine with internet, fetch "
                f"{mirrors[0]}{name} (and the other three MNIST files) and copy them to {str(folder)!r}."
            )
        errors = []
        for url in dict.fromkeys(dl.mirrored(m + name, "data") for m in mirrors):  # one URL with a mirror set
            try:
                dl.download(url, target, md5=md5, progress=progress)
                break
            except dl.DownloadError as exc:
                errors.append(str(exc))
        else:
            raise dl.DownloadError(" / ".join(errors) if len(errors) == 1 else
                                   f"every mirror failed for {name}: " + " / ".join(errors))  # fmt: skip
    return paths
