"""The building blocks step by step: convolution, pooling, channels, padding and stride.

Each demo computes its result window by window with plain tensor code (slice
the window, multiply, sum or take the max), so every step can be printed and
drawn; the tests check the results against ``torch.nn.functional.conv2d``,
``max_pool2d`` and ``avg_pool2d``. Results draw themselves (the finished
picture), and write an animated GIF or PNG frames of the sliding window.

    >>> demo = conv_demo()                      # the lecture's 5x5 image and 3x3 kernel
    >>> demo.output.tolist()
    [[12.0, 12.0, 17.0], [10.0, 17.0, 19.0], [9.0, 6.0, 14.0]]
    >>> print(demo.steps[0].equation())
    out[0,0] = 3*0 + 3*1 + 2*2 + 0*2 + 0*2 + 1*0 + 3*0 + 1*1 + 2*2 = 12
    >>> pool_demo(mode="max").output.tolist()
    [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0], [3.0, 2.0, 3.0]]
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .._io import atomic_path
from ..arithmetic import output_size
from ..errors import expect_int, VizcnnError
from ..limits import SLIDE_CELLS, check_seed
from ..draw.figure import draw_text, font, PNGResult

__all__ = [
    "LECTURE_IMAGE", "LECTURE_KERNEL", "ConvDemo", "PaddingDemo", "PoolDemo", "PoolMode", "Step",
    "conv_demo", "multichannel_demo", "padding_demo", "parse_matrix", "pool_demo",
]  # fmt: skip

#: The lecture's 5x5 input and 3x3 kernel (cross-correlation, stride 1, no padding -> 3x3 output).
LECTURE_IMAGE = ((3, 3, 2, 1, 0), (0, 0, 1, 3, 1), (3, 1, 2, 2, 3), (2, 0, 0, 2, 2), (2, 0, 0, 0, 1))
LECTURE_KERNEL = ((0, 1, 2), (2, 2, 0), (0, 1, 2))

PoolMode = Literal["max", "avg"]


def parse_matrix(text: str, what: str = "matrix") -> torch.Tensor:
    """``"3,3,2;0,0,1"`` (rows separated by ``;``, values by ``,``) -> ``(H, W)`` float64 tensor.

    Raises:
        VizcnnError: a value is not a number, or the rows differ in length.
    """
    rows = [r for r in text.strip().strip(";").split(";")]
    try:
        values = [[float(v) for v in r.split(",")] for r in rows]
    except ValueError:
        raise VizcnnError(
            f"cannot read the {what} {text!r}: write numbers with rows separated by ';' and values by ',', "
            "e.g. '0,1,2;2,2,0;0,1,2'."
        ) from None
    widths = {len(r) for r in values}
    if len(widths) != 1:
        raise VizcnnError(f"the {what} {text!r} has rows of different lengths {sorted(widths)}; every row needs as many values.")
    return torch.tensor(values, dtype=torch.float64)


def _num(v: float) -> int | float:
    """A whole number as int (``12``, not ``12.0``) for JSON and text."""
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else round(v, 6)


def _fmt(v: float) -> str:
    n = _num(v)
    return str(n) if isinstance(n, int) else f"{n:.3g}"


def _nested(t: torch.Tensor) -> list:
    return [_nested(r) for r in t] if t.ndim else _num(t)


#: Largest absolute value a demo matrix or bias may hold: what a slide can print (and no product overflows).
MAX_VALUE = 1e6
#: At most this many panels in the padding demo (combinations of padding and stride).
MAX_PANELS = 12


def _check_geometry(h: int, w: int, kh: int, kw: int, stride: int, padding: int) -> tuple[int, int]:
    out = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    _check_slide(max(h, w), padding)
    return out


def _check_slide(size: int, padding: int) -> None:
    """Refuse a padded input with more than :data:`~vizcnn.limits.SLIDE_CELLS` cells per side: no slide shows it."""
    if size + 2 * padding > SLIDE_CELLS:
        raise VizcnnError(
            f"a {size}x{size} input with padding {padding} is {size + 2 * padding} cells wide; the demos draw every "
            f"cell, so they are limited to {SLIDE_CELLS} cells per side (input plus padding on both sides)."
        )


def _check_value(value: float, what: str) -> float:
    if not math.isfinite(value) or abs(value) > MAX_VALUE:
        raise VizcnnError(f"the {what} {value!r} is not a number a slide can show; use finite values up to {MAX_VALUE:g} in size.")
    return float(value)


@dataclass
class Step:
    """One position of the sliding window.

    Attributes:
        row, col: the output cell it fills.
        top, left: the window's corner in the padded input.
        window: ``(C, k, k)`` the input values under the window.
        products: ``(C, k, k)`` window * kernel (convolution), ``None`` for pooling.
        value: the output value.
        text: how the value was computed, as the lecture writes it.
    """

    row: int
    col: int
    top: int
    left: int
    window: torch.Tensor
    products: torch.Tensor | None
    value: float
    text: str

    def equation(self) -> str:
        return f"out[{self.row},{self.col}] = {self.text} = {_fmt(self.value)}"

    def as_dict(self) -> dict:
        d = {"row": self.row, "col": self.col, "window": _nested(self.window.squeeze(0))}
        if self.products is not None:
            d["products"] = _nested(self.products.squeeze(0))
        d["value"] = _num(self.value)
        return d


# -- drawing ---------------------------------------------------------------
CELL = 34
# the window (orange) and the cell it fills (teal): not red and blue, which mean supports/opposes in attribution
_GREY, _PAD, _WINDOW, _CELL, _INK = (150, 150, 150), (228, 228, 228), (230, 120, 0), (0, 140, 120), (20, 20, 20)


def _grid_size(t: torch.Tensor) -> tuple[int, int]:
    return t.shape[-1] * CELL, t.shape[-2] * CELL


def _draw_grid(
    draw: ImageDraw.ImageDraw,
    x: int,
    y: int,
    values: torch.Tensor,
    *,
    title: str = "",
    pad: int = 0,
    box: tuple[int, int, int, int] | None = None,
    box_color: tuple[int, int, int] = _WINDOW,
    shown: int | None = None,
) -> None:
    """Numbers in cells; ``pad`` rim cells greyed, ``box`` = (top, left, h, w) outlined, first ``shown`` cells filled."""
    fnt = font(13)
    h, w = values.shape
    if title:
        draw_text(draw, (x, y - 18), title, font=font(13), fill=_INK)
    for i in range(h):
        for j in range(w):
            x0, y0 = x + j * CELL, y + i * CELL
            is_pad = pad and (i < pad or j < pad or i >= h - pad or j >= w - pad)
            draw.rectangle([x0, y0, x0 + CELL, y0 + CELL], fill=_PAD if is_pad else (255, 255, 255), outline=_GREY)
            if shown is not None and i * w + j >= shown:
                continue
            v = float(values[i, j])
            text = "" if v == float("-inf") else _fmt(v)
            tw = draw.textlength(text, font=fnt)
            draw_text(draw, (x0 + (CELL - tw) / 2, y0 + (CELL - 14) / 2), text, font=fnt, fill=_GREY if is_pad else _INK)
    if box is not None:
        t, l, bh, bw = box
        draw.rectangle([x + l * CELL, y + t * CELL, x + (l + bw) * CELL, y + (t + bh) * CELL], outline=box_color, width=3)


@dataclass
class _SlidingWindow(PNGResult):
    """What conv and pool demos share: padded input, window steps, output, frames."""

    image: torch.Tensor
    padded: torch.Tensor
    kernel_size: tuple[int, int]
    stride: int
    padding: int
    output: torch.Tensor
    steps: list[Step] = field(repr=False)

    def explain(self) -> str:
        """Every step as an equation, then the output."""
        lines = [self._heading()]
        lines += [s.equation() for s in self.steps]
        lines.append(f"output {self.output.shape[-2]}x{self.output.shape[-1]}:")
        width = max(len(_fmt(v)) for v in self.output.flatten().tolist())
        lines += ["  " + " ".join(f"{_fmt(v):>{width}}" for v in row) for row in self.output.tolist()]
        return "\n".join(lines)

    def frames(self) -> list[Image.Image]:
        """One picture per window position, then the finished result."""
        return [self.frame(i) for i in range(len(self.steps))] + [self.frame(None)]

    def to_image(self) -> Image.Image:
        return self.frame(None)

    def save_gif(self, path: str | os.PathLike, *, duration_ms: int = 800) -> Path:
        """The sliding window as an animated GIF (written atomically); the last frame lingers."""
        path = Path(path)
        frames = [f.convert("P", palette=Image.ADAPTIVE) for f in self.frames()]
        durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 4]
        with atomic_path(path) as tmp:
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
        return path

    def save_frames(self, folder: str | os.PathLike) -> list[Path]:
        """``frame-000.png``, ``frame-001.png``, ... in ``folder`` (created), one per window position plus the result."""
        return _save_frames(self.frames(), folder)

    # subclasses
    def _heading(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def frame(self, index: int | None) -> Image.Image:  # pragma: no cover - abstract
        raise NotImplementedError

    def _layout(self, panels: list[tuple[str, torch.Tensor, dict]], caption: str) -> Image.Image:
        """Draw panels of grids side by side, each ``(title, (C, h, w) values, grid kwargs)``; channels stack down."""
        gap, top, margin = 28, 34, 14
        widths = [_grid_size(v)[0] for _, v, _ in panels]
        heights = [v.shape[0] * (_grid_size(v)[1] + gap) for _, v, _ in panels]
        width = max(margin * 2 + sum(widths) + gap * (len(panels) - 1), 480)
        height = top + max(heights) + 48
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        x = margin
        for (title, values, kwargs), w in zip(panels, widths):
            for c in range(values.shape[0]):
                label = title if values.shape[0] == 1 else f"{title} [ch {c}]"
                y = top + c * (_grid_size(values)[1] + gap)
                _draw_grid(draw, x, y, values[c], title=label, **kwargs)
            x += w + gap
        draw_text(draw, (margin, height - 36), caption, font=font(14), fill=_INK)
        return canvas


def _caption(step: Step, summary: str, limit: int = 100) -> str:
    """The step's equation, or ``out[i,j] = summary = value`` when that would not fit under the picture."""
    text = step.equation()
    return text if len(text) <= limit else f"out[{step.row},{step.col}] = {summary} = {_fmt(step.value)}"


