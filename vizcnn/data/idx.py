"""The IDX format of the original MNIST files, gzipped or not.

Header: two zero bytes, a type byte (0x08 = unsigned byte, ...), the number
of dimensions, then each dimension as a big-endian uint32; then the data.
MNIST image files therefore start with magic 2051 (0x00000803), label files
with 2049 (0x00000801).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from .._io import atomic_write
from ..errors import VizcnnError

__all__ = ["read_idx", "write_idx"]

_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` is decompressed) into a native-endian array."""
    path = Path(path)
    try:
        with _open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise VizcnnError(f"IDX file {str(path)!r} does not exist.") from None
    except (OSError, EOFError) as exc:
        raise VizcnnError(f"cannot read IDX file {str(path)!r}: {exc}. Is it a complete (gzipped) IDX file?") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        magic = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
        raise VizcnnError(
            f"{str(path)!r} is not an IDX file: wrong magic number {magic} "
            "(MNIST images start with 2051, labels with 2049)."
        )
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise VizcnnError(f"IDX file {str(path)!r} is truncated: its header needs {header} bytes, it has {len(raw)}.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise VizcnnError(
            f"IDX file {str(path)!r} is truncated or padded: shape {list(shape)} needs {expected} data bytes, "
            f"the file has {len(raw) - header}."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


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
