"""MNIST digits: any folder of IDX files, torchvision's layout, or the bundled sample.

The bundled sample (``vizcnn/data/sample``) holds 500 digits of the official
test set, 50 per class, so every command runs with no data folder at all.
Its digits are named on the command line by position or by class:

* ``mnist:K``: digit number ``K`` (0-499) of the sample, in its shuffled order;
* ``mnist:label=D``: the first digit of class ``D`` (0-9) in the sample;
* ``mnist:label=D#N``: the ``N``-th digit of class ``D``, counting from 0 (0-49).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import VizcnnError, expect
from .idx import read_idx

__all__ = ["Digits", "mnist", "sample", "sample_index", "SAMPLE_DIR"]

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

    def __repr__(self) -> str:
        return f"Digits({len(self)} images of {'x'.join(map(str, self.images.shape[1:]))}, source={self.source!r})"

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


_BY_LABEL = re.compile(r"label=(\d+)(?:#(\d+))?")
_FORMS = "mnist:K (digits 0 to 499: mnist:0 to mnist:499), mnist:label=D for the first digit D, or mnist:label=D#N for the N-th (from 0)"


def sample_index(ref: str) -> int:
    """The position in the bundled sample of ``mnist:K``, ``mnist:label=D`` or ``mnist:label=D#N``.

    Raises:
        VizcnnError: ``ref`` is none of these forms, or names a digit the sample does not have.
    """
    text = str(ref)
    if not text.startswith("mnist:"):
        raise VizcnnError(f"{text!r} is not a bundled digit; use {_FORMS}.")
    body, digits = text[len("mnist:"):], sample()
    by_label = _BY_LABEL.fullmatch(body)
    if by_label:
        label, n = int(by_label[1]), int(by_label[2] or 0)
        positions = np.flatnonzero(digits.labels == label)
        if not 0 <= n < len(positions):
            count = len(positions)
            raise VizcnnError(
                f"{text!r}: the bundled sample has {count} digits of class {label}"
                + (f" (mnist:label={label}#0 to #{count - 1})." if count else "; classes are 0 to 9.")
            )
        return int(positions[n])
    if body.isdigit() and int(body) < len(digits):
        return int(body)
    raise VizcnnError(f"{text!r}: name a bundled digit as {_FORMS}.")
