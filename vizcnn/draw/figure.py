"""Figures: image grids with labels, heat-map overlays, and the Jupyter/PNG mixin.

Compute returns tensors and data objects; drawing lives here and never calls
``plt.show()``. Every result class mixes in :class:`PNGResult`, so the same
object renders in a notebook, saves from the CLI and feeds the HTML reports.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .._io import atomic_path, image_format

__all__ = ["PNGResult", "figure_to_image", "image_grid", "overlay", "to_uint8", "font"]


def font(size: int = 12) -> ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (no system fonts needed)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def to_uint8(x: torch.Tensor | np.ndarray, *, symmetric: bool = False, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Scale an array to uint8 ``(H, W)`` or ``(H, W, 3)``.

    ``(C, H, W)`` tensors are moved to channels-last. Values are scaled from
    ``[vmin, vmax]`` (default: the array's range; ``symmetric`` centres zero
    at grey, as for filter weights).
    """
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if symmetric:
        m = float(np.abs(a).max()) if vmax is None else vmax
        lo, hi = -m, m
    else:
        lo = float(a.min()) if vmin is None else vmin
        hi = float(a.max()) if vmax is None else vmax
    scaled = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a) + 0.5
    return (np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8)


def image_grid(
    tiles: Sequence[Image.Image | np.ndarray],
    labels: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    tile_size: int | None = None,
    pad: int = 4,
    title: str | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Lay ``tiles`` out in a grid, each scaled (nearest neighbour) to ``tile_size`` and labelled below."""
    images = [t if isinstance(t, Image.Image) else Image.fromarray(t) for t in tiles]
    if not images:
        raise ValueError("image_grid needs at least one tile")
    n = len(images)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    size = tile_size or max(max(im.size) for im in images)
    fnt = font(max(10, min(14, size // 5)))
    label_h = (fnt.size + 4) if labels else 0
    title_h = 24 if title else 0
    width = ncols * (size + pad) + pad
    height = title_h + nrows * (size + label_h + pad) + pad
    canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, 4), title, fill=(0, 0, 0), font=font(16))
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        x, y = pad + c * (size + pad), title_h + pad + r * (size + label_h + pad)
        w, h = im.size
        scale = size / max(w, h)
        tile = im.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.NEAREST)
        canvas.paste(tile, (x + (size - tile.size[0]) // 2, y + (size - tile.size[1]) // 2))
        if labels:
            text = str(labels[i])
            tw = draw.textlength(text, font=fnt)
            draw.text((x + max(0, (size - tw) / 2), y + size + 1), text, fill=(0, 0, 0), font=fnt)
    return canvas


def overlay(
    image: Image.Image, heat: np.ndarray | torch.Tensor, *, alpha: float = 0.5, cmap: str = "jet", symmetric: bool = False
) -> Image.Image:
    """Blend a heat map (any size, upsampled bilinearly) over ``image``; ``symmetric`` puts zero mid-colormap."""
    from matplotlib import colormaps

    h = heat.detach().float().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat, dtype=np.float32)
    h = to_uint8(h, symmetric=symmetric)
    h = np.asarray(Image.fromarray(h).resize(image.size, Image.BILINEAR), dtype=np.float32) / 255
    colored = (colormaps[cmap](h)[..., :3] * 255).astype(np.uint8)
    return Image.blend(image.convert("RGB"), Image.fromarray(colored), alpha)


def figure_to_image(fig) -> Image.Image:
    """A matplotlib figure as a PIL image (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


class PNGResult:
    """Mixin for results drawn as one image: Jupyter display and atomic ``save``.

    Subclasses implement :meth:`to_image`.
    """

    def to_image(self) -> Image.Image:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_png(self) -> bytes:
        buf = io.BytesIO()
        self.to_image().save(buf, format="PNG")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the image (format from the suffix, PNG by default) atomically."""
        path = Path(path)
        image = self.to_image()
        with atomic_path(path) as tmp:
            image.save(tmp, format=image_format(path))
        return path
