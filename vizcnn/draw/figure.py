"""Figures: image grids with labels, heat-map overlays, and the Jupyter/PNG mixin.

Compute returns tensors and data objects; drawing lives here and never calls
``plt.show()``. Every result class mixes in :class:`PNGResult`, so the same
object renders in a notebook, saves from the CLI and feeds the HTML reports.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .._io import atomic_path, image_format

__all__ = [
    "DIVERGING",
    "NEGATIVE",
    "POSITIVE",
    "SEQUENTIAL",
    "PNGResult",
    "TextBox",
    "brief",
    "colorbar",
    "colorize",
    "draw_text",
    "figure_to_image",
    "font",
    "image_grid",
    "overlay",
    "recording_text",
    "to_uint8",
    "wrap",
]

#: The one diverging convention of every signed map (attribution, filter weights in colour):
#: zero is white at the centre, blue supports the objective (positive), red opposes it (negative).
DIVERGING = "RdBu"
#: The matching solid colours for bars and text (ColorBrewer RdBu's ends, as matplotlib's ``RdBu`` draws them).
POSITIVE = "#2166ac"
NEGATIVE = "#b2182b"
#: Unsigned maps (activations, where a group is active): perceptually uniform, dark is zero.
SEQUENTIAL = "viridis"

_INK = (0, 0, 0)
_MUTED = (90, 90, 90)


def font(size: int = 12) -> ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (no system fonts needed)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


@dataclass(frozen=True)
class TextBox:
    """One string drawn on a canvas: its pixel box ``(x0, y0, x1, y1)`` and the canvas size ``(w, h)``."""

    text: str
    box: tuple[int, int, int, int]
    canvas: tuple[int, int]
    canvas_id: int

    @property
    def clipped(self) -> bool:
        x0, y0, x1, y1 = self.box
        return x0 < 0 or y0 < 0 or x1 > self.canvas[0] or y1 > self.canvas[1]


_recorders: list[list[TextBox]] = []


@contextmanager
def recording_text() -> Iterator[list[TextBox]]:
    """Collect a :class:`TextBox` for every string :func:`draw_text` draws inside the block (for tests)."""
    boxes: list[TextBox] = []
    _recorders.append(boxes)
    try:
        yield boxes
    finally:
        _recorders.remove(boxes)


def draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, *, font: ImageFont.ImageFont,
              fill: tuple[int, int, int] | str = _INK) -> tuple[int, int, int, int]:  # fmt: skip
    """Draw ``text`` at ``xy`` and return its measured box (recorded while :func:`recording_text` is active)."""
    draw.text(xy, text, fill=fill, font=font)
    box = tuple(round(v) for v in draw.textbbox(xy, text, font=font))
    for boxes in _recorders:
        boxes.append(TextBox(text, box, draw.im.size, id(draw.im)))
    return box


def wrap(text: str, fnt: ImageFont.ImageFont, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` pixels, at spaces (inside a word only when it must)."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if fnt.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            while fnt.getlength(word) > width and len(word) > 1:  # a word wider than the line: split it
                cut = max([1] + [i for i in range(1, len(word)) if fnt.getlength(word[:i]) <= width])
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _line_height(fnt: ImageFont.ImageFont) -> int:
    return int(fnt.getbbox("Hgjy|")[3]) + 3


def _text_block(draw: ImageDraw.ImageDraw, xy: tuple[int, int], lines: Sequence[str], fnt: ImageFont.ImageFont,
                fill=_INK, *, centre_width: int | None = None) -> None:  # fmt: skip
    x, y = xy
    for line in lines:
        dx = max(0, (centre_width - fnt.getlength(line)) / 2) if centre_width else 0
        draw_text(draw, (x + dx, y), line, font=fnt, fill=fill)
        y += _line_height(fnt)


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


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v else "0"


def colorbar(cmap: str, vmin: float, vmax: float, label: str, *, width: int = 240) -> Image.Image:
    """A horizontal colour bar: the gradient, its end (and zero) values, and ``label`` (what and in which units).

    ``cmap`` is a matplotlib colour map name or ``"gray"``; the label wraps to ``width``.
    """
    from matplotlib import colormaps

    if not width >= 60:
        raise ValueError(f"colorbar width must be at least 60 pixels (got {width})")
    fnt = font(11)
    line_h = _line_height(fnt)
    label_lines = wrap(label, fnt, width - 8)
    bar_h, margin = 12, 4
    ticks = [(0.0, _fmt(vmin)), (1.0, _fmt(vmax))]
    if vmin < 0 < vmax:
        ticks.append(((0 - vmin) / (vmax - vmin), "0"))  # last: dropped if too close to an end
    height = margin + bar_h + 3 + line_h + len(label_lines) * line_h + margin
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    inner = width - 2 * margin
    ramp = (colormaps[cmap](np.linspace(0, 1, inner))[:, :3] * 255).astype(np.uint8)
    canvas.paste(Image.fromarray(np.repeat(ramp[None], bar_h, axis=0)), (margin, margin))
    draw.rectangle((margin - 1, margin - 1, margin + inner, margin + bar_h), outline=_MUTED)
    y = margin + bar_h + 3
    taken: list[tuple[float, float]] = []
    for pos, text in ticks:
        x = margin + pos * (inner - 1)
        tw = fnt.getlength(text)
        left = min(max(x - tw / 2, 0), width - tw)
        if any(left < b + 4 and a < left + tw + 4 for a, b in taken):
            continue  # zero too close to an end to label apart
        taken.append((left, left + tw))
        draw.line((x, margin + bar_h, x, y), fill=_MUTED)
        draw_text(draw, (left, y), text, font=fnt, fill=_INK)
    _text_block(draw, (margin, y + line_h), label_lines, fnt, _MUTED)
    return canvas


def image_grid(
    tiles: Sequence[Image.Image | np.ndarray],
    labels: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    tile_size: int | None = None,
    pad: int = 4,
    title: str | None = None,
    legend: Sequence[str] = (),
    footer: Image.Image | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Lay ``tiles`` out in a grid, each scaled (nearest neighbour) to ``tile_size`` and labelled below.

    Every string is measured: the title and the ``legend`` lines (what the
    labels and colours mean) wrap to the canvas width, labels wrap to their
    tile, and the canvas grows to hold them. ``footer`` (a colour bar) goes
    under the grid. ``image.info["tile_boxes"]`` keeps each tile's ``(x0, y0, x1, y1)``.
    """
    images = [t if isinstance(t, Image.Image) else Image.fromarray(t) for t in tiles]
    if not images:
        raise ValueError("image_grid needs at least one tile")
    n = len(images)
    ncols = min(ncols or math.ceil(math.sqrt(n)), n)
    nrows = math.ceil(n / ncols)
    size = tile_size or max(max(im.size) for im in images)
    fnt, title_font, legend_font = font(max(10, min(13, size // 5))), font(16), font(12)
    width = max(ncols * (size + pad) + pad, 320 if title or legend else 0, footer.width + 2 * pad if footer else 0)
    title_lines = wrap(title, title_font, width - 2 * pad) if title else []
    legend_lines = [line for entry in legend for line in wrap(entry, legend_font, width - 2 * pad)]
    label_lines = [wrap(str(t), fnt, size) if t else [] for t in labels] if labels else []
    label_h = max((len(lines) for lines in label_lines), default=0) * _line_height(fnt)
    head_h = len(title_lines) * _line_height(title_font) + len(legend_lines) * _line_height(legend_font)
    head_h += 6 if head_h else 0
    grid_h = nrows * (size + label_h + pad) + pad
    height = head_h + grid_h + (footer.height + pad if footer else 0)
    canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas)
    _text_block(draw, (pad, 4), title_lines, title_font)
    _text_block(draw, (pad, 4 + len(title_lines) * _line_height(title_font)), legend_lines, legend_font, _MUTED)
    boxes = []
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        x, y = pad + c * (size + pad), head_h + pad + r * (size + label_h + pad)
        boxes.append((x, y, x + size, y + size))
        w, h = im.size
        scale = size / max(w, h)
        tile = im.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.NEAREST)
        canvas.paste(tile, (x + (size - tile.size[0]) // 2, y + (size - tile.size[1]) // 2))
        if label_lines:
            _text_block(draw, (x, y + size + 1), label_lines[i], fnt, centre_width=size)
    if footer is not None:
        canvas.paste(footer, (pad, head_h + grid_h))
    canvas.info["tile_boxes"] = boxes
    return canvas


def colorize(heat: np.ndarray | torch.Tensor, *, cmap: str = SEQUENTIAL, symmetric: bool = False,
             vmin: float | None = None, vmax: float | None = None) -> np.ndarray:  # fmt: skip
    """A 2-D map as ``(H, W, 3)`` uint8 colours, scaled like :func:`to_uint8` (so a :func:`colorbar` can match)."""
    from matplotlib import colormaps

    h = to_uint8(heat, symmetric=symmetric, vmin=vmin, vmax=vmax).astype(np.float32) / 255
    return (colormaps[cmap](h)[..., :3] * 255).astype(np.uint8)


def overlay(
    image: Image.Image,
    heat: np.ndarray | torch.Tensor,
    *,
    alpha: float = 0.5,
    cmap: str = SEQUENTIAL,
    symmetric: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Image.Image:
    """Blend a heat map (any size, upsampled bilinearly) over ``image``.

    ``symmetric`` puts zero at the colour map's centre (:data:`DIVERGING` maps);
    ``vmin``/``vmax`` fix the scale (default: the map's own range).
    """
    h = heat.detach().float().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat, dtype=np.float32)
    h = to_uint8(h, symmetric=symmetric, vmin=vmin, vmax=vmax)
    h = np.asarray(Image.fromarray(h).resize(image.size, Image.BILINEAR), dtype=np.float32) / 255
    from matplotlib import colormaps

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


def brief(value: object, width: int = 80) -> str:
    """A short text for any value in a result: tensors and arrays by shape, images by size, long lists cut."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 4:
            return "tensor(" + brief(value.detach().cpu().flatten().tolist()) + ")"
        return f"tensor[{', '.join(map(str, value.shape))}]"
    if isinstance(value, np.ndarray):
        return f"array[{', '.join(map(str, value.shape))}]"
    if isinstance(value, Image.Image):
        return f"<image {value.width}x{value.height} {value.mode}>"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        keep = 8 if all(isinstance(v, int) for v in value) else 3  # a shape or a few indices stay whole
        items = [brief(v, 40) for v in value[:keep]] + ([f"... {len(value)} in all"] if len(value) > keep else [])
        return ("[{}]" if isinstance(value, list) else "({})").format(", ".join(items))
    if isinstance(value, dict):
        items = [f"{k!r}: {brief(v, 40)}" for k, v in list(value.items())[:3]]
        return "{" + ", ".join(items + ([f"... {len(value)} in all"] if len(value) > 3 else [])) + "}"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class PNGResult:
    """Mixin for results drawn as one image: Jupyter display, atomic ``save`` and a short ``repr``.

    Subclasses implement :meth:`to_image`, and may add facts to the ``repr``
    with :meth:`_summary` (their top values, say).
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # @dataclass keeps a __repr__ the class already has instead of listing every tensor element (13 KB)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = PNGResult.__repr__

    def __repr__(self) -> str:
        """``Name(field=value, ...)`` with every value :func:`brief`, then :meth:`_summary`: a line or two."""
        if dataclasses.is_dataclass(self):
            names = [f.name for f in dataclasses.fields(self) if f.repr]
        else:
            names = [k for k in vars(self) if not k.startswith("_")]
        parts = [f"{name}={brief(getattr(self, name))}" for name in names]
        parts += [f"{name}={brief(value)}" for name, value in self._summary().items()]
        return f"{type(self).__name__}({', '.join(parts)})"

    def _summary(self) -> dict[str, object]:
        """Derived facts worth a glance in the ``repr`` (none by default)."""
        return {}

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
