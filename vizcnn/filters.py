"""Filter grids: the weights of a convolution layer drawn as pictures.

A first-layer filter on RGB input is drawn in colour (the classic AlexNet
``conv1`` picture); greyscale input or deeper layers show one tile per
(filter, input channel) slice, or a reduction over the input channels. Weights
are drawn symmetrically around grey: mid-grey is zero, brighter is positive.

    >>> grid = vizcnn.filters.plot(model, "conv1", sort="color")
    >>> grid.save("conv1.png"); grid.norms[:4]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image
from torch import nn

from .errors import VizcnnError, expect, expect_int
from .models import Model, forward_order
from .models.layers import is_kind
from .draw.figure import PNGResult, colorbar, image_grid, to_uint8

__all__ = ["FilterGrid", "Reduce", "Scale", "Sort", "colorfulness", "conv_layers", "frequency", "plot"]

Sort = Literal["norm", "color", "frequency"]
Scale = Literal["filter", "shared"]
Reduce = Literal["auto", "rgb", "slices", "mean", "norm"]

#: Sort key -> what it measures, for legends.
_SORT_KEYS = {
    "norm": "L2 norm",
    "color": "colourfulness (share of energy in colour, 0-1)",
    "frequency": "mean spatial frequency (cycles/pixel)",
}

#: Above this many (filter, input channel) slices, ``reduce="auto"`` averages over input channels.
MAX_SLICES = 1024


def conv_layers(model: Model) -> list[str]:
    """Names of the model's ``Conv2d`` layers (friendly name where there is one)."""
    return [model.alias_of(path) for path, m in model.net.named_modules() if is_kind(m, (nn.Conv2d,))]


def colorfulness(weights: torch.Tensor) -> torch.Tensor:
    """Share of each RGB filter's energy that is colour, not grey: ``(F, 3, kh, kw)`` -> ``(F,)`` in [0, 1].

    A filter is split into its grey part (mean over the colour channels) and
    the rest; colour blobs score near 1, black-and-white edge detectors near 0.
    """
    w = weights.float()
    chroma = w - w.mean(dim=1, keepdim=True)
    return chroma.pow(2).sum(dim=(1, 2, 3)) / w.pow(2).sum(dim=(1, 2, 3)).clamp_min(1e-12)


def frequency(weights: torch.Tensor) -> torch.Tensor:
    """Power-weighted mean spatial frequency of each filter, in cycles per pixel: ``(F, C, kh, kw)`` -> ``(F,)``.

    Computed from the 2-D FFT (power summed over input channels); smooth blobs
    score low, fine oriented edges and gratings high.
    """
    w = weights.float()
    power = torch.fft.fft2(w).abs().pow(2).sum(dim=1)  # (F, kh, kw)
    fy = torch.fft.fftfreq(w.shape[-2]).abs().view(-1, 1)
    fx = torch.fft.fftfreq(w.shape[-1]).abs().view(1, -1)
    radius = torch.sqrt(fy**2 + fx**2)
    return (power * radius).sum(dim=(1, 2)) / power.sum(dim=(1, 2)).clamp_min(1e-12)


