"""MNIST digits: any folder of IDX files, torchvision's layout, or the bundled sample.

The bundled sample (``vizcnn/data/sample``) holds 500 digits of the official
test set, 50 per class, so every command runs with no data folder at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import VizcnnError, expect
from .idx import read_idx

__all__ = ["Digits", "mnist", "sample", "SAMPLE_DIR"]

SAMPLE_DIR = Path(str(resources.files("vizcnn.data") / "sample"))

_PREFIXES = {"test": ("t10k",), "train": ("train", "train-10k")}


@dataclass
class Digits:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, 1, 28, 28)`` floats in [0, 1] and ``(N,)`` labels."""
        return torch.from_numpy(self.images).float().div_(255).unsqueeze(1), torch.from_numpy(self.labels)


def _find(folder: Path, split: str, kind: str) -> Path | None:
    for prefix in _PREFIXES[split]:
        for suffix in ("", ".gz"):
            p = folder / f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte{suffix}"
            if p.is_file():
                return p
    return None


def mnist(root: str | os.PathLike | None = None, split: str = "test") -> Digits:
    """Load MNIST digits from ``root``.

    ``root`` may hold the standard file names (``t10k-images-idx3-ubyte[.gz]``,
    ``train-images-idx3-ubyte[.gz]``, or this project's ``train-10k-...``), or
    be torchvision's ``root`` with ``MNIST/raw/`` inside. ``None`` or
    ``"sample"`` gives the bundled 500-digit sample.
    """
    if root is not None:
        expect(root, (str, os.PathLike), "root", "'sample' or an MNIST folder path")
    if split not in _PREFIXES:
        raise VizcnnError(f"unknown MNIST split {split!r}; use 'test' or 'train'.")
    if root is None or str(root) == "sample":
        return sample()
    root = Path(root)
    for folder in (root, root / "raw", root / "MNIST" / "raw"):
        images, labels = _find(folder, split, "images"), _find(folder, split, "labels")
        if images and labels:
            return _checked(read_idx(images), read_idx(labels), str(folder))
    raise VizcnnError(
        f"no MNIST {split} files in {str(root)!r}: expected {_PREFIXES[split][0]}-images-idx3-ubyte[.gz] and "
        f"{_PREFIXES[split][0]}-labels-idx1-ubyte[.gz] there, or torchvision's MNIST/raw/ layout."
    )


def _checked(x: np.ndarray, y: np.ndarray, source: str) -> Digits:
    """MNIST's contract: N > 0 digits of 28x28 unsigned bytes, N labels from 0 to 9."""
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.shape[1:] != (28, 28):
        raise VizcnnError(
            f"MNIST files in {source!r} do not fit together: images {list(x.shape)}, labels {list(y.shape)} "
            "(expected (N, 28, 28) and (N,): N digits of 28x28 pixels and one label each)."
        )
    if len(y) == 0:
        raise VizcnnError(f"the MNIST files in {source!r} hold no digits; give a folder with at least one.")
    if x.dtype != np.uint8:
        raise VizcnnError(f"the MNIST images in {source!r} are {x.dtype}, not unsigned bytes (IDX type 0x08) as MNIST's are.")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
        bad = y[(y < 0) | (y > 9)] if np.issubdtype(y.dtype, np.integer) else y[:1]
        raise VizcnnError(f"the MNIST labels in {source!r} must be digits 0 to 9; found {bad[0].item()!r}.")
    return Digits(x, y.astype(np.int64), source)


def sample() -> Digits:
    """The bundled sample: 500 test digits, 50 of each class."""
    x = read_idx(SAMPLE_DIR / "sample-images-idx3-ubyte.gz")
    y = read_idx(SAMPLE_DIR / "sample-labels-idx1-ubyte.gz")
    return Digits(x, y.astype(np.int64), "bundled sample")
