"""Reading images given on the command line: files, folders, and bundled digits (``mnist:K``, ``mnist:label=D``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import VizcnnError

__all__ = ["load_image", "iter_image_files", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_image(spec: str | os.PathLike) -> Image.Image:
    """Open ``spec`` as an RGB or greyscale PIL image.

    ``mnist:K`` is digit ``K`` of the bundled sample (0-499), ``mnist:label=D``
    its first digit of class ``D`` (see :mod:`vizcnn.data.mnist`). RGBA, palette
    and 16-bit images are converted; the model's preprocessing does the rest.
    """
    text = str(spec)
    if text.startswith("mnist:"):
        from .mnist import sample, sample_index

        return Image.fromarray(sample().images[sample_index(text)], mode="L")
    path = Path(text)
    if not path.is_file():
        raise VizcnnError(f"image {text!r} does not exist. Give a JPEG/PNG file, or mnist:label=D for a bundled digit of class D.")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("L", "RGB"):
                return im.copy()
            if im.mode in ("RGBA", "LA", "P", "PA"):
                rgba = im.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(background, rgba).convert("RGB")
            if im.mode.startswith("I"):
                return im.point(lambda v: v / 256).convert("L")
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise VizcnnError(f"cannot read {text!r} as an image ({exc}). Give a JPEG or PNG file.") from None


def iter_image_files(folder: str | os.PathLike) -> Iterator[Path]:
    """Image files under ``folder`` (recursively), in sorted order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VizcnnError(f"{str(folder)!r} is not a folder of images.")
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            yield p