@dataclass
class FilterGrid(PNGResult):
    """The filters of one conv layer, ready to draw.

    Attributes:
        model: the model's name.
        layer: the layer name asked for.
        weights: ``(F, C, kh, kw)`` weights on the CPU.
        norms: ``(F,)`` L2 norm of each filter.
        order: filter indices in display order (``sort`` applied).
        reduce: how input channels become a tile: ``rgb`` (colour), ``slices``
            (one tile per input channel), ``mean`` or ``norm`` (over input channels).
        scale: ``filter`` (each filter uses the full grey range) or ``shared``
            (one scale for the layer, so weak filters look faint).
        sort: the sort key used, or ``None`` for the layer's own order.
        keys: ``(F,)`` each filter's value of the sort key (``None`` unsorted).
        ncols: columns of the grid, or ``None`` for square-ish.
    """

    model: str
    layer: str
    weights: torch.Tensor = field(repr=False)
    norms: torch.Tensor = field(repr=False)
    order: list[int] = field(repr=False)
    reduce: str
    scale: str
    sort: str | None = None
    ncols: int | None = None
    keys: torch.Tensor | None = field(default=None, repr=False)

    def _summary(self) -> dict[str, object]:
        strongest = torch.topk(self.norms, min(3, self.norms.numel()))
        return {"shape": tuple(self.weights.shape), "strongest": [(int(i), float(v)) for v, i in zip(*strongest)]}

    def tiles(self) -> list[np.ndarray]:
        """uint8 tiles in display order: ``(kh, kw, 3)`` for ``rgb``, ``(kh, kw)`` otherwise.

        ``slices`` gives ``F * C`` tiles, filter-major (one row per filter).
        """
        w = self.weights[self.order].float()
        if self.reduce == "mean":
            w = w.mean(dim=1, keepdim=True)
        elif self.reduce == "norm":
            w = w.pow(2).sum(dim=1, keepdim=True).sqrt()
        shared = float(w.abs().max())
        out = []
        for f in w:
            m = shared if self.scale == "shared" else float(f.abs().max())
            if self.reduce == "norm":
                out.append(to_uint8(f[0], vmin=0.0, vmax=m))
            elif self.reduce == "rgb":
                out.append(to_uint8(f, symmetric=True, vmax=m))
            else:
                out.extend(to_uint8(c, symmetric=True, vmax=m) for c in f)
        return out

    def layout(self) -> tuple[int, int]:
        """``(tile_size, ncols)`` of the drawn grid."""
        f, c, kh, kw = self.weights.shape
        n = f * c if self.reduce == "slices" else f
        k = max(kh, kw)
        target = 72 if n <= 128 else 40 if n <= 512 else 24
        size = k * max(1, round(target / k))
        if self.reduce == "slices" and c > 1:
            return size, c
        return size, self.ncols or math.ceil(math.sqrt(n))

    def labels(self) -> list[str]:
        """``#index norm`` per tile (and the sort key's value when it is not the norm); see :meth:`legend`."""
        c = self.weights.shape[1]
        if self.reduce == "slices" and c > 1:
            return [f"#{i}" if j == 0 else "" for i in self.order for j in range(c)]
        extra = self.keys is not None and self.sort != "norm"
        return [f"#{i} {float(self.norms[i]):.2f}" + (f" {float(self.keys[i]):.2f}" if extra else "") for i in self.order]

    def legend(self) -> list[str]:
        """What the labels, the order and the grey levels mean, in words, for the figure."""
        c = self.weights.shape[1]
        lines = []
        if self.reduce == "slices" and c > 1:
            lines.append(f"One row per filter (#index), one tile per input channel (0-{c - 1}, left to right).")
        else:
            what = "filter index, L2 norm of its weights"
            if self.keys is not None and self.sort != "norm":
                what += f", {_SORT_KEYS[self.sort]}"
            lines.append(f"Labels: #{what}.")
        if self.sort:
            lines.append(f"Sorted by {_SORT_KEYS[self.sort]}, {'smallest' if self.sort == 'frequency' else 'largest'} first.")
        if self.reduce == "norm":
            lines.append("Black is zero; brighter is a larger weight norm across the input channels.")
        elif self.reduce == "rgb":
            lines.append("Mid-grey is zero; in each colour channel brighter is a positive weight, darker a negative one.")
        else:
            lines.append("Mid-grey is zero; white is a positive weight, black a negative one.")
        return lines

    def colorbar(self) -> Image.Image:
        """The grey scale the tiles use, with its units (relative per filter, or the layer's weights)."""
        shared = self.scale == "shared"
        w = self.weights.float()
        top = float((w.pow(2).sum(dim=1).sqrt() if self.reduce == "norm" else w).abs().max()) if shared else 1.0
        unit = "weight" if shared else "weight / the filter's largest |weight|"
        if self.reduce == "norm":
            return colorbar("gray", 0.0, top, f"norm over input channels ({unit})")
        return colorbar("gray", -top, top, unit)

    def title(self) -> str:
        f, c, kh, kw = self.weights.shape
        parts = [f"{self.model} {self.layer}", f"{f} filters {c}x{kh}x{kw}"]
        if self.reduce in ("mean", "norm"):
            parts.append(f"{self.reduce} over inputs")
        if self.sort:
            parts.append(f"by {self.sort}")
        return " · ".join(parts)

    def to_image(self) -> Image.Image:
        size, ncols = self.layout()
        return image_grid(self.tiles(), self.labels(), ncols=ncols, tile_size=size, title=self.title(),
                          legend=self.legend(), footer=self.colorbar())  # fmt: skip