def _save_frames(frames: Sequence[Image.Image], folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise VizcnnError(f"--frames {str(folder)!r} is a file; give a folder to write frame-000.png, ... into.")
    paths = []
    for i, im in enumerate(frames):
        p = folder / f"frame-{i:03d}.png"
        with atomic_path(p) as tmp:
            im.save(tmp, format="PNG")
        paths.append(p)
    return paths


@dataclass(kw_only=True)
class ConvDemo(_SlidingWindow):
    """A convolution (cross-correlation, as in CNNs) computed window by window.

    Attributes:
        image: ``(C, H, W)`` input.
        kernel: ``(C, k, k)``; the products over all channels sum to one map.
        bias: added to every output value.
        output: ``(H_out, W_out)``.
    """

    kernel: torch.Tensor
    bias: float = 0.0

    def _heading(self) -> str:
        c, h, w = self.image.shape
        k = self.kernel.shape[-1]
        shape = f"{h}x{w}" if c == 1 else f"{h}x{w}x{c}"
        return (
            f"convolution of a {shape} input with a {k}x{k}{'' if c == 1 else f'x{c}'} kernel, stride {self.stride}, "
            f"padding {self.padding}{f', bias {_fmt(self.bias)}' if self.bias else ''}: "
            f"output floor(({h} + 2*{self.padding} - {k}) / {self.stride}) + 1 = {self.output.shape[-2]}"
        )

    def as_dict(self) -> dict:
        return {
            "kind": "conv",
            "image": _nested(self.image.squeeze(0)),
            "kernel": _nested(self.kernel.squeeze(0)),
            "bias": _num(self.bias),
            "stride": self.stride,
            "padding": self.padding,
            "output": _nested(self.output),
            "steps": [s.as_dict() for s in self.steps],
        }

    def frame(self, index: int | None) -> Image.Image:
        kh, kw = self.kernel_size
        shown = len(self.steps) if index is None else index + 1
        if index is None:
            box, out_box, caption = None, None, f"output {self.output.shape[0]}x{self.output.shape[1]}"
            panels = []
        else:
            s = self.steps[index]
            box, out_box = (s.top, s.left, kh, kw), (s.row, s.col, 1, 1)
            caption = _caption(s, "sum(window * kernel)" + (f" + {_fmt(self.bias)}" if self.bias else ""))
            panels = [("products", s.products, {})]
        grids = [
            ("input" + (", zero padded" if self.padding else ""), self.padded, {"pad": self.padding, "box": box}),
            ("kernel", self.kernel, {}),
            *panels,
            ("output", self.output[None], {"shown": shown, "box": out_box, "box_color": _CELL}),
        ]
        return self._layout(grids, caption)


@dataclass(kw_only=True)
class PoolDemo(_SlidingWindow):
    """Max or average pooling computed window by window; ``output`` is ``(H_out, W_out)``."""

    mode: PoolMode = "max"

    def _heading(self) -> str:
        _, h, w = self.image.shape
        k = self.kernel_size[0]
        return (
            f"{self.mode} pooling of a {h}x{w} input, window {k}x{k}, stride {self.stride}, padding {self.padding}: "
            f"output floor(({h} + 2*{self.padding} - {k}) / {self.stride}) + 1 = {self.output.shape[-2]}"
        )

    def as_dict(self) -> dict:
        return {
            "kind": "pool",
            "mode": self.mode,
            "image": _nested(self.image.squeeze(0)),
            "size": self.kernel_size[0],
            "stride": self.stride,
            "padding": self.padding,
            "output": _nested(self.output),
            "steps": [s.as_dict() for s in self.steps],
        }

    def frame(self, index: int | None) -> Image.Image:
        kh, kw = self.kernel_size
        shown = len(self.steps) if index is None else index + 1
        if index is None:
            box = out_box = None
            caption = f"{self.mode} pooling: output {self.output.shape[0]}x{self.output.shape[1]}"
        else:
            s = self.steps[index]
            box, out_box = (s.top, s.left, kh, kw), (s.row, s.col, 1, 1)
            caption = _caption(s, "max(window)" if self.mode == "max" else "mean(window)")
        return self._layout(
            [
                ("input" + (" (padded)" if self.padding else ""), self.padded, {"pad": self.padding, "box": box}),
                (f"{self.mode} pool output", self.output[None], {"shown": shown, "box": out_box, "box_color": _CELL}),
            ],
            caption,
        )


def _as_image(image, what: str = "image") -> torch.Tensor:
    if isinstance(image, str):
        raise TypeError(f"the {what} is a matrix (nested lists or a tensor); parse text such as '1,2;3,4' with parse_matrix.")
    try:
        t = image if isinstance(image, torch.Tensor) else torch.tensor(image, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise VizcnnError(f"the {what} must be a matrix of numbers with rows of equal length, e.g. [[1, 2], [3, 4]].") from None
    t = t.to(torch.float64)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.numel() == 0:
        raise VizcnnError(f"the {what} must be a matrix (H, W) or channels of matrices (C, H, W); got shape {list(t.shape)}.")
    if t.shape[0] > 4:
        raise VizcnnError(f"the {what} has {t.shape[0]} channels; the demos draw at most 4.")
    _check_slide(max(t.shape[1:]), 0)
    if not bool(torch.isfinite(t).all()) or float(t.abs().max()) > MAX_VALUE:
        raise VizcnnError(f"the {what} holds NaN, infinite or huge values; use finite numbers up to {MAX_VALUE:g} in size.")
    return t


def conv_demo(
    image: torch.Tensor | Sequence = LECTURE_IMAGE,
    kernel: torch.Tensor | Sequence = LECTURE_KERNEL,
    *,
    stride: int = 1,
    padding: int = 0,
    bias: float = 0.0,
) -> ConvDemo:
    """Convolve (cross-correlate) ``image`` with ``kernel`` one window at a time.

    Args:
        image: ``(H, W)`` or ``(C, H, W)``.
        kernel: ``(k, k)`` or ``(C, k, k)``, the same ``C`` as the image.
        stride: step of the window.
        padding: rows/columns of zeros around the image.
        bias: added to each output value.

    Raises:
        VizcnnError: shapes that do not fit (channels differ, a non-square
            kernel, a kernel larger than the padded input).
    """
    x, k = _as_image(image), _as_image(kernel, "kernel")
    bias = _check_value(bias, "bias")
    c, h, w = x.shape
    if k.shape[0] != c:
        raise VizcnnError(f"the kernel has {k.shape[0]} channel(s) but the image has {c}; give one kernel slice per input channel.")
    if k.shape[1] != k.shape[2]:
        raise VizcnnError(f"the kernel is {k.shape[1]}x{k.shape[2]}; the demos use square kernels (3x3, 5x5, ...).")
    kh = kw = k.shape[1]
    oh, ow = _check_geometry(h, w, kh, kw, stride, padding)
    padded = F.pad(x, (padding,) * 4, value=0.0)
    steps, out = [], torch.zeros(oh, ow, dtype=torch.float64)
    for i in range(oh):
        for j in range(ow):
            top, left = i * stride, j * stride
            window = padded[:, top : top + kh, left : left + kw]
            products = window * k
            value = float(products.sum()) + bias
            out[i, j] = value
            terms = [" + ".join(f"{_fmt(a)}*{_fmt(b)}" for a, b in zip(window[ch].flatten(), k[ch].flatten())) for ch in range(c)]
            if c == 1:
                text = terms[0]
            else:
                text = " + ".join(f"{_fmt(products[ch].sum())} (channel {ch})" for ch in range(c))
            if bias:
                text += f" + {_fmt(bias)} (bias)"
            steps.append(Step(i, j, top, left, window.clone(), products, value, text))
    return ConvDemo(x, padded, (kh, kw), stride, padding, out, steps, kernel=k, bias=float(bias))


def pool_demo(
    image: torch.Tensor | Sequence = LECTURE_IMAGE,
    *,
    size: int = 3,
    stride: int = 1,
    mode: PoolMode = "max",
    padding: int = 0,
) -> PoolDemo:
    """Max or average pooling of ``(H, W)`` one window at a time.

    Padding follows torch: max pooling pads with -inf (padding never wins),
    average pooling with zeros that count in the average; padding may be at
    most half the window.

    Raises:
        VizcnnError: an unknown mode, padding over half the window, a window larger than the padded input.
    """
    expect_int(size, "size", 1)
    if mode not in get_args(PoolMode):
        raise VizcnnError(f"unknown pooling mode {mode!r}; use one of {', '.join(get_args(PoolMode))}.")
    x = _as_image(image)
    if x.shape[0] != 1:
        raise VizcnnError("the pooling demo takes one channel (H, W); pooling treats each channel on its own.")
    if padding > size // 2:
        raise VizcnnError(f"padding {padding} is more than half the {size}x{size} window; use padding <= {size // 2}.")
    _, h, w = x.shape
    oh, ow = _check_geometry(h, w, size, size, stride, padding)
    padded = F.pad(x, (padding,) * 4, value=float("-inf") if mode == "max" else 0.0)
    steps, out = [], torch.zeros(oh, ow, dtype=torch.float64)
    for i in range(oh):
        for j in range(ow):
            top, left = i * stride, j * stride
            window = padded[:, top : top + size, left : left + size]
            shown = ", ".join(_fmt(v) if v != float("-inf") else "pad" for v in window.flatten().tolist())
            if mode == "max":
                value, text = float(window.max()), f"max({shown})"
            else:
                value, text = float(window.mean()), f"({' + '.join(_fmt(v) for v in window.flatten().tolist())}) / {size * size}"
            out[i, j] = value
            steps.append(Step(i, j, top, left, window.clone(), None, value, text))
    return PoolDemo(x, padded, (size, size), stride, padding, out, steps, mode=mode)


def multichannel_demo(*, seed: int = 0, size: int = 5, stride: int = 1, padding: int = 0, bias: float = 1.0) -> ConvDemo:
    """An RGB-like ``(3, size, size)`` input of small integers (0-2) and a ``(3, 3, 3)`` kernel (-1..1), seeded.

    The three channel-wise products sum, with the bias, to one output map:
    a filter always spans every input channel.
    """
    check_seed(seed)
    _check_slide(expect_int(size, "size", 1), expect_int(padding, "padding", 0))
    _check_value(bias, "bias")
    gen = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 3, (3, size, size), generator=gen).double()
    kernel = torch.randint(-1, 2, (3, 3, 3), generator=gen).double()
    return conv_demo(image, kernel, stride=stride, padding=padding, bias=bias)


@dataclass
class PaddingDemo(PNGResult):
    """Output sizes of a ``kernel`` x ``kernel`` window on a ``size`` x ``size`` input for each padding and stride.

    Attributes:
        size, kernel: input width and kernel width.
        rows: ``(padding, stride, output width)``.
    """

    size: int
    kernel: int
    rows: list[tuple[int, int, int]]

    def explain(self) -> str:
        lines = [f"a {self.kernel}x{self.kernel} kernel on a {self.size}x{self.size} input: output = floor((W + 2P - K) / S) + 1"]
        for p, s, o in self.rows:
            lines.append(
                f"  padding {p}, stride {s}: floor(({self.size} + 2*{p} - {self.kernel}) / {s}) + 1 = {o}  ->  {o}x{o}"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "size": self.size,
            "kernel": self.kernel,
            "rows": [{"padding": p, "stride": s, "output": o} for p, s, o in self.rows],
        }

    def frame(self, index: int) -> Image.Image:
        """The padded input of row ``index`` with every window position's centre marked."""
        p, s, o = self.rows[index]
        n = self.size + 2 * p
        cell, margin, top = 26, 14, 30
        side = n * cell
        width, height = max(side + 2 * margin, 300), top + side + 40
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        draw_text(draw, (margin, 6), f"padding {p}, stride {s}: {o}x{o} output", font=font(15), fill=_INK)
        for i in range(n):
            for j in range(n):
                is_pad = i < p or j < p or i >= n - p or j >= n - p
                x0, y0 = margin + j * cell, top + i * cell
                draw.rectangle([x0, y0, x0 + cell, y0 + cell], fill=_PAD if is_pad else (255, 255, 255), outline=_GREY)
        half = self.kernel * cell / 2
        for i in range(o):
            for j in range(o):
                cx, cy = margin + j * s * cell + half, top + i * s * cell + half
                draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], fill=_CELL)
        draw.rectangle([margin, top, margin + self.kernel * cell, top + self.kernel * cell], outline=_WINDOW, width=3)
        draw_text(draw, (margin, top + side + 8), f"dots: {o * o} window centres; orange: window 1", font=font(12), fill=_INK)
        return canvas

    def frames(self) -> list[Image.Image]:
        return [self.frame(i) for i in range(len(self.rows))]

    def to_image(self) -> Image.Image:
        """All frames in a grid: a row per padding, a column per stride."""
        frames = self.frames()
        ncols = len({s for _, s, _ in self.rows})
        w, h = max(f.width for f in frames), max(f.height for f in frames)
        nrows = -(-len(frames) // ncols)
        canvas = Image.new("RGB", (ncols * (w + 10), nrows * (h + 10)), (255, 255, 255))
        for i, f in enumerate(frames):
            r, c = divmod(i, ncols)
            canvas.paste(f, (c * (w + 10), r * (h + 10)))
        return canvas

    def save_gif(self, path: str | os.PathLike, *, duration_ms: int = 1500) -> Path:
        """One frame per (padding, stride), as an animated GIF written atomically."""
        path = Path(path)
        frames = self.frames()
        size = (max(f.width for f in frames), max(f.height for f in frames))
        frames = [_on_canvas(f, size).convert("P", palette=Image.ADAPTIVE) for f in frames]
        with atomic_path(path) as tmp:
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
        return path

    def save_frames(self, folder: str | os.PathLike) -> list[Path]:
        return _save_frames(self.frames(), folder)


def _on_canvas(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    canvas = Image.new("RGB", size, (255, 255, 255))
    canvas.paste(im, (0, 0))
    return canvas


def padding_demo(size: int = 5, kernel: int = 3, paddings: Sequence[int] = (0, 1, 2), strides: Sequence[int] = (1, 2)) -> PaddingDemo:
    """Output size ``floor((W + 2P - K) / S) + 1`` for each padding and stride.

    Raises:
        VizcnnError: a combination where the kernel does not fit the padded input.
    """
    if not paddings or not strides:
        raise VizcnnError("give at least one padding and one stride to show.")
    if len(paddings) * len(strides) > MAX_PANELS:
        raise VizcnnError(f"{len(paddings)} paddings x {len(strides)} strides make too many panels; the demo shows at most {MAX_PANELS}.")
    rows = [(p, s, output_size(size, kernel, s, p)) for p in paddings for s in strides]
    _check_slide(size, max(paddings, default=0))
    return PaddingDemo(size, kernel, rows)
