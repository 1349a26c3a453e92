"""Data: IDX files, MNIST digits (with a bundled sample) and images."""

from .idx import read_idx, write_idx
from .images import IMAGE_SUFFIXES, iter_image_files, load_image
from .mnist import Digits, mnist, sample, sample_index

__all__ = ["Digits", "IMAGE_SUFFIXES", "iter_image_files", "load_image", "mnist", "read_idx", "sample", "sample_index", "write_idx"]