def _first_conv_path(model: Model) -> str | None:
    if isinstance(model.net, torch.jit.ScriptModule):  # no hooks: registration order stands in for forward order
        modules = ((path, m) for path, m in model.net.named_modules())
    else:
        modules = ((path, m) for path, m, _ in forward_order(model.net, model.input.shape))
    return next((path for path, m in modules if is_kind(m, (nn.Conv2d,))), None)


def plot(
    model: Model,
    layer: str | nn.Module,
    *,
    sort: Sort | None = None,
    scale: Scale = "filter",
    reduce: Reduce = "auto",
    ncols: int | None = None,
) -> FilterGrid:
    """The filters of a ``Conv2d`` layer as a grid.

    Args:
        model: a loaded :class:`~vizcnn.models.Model`.
        layer: friendly name (``conv1``), module path or module.
        sort: ``norm`` (strongest first), ``color`` (most colourful first; RGB
            filters only) or ``frequency`` (smoothest first), or ``None``.
        scale: ``filter`` scales each filter to the full grey range (default:
            every filter is readable; the labels give the norms); ``shared``
            uses one scale for the whole layer.
        reduce: ``auto`` picks ``rgb`` for a first layer on RGB input,
            ``slices`` when there are at most ``MAX_SLICES`` filter x input
            channel slices, else ``mean``.
        ncols: columns of the grid (default: square-ish; ``slices`` uses one row per filter).

    Raises:
        VizcnnError: the layer is not a convolution, or an option does not fit it.
    """
    expect(model, Model, "model", "a Model from vizcnn.load_model(...)")
    expect(layer, (str, nn.Module), "layer", "a layer name such as 'conv1', a module path or a module")
    for value, allowed, what in ((sort, (None, *get_args(Sort)), "sort"), (scale, get_args(Scale), "scale"),
                                 (reduce, get_args(Reduce), "reduce")):  # fmt: skip
        if value not in allowed:
            raise VizcnnError(f"unknown {what} {value!r}; use one of: {', '.join(str(a) for a in allowed if a)}.")
    resolved = model.layer(layer)
    if not is_kind(resolved.module, (nn.Conv2d,)):
        raise VizcnnError(
            f"{resolved.name!r} is a {resolved.kind}, not a convolution: filters are drawn for Conv2d layers only. "
            f"Conv layers of {model.name}: {', '.join(conv_layers(model))}."
        )
    weights = resolved.module.weight.detach().float().cpu()
    f, c = weights.shape[:2]
    is_rgb = c == 3 and model.input.channels == 3 and _first_conv_path(model) == resolved.path
    if reduce == "auto":
        reduce = "rgb" if is_rgb else "slices" if f * c <= MAX_SLICES else "mean"
    if reduce == "rgb" and not is_rgb:
        raise VizcnnError(
            f"reduce='rgb' needs a first conv layer on RGB input; {resolved.name!r} has {c} input channel(s) "
            f"from {'the image' if c == model.input.channels else 'the layer before'}. Use slices, mean or norm."
        )
    if ncols is not None:  # more columns than tiles would only widen an empty canvas
        expect_int(ncols, "ncols", 1, f * c if reduce == "slices" else f)
    norms = weights.flatten(1).norm(dim=1)
    keys = None
    if sort == "color" and not is_rgb:
        raise VizcnnError(
            f"sort='color' needs RGB filters (a first conv layer on RGB input); {resolved.name!r} has {c} "
            "input channel(s). Use --sort norm or --sort frequency."
        )
    if sort is not None:
        keys = {"norm": norms, "frequency": frequency(weights), "color": colorfulness(weights)}[sort]
    order = list(range(f)) if keys is None else _argsort(keys if sort == "frequency" else -keys)
    return FilterGrid(model.name, resolved.name, weights, norms, order, reduce, scale, sort, ncols, keys)


def _argsort(key: torch.Tensor) -> list[int]:
    """Indices that sort ``key`` ascending; ties keep the layer's order."""
    return torch.sort(key, stable=True).indices.tolist()
