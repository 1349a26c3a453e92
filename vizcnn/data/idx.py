"""The IDX format of the original MNIST files, gzipped or not.

Header: two zero bytes, a type byte (0x08 = unsigned byte, ...), the number
of dimensions, then each dimension as a big-endian uint32; then the data.
MNIST image files therefore start with magic 2051 (0x00000803), label files
with 2049 (0x00000801).
"""

from __future__ import annotations

import gzip
import os
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .._io import atomic_write
from ..errors import VizcnnError
from ..limits import check_memory

__all__ = ["read_idx", "write_idx"]

_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` is decompressed) into a native-endian array.

    The header is read first and the data size it promises checked against
    free memory, so neither a header claiming 2**96 bytes nor a gzip bomb is
    read into memory.
    """
    path = Path(path)
    if path.is_dir():
        raise VizcnnError(f"{str(path)!r} is a folder, not an IDX file.")
    try:
        with _open(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _DTYPES:
                magic = struct.unpack(">I", head)[0] if len(head) == 4 else None
                raise VizcnnError(
                    f"{str(path)!r} is not an IDX file: wrong magic number {magic} "
                    "(MNIST images start with 2051, labels with 2049)."
                )
            dtype, ndim = _DTYPES[head[2]], head[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise VizcnnError(f"IDX file {str(path)!r} is truncated: its header needs {4 + 4 * ndim} bytes, it has {4 + len(dims)}.")
            shape = struct.unpack(f">{ndim}I", dims)
            expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
            check_memory(expected, f"IDX file {str(path)!r} (shape {list(shape)})", "is its header damaged?")
            raw = f.read(expected + 1)
    except FileNotFoundError:
        raise VizcnnError(f"IDX file {str(path)!r} does not exist.") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise VizcnnError(f"cannot read IDX file {str(path)!r}: {exc}. Is it a complete (gzipped) IDX file?") from None
    if len(raw) != expected:
        raise VizcnnError(
            f"IDX file {str(path)!r} is truncated or padded: shape {list(shape)} needs {expected} data bytes, "
            f"the file has {'more' if len(raw) > expected else len(raw)}."
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as IDX (gzipped when ``path`` ends in ``.gz``), atomically."""
    path = Path(path)
    array = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in _DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise VizcnnError(f"IDX cannot hold dtype {array.dtype}; use one of {sorted(str(d) for d in codes)}.")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(_DTYPES[code]).tobytes()
    with atomic_write(path, "wb") as f:
        f.write(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path
