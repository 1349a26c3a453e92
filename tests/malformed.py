"""A corpus of malformed inputs, written by the tests into a temporary folder.

Decompression bombs (a PNG header claiming 100000x100000 pixels), corrupt gzip
streams, IDX files with bad headers, labels or shapes, non-UTF-8 text, empty
and junk weights files. Every file is built here from its format's spec, so
no test depends on a binary fixture.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` greyscale pixels, with a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def idx(shape: tuple[int, ...], data: bytes = b"", code: int = 0x08) -> bytes:
    """IDX bytes: two zero bytes, the type code, the number of dimensions, each dimension (big-endian uint32), data."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


def mnist_folder(folder: Path, images: bytes, labels: bytes, *, gz: bool = True) -> Path:
    """``folder`` with t10k images and labels files holding these bytes (gzipped when ``gz``)."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    (folder / f"t10k-images-idx3-ubyte{suffix}").write_bytes(gzip.compress(images, mtime=0) if gz else images)
    (folder / f"t10k-labels-idx1-ubyte{suffix}").write_bytes(gzip.compress(labels, mtime=0) if gz else labels)
    return folder


GOOD_X = idx((3, 28, 28), bytes(3 * 784))
GOOD_Y = idx((3,), bytes([1, 2, 3]))

#: MNIST folders that break one rule each, with a phrase the error must contain.
BAD_MNIST = {
    "corrupt-gzip": "complete (gzipped) IDX",
    "overflow": "shape [4294967295, 4294967295, 4294967295]",
    "labels-out-of-range": "must be digits 0 to 9; found 200",
    "not-28x28": "N digits of 28x28 pixels",
    "zero-digits": "hold no digits",
    "float-pixels": "not unsigned bytes",
    "truncated": "truncated",
}


def build(root: Path) -> Path:
    """Write the whole corpus under ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (root / "empty.pth").write_bytes(b"")
    (root / "junk.pth").write_bytes(bytes(range(7, 107)))
    (root / "text.pth").write_text("not weights\n")
    (root / "latin1.txt").write_bytes("caf\xe9\nth\xe9\n".encode("latin-1"))
    (root / "a-file").write_text("x")
    (root / "truncated.pt").write_bytes(b"PK\x03\x04" + bytes(20))
    images = root / "images"
    images.mkdir(exist_ok=True)
    (images / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (images / "truncated.png").write_bytes(png_header(20, 20)[:30])
    Image.fromarray(np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))).save(images / "ok.png")
    f = mnist_folder(root / "corrupt-gzip", GOOD_X, GOOD_Y)
    (f / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(GOOD_X, mtime=0)[:40] + b"garbage" * 20)
    mnist_folder(root / "overflow", idx((0xFFFFFFFF,) * 3), GOOD_Y, gz=False)
    mnist_folder(root / "labels-out-of-range", GOOD_X, idx((3,), bytes([1, 200, 3])))
    mnist_folder(root / "not-28x28", idx((3, 5, 5), bytes(75)), GOOD_Y)
    mnist_folder(root / "zero-digits", idx((0, 28, 28)), idx((0,)))
    mnist_folder(root / "float-pixels", idx((3, 28, 28), bytes(4 * 3 * 784), code=0x0D), GOOD_Y)
    mnist_folder(root / "truncated", GOOD_X[:-100], GOOD_Y)
    return root
