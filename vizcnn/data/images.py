"""Reading images given on the command line: files, folders, bundled digits (``mnist:K``, ``mnist:label=D``) and photos (``photo:NAME``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import VizcnnError, expect

__all__ = ["IMAGE_SUFFIXES", "PHOTOS", "iter_image_files", "load_image", "photo_path"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

#: Bundled photos (``photo:NAME``) -> what they show; sources and licences in vizcnn/data/photos/SOURCES.txt.
PHOTOS = {
    "cat": "a tabby cat, scikit-image's 'Chelsea' (CC0)",
    "espresso": "a cup of espresso, scikit-image's 'coffee' (CC0)",
}


def photo_path(name: str) -> Path:
    """The file of bundled photo ``name`` (``cat``, ``espresso``)."""
    if name not in PHOTOS:
        from ..errors import unknown_name

        raise unknown_name("photo", f"photo:{name}", [f"photo:{p}" for p in PHOTOS])
    return Path(str(resources.files("vizcnn.data") / "photos" / f"{name}.jpg"))


def load_image(spec: str | os.PathLike) -> Image.Image:
    """Open ``spec`` as an RGB or greyscale PIL image.

    ``mnist:K`` is digit ``K`` of the bundled sample (0-499), ``mnist:label=D``
    its first digit of class ``D`` (see :mod:`vizcnn.data.mnist`); ``photo:cat``
    and ``photo:espresso`` are the bundled photos (:data:`PHOTOS`). RGBA, palette
    and 16-bit images are converted; the model's preprocessing does the rest.
    """
    expect(spec, (str, os.PathLike), "image", "an image file path or 'mnist:K'")
    text = str(spec)
    if text.startswith("mnist:"):
        from .mnist import sample, sample_index

        return Image.fromarray(sample().images[sample_index(text)], mode="L")
    path = photo_path(text.split(":", 1)[1]) if text.startswith("photo:") else Path(text)
    if path.is_dir():
        raise VizcnnError(f"image {text!r} is a folder; give one JPEG/PNG file in it, or mnist:label=D for a bundled digit.")
    if not path.is_file():
        raise VizcnnError(f"image {text!r} does not exist. Give a JPEG/PNG file, mnist:label=D for a bundled digit of class D, or photo:cat / photo:espresso for a bundled photo.")
    try:
        with Image.open(path) as im:
            if im.width * im.height > Image.MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError
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
    except Image.DecompressionBombError:
        raise VizcnnError(
            f"{text!r} claims more than {Image.MAX_IMAGE_PIXELS} pixels, the limit for one image (PIL's guard "
            "against decompression bombs); give a smaller image."
        ) from None
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
