"""IDX files: round trips (gzipped and raw, every dtype) and clear errors for malformed files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from vizcnn.data import mnist, read_idx, write_idx
from vizcnn.errors import VizcnnError


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info:
        a = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    else:
        a = rng.normal(size=(3, 4, 5)).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3-ubyte{suffix}", a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == (3, 4, 5)
    np.testing.assert_array_equal(a, b)


def test_gz_is_really_gzipped_and_raw_is_not(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    raw = write_idx(tmp_path / "x-idx2-ubyte", a).read_bytes()
    gz = write_idx(tmp_path / "x-idx2-ubyte.gz", a).read_bytes()
    # magic 0x00000802: unsigned bytes, 2 dimensions; then 3 and 4 big-endian
    assert raw[:12] == bytes([0, 0, 8, 2]) + struct.pack(">II", 3, 4)
    assert raw[12:] == bytes(range(12))
    assert gz[:2] == b"\x1f\x8b" and gzip.decompress(gz) == raw


def test_one_dimensional_labels(tmp_path):
    labels = np.array([7, 2, 1, 0], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l-idx1-ubyte", labels)), labels)


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(VizcnnError, match="not an IDX file: wrong magic number"):
        read_idx(path)


def test_unknown_type_byte(tmp_path):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x42, 1]) + struct.pack(">I", 2) + b"ab")
    with pytest.raises(VizcnnError, match="wrong magic"):
        read_idx(path)


def test_truncated_data(tmp_path):
    path = write_idx(tmp_path / "t-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(VizcnnError, match=r"truncated .*needs 3136 data bytes, the file has 3036"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "t-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">I", 4))
    with pytest.raises(VizcnnError, match="header needs 16 bytes, it has 8"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "t-idx3-ubyte.gz", np.arange(4 * 28 * 28, dtype=np.float32).reshape(4, 28, 28))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(VizcnnError, match="cannot read IDX file"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(VizcnnError, match="does not exist"):
        read_idx(tmp_path / "nope-idx3-ubyte.gz")


def test_images_and_labels_that_do_not_fit(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(VizcnnError, match=r"do not fit together: images \[5, 28, 28\], labels \[4\]"):
        mnist(tmp_path)


def test_mnist_folder_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9], np.uint8)
    raw = tmp_path / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    digits = mnist(tmp_path, "train")
    np.testing.assert_array_equal(digits.images, images)
    assert digits.labels.tolist() == [3, 1, 4, 1, 5, 9]
    x, y = digits.tensors()
    assert x.shape == (6, 1, 28, 28) and float(x.max()) <= 1.0 and y.tolist() == [3, 1, 4, 1, 5, 9]
    with pytest.raises(VizcnnError, match="no MNIST test files"):
        mnist(tmp_path, "test")


def test_dtype_idx_cannot_hold(tmp_path):
    with pytest.raises(VizcnnError, match="IDX cannot hold dtype int64"):
        write_idx(tmp_path / "x-idx1-ubyte", np.arange(3, dtype=np.int64))
    assert not list(tmp_path.iterdir())
