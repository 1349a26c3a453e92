"""Activation maps: what one layer responds to in one image.

The image goes through the model's own preprocessing; the layer is read with
:mod:`vizcnn.hooks`. When predictions are asked for (``classes > 0``, the
default) the layer and the logits come from one full forward pass; with
``classes=0`` the pass stops right after the layer, so later layers never run.

    >>> maps = vizcnn.activations.activations(model, "conv2", "mnist:17", top=8)
    >>> maps.summary[0]      # {'channel': 5, 'mean': 0.83, 'max': 3.1}
    >>> maps.save("conv2.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from .errors import VizcnnError, expect, expect_channels, expect_int
from .hooks import capture, forward_to
from .models import Layer, Model
from .draw.figure import NEGATIVE, POSITIVE, SEQUENTIAL, PNGResult, colorbar, colorize, draw_text, font, image_grid, wrap

__all__ = ["ActivationMaps", "activations", "channel_count", "check_model_layer", "input_view", "layer_output"]

#: Side of the drawn input image and of each map tile, in pixels.
TILE = 128


def layer_output(model: Model, layer: str | nn.Module | Layer, x: torch.Tensor) -> torch.Tensor:
    """The layer's output for the normalized batch ``x`` ``(N, C, H, W)``; the pass stops after the layer."""
    resolved = model.layer(layer)
    with torch.no_grad():
        out = forward_to(model.net, {resolved.name: resolved.module}, x)[resolved.name]
    if not isinstance(out, torch.Tensor):
        raise VizcnnError(f"layer {resolved.name!r} returns {type(out).__name__}, not a tensor; pick another layer.")
    return out


def check_model_layer(model: object, layer: object) -> None:
    """``TypeError`` unless ``model`` is a loaded :class:`Model` and ``layer`` a name, module or :class:`Layer`."""
    expect(model, Model, "model", "a Model from vizcnn.load_model(...)")
    expect(layer, (str, nn.Module, Layer), "layer", "a layer name such as 'conv2', a module path such as 'features.3', or a module")


def channel_count(model: Model, layer: str | nn.Module | Layer) -> int:
    """Number of channels (or units, for a linear layer) the layer outputs."""
    x = torch.zeros(1, *model.input.shape, device=model.device)
    return int(layer_output(model, layer, x).shape[1])


def input_view(model: Model, x: torch.Tensor) -> Image.Image:
    """A normalized ``(1, C, H, W)`` input as the picture the model sees (after resize and crop)."""
    pixels = model.input.denormalize(x[:1]).clamp(0, 1)[0].cpu()
    arr = (pixels.numpy().transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(arr[..., 0], mode="L") if arr.shape[-1] == 1 else Image.fromarray(arr, mode="RGB")


def _enlarge(image: Image.Image, size: int) -> Image.Image:
    """Scale to ``size`` on the long side; nearest neighbour for tiny images (MNIST) so pixels stay sharp."""
    w, h = image.size
    scale = size / max(w, h)
    resample = Image.NEAREST if max(w, h) <= 64 else Image.BILINEAR
    return image.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))), resample)


@dataclass
class ActivationMaps(PNGResult):
    """One layer's response to one image.

    Attributes:
        model: the model's name.
        layer: the layer name asked for.
        image: the input as the model sees it (resized, cropped), a PIL image.
        output: the layer's output for the image on the CPU, ``(C, H, W)`` or ``(C,)``.
        channels: the channels shown, in order (top by mean activation, or as given).
        summary: ``{"channel", "mean", "max"}`` for each shown channel.
        classes: top predictions, ``{"class", "index", "probability"}``; empty when not asked for.
    """

    model: str
    layer: str
    image: Image.Image = field(repr=False)
    output: torch.Tensor = field(repr=False)
    channels: list[int]
    summary: list[dict] = field(default_factory=list)
    classes: list[dict] = field(default_factory=list)

    def _summary(self) -> dict[str, object]:
        return {"shape": tuple(self.output.shape)}

    def as_dict(self) -> dict:
        """The JSON summary: layer shape, the shown channels' mean/max, top classes."""
        return {
            "model": self.model,
            "layer": self.layer,
            "shape": list(self.output.shape),
            "channels": self.summary,
            "classes": self.classes,
        }

    def _panel(self) -> Image.Image:
        """The input image with the top classes written under it (names wrap to the panel)."""
        fnt, head = font(13), font(16)
        width = TILE + 8
        lines = [line for c in self.classes for line in wrap(f"{100 * c['probability']:.1f}% {c['class']}", fnt, width - 8)]
        line_h = fnt.size + 4
        panel = Image.new("RGB", (width, 24 + TILE + 8 + line_h * (len(lines) + 1) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(panel)
        draw_text(draw, (4, 4), "input", font=head)
        panel.paste(_enlarge(self.image, TILE), (4, 28))
        y = 28 + TILE + 6
        if lines:
            draw_text(draw, (4, y), "top classes", font=fnt, fill=(90, 90, 90))
            for i, line in enumerate(lines, 1):
                draw_text(draw, (4, y + i * line_h), line, font=fnt)
        return panel

    def _maps(self) -> Image.Image:
        """Each shown channel's map in one shared viridis scale, with its colour bar."""
        if self.output.dim() != 3:
            return self._bars(f"{self.model} {self.layer} · unit values")
        maps = self.output[self.channels]
        lo, hi = min(0.0, float(maps.min())), float(maps.max())
        tiles = [Image.fromarray(colorize(m, cmap=SEQUENTIAL, vmin=lo, vmax=hi)) for m in maps]
        labels = [f"channel {s['channel']}\nmean {s['mean']:.2f}, max {s['max']:.2f}" for s in self.summary]
        ncols = min(4, len(tiles))
        bar = colorbar(SEQUENTIAL, lo, hi, "activation (the layer's output values; one scale for every map)",
                       width=min(320, ncols * (TILE + 4)))  # fmt: skip
        h, w = self.output.shape[1:]
        legend = f"{len(tiles)} of {self.output.shape[0]} channels; under each, its mean and maximum activation over the map."
        return image_grid(tiles, labels, ncols=ncols, tile_size=TILE, title=f"{self.model} {self.layer} · {h}x{w} maps",
                          legend=[legend], footer=bar)  # fmt: skip

    def _bars(self, title: str) -> Image.Image:
        """Horizontal bars for the units of a linear layer (positive blue, negative red, as everywhere)."""
        fnt, head = font(13), font(16)
        row, width, bar = 20, 360, 220
        title_lines = wrap(title, head, width - 8)
        top_y = 8 + 20 * len(title_lines)
        canvas = Image.new("RGB", (width, top_y + row * len(self.summary) + 8), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for i, line in enumerate(title_lines):
            draw_text(draw, (4, 4 + 20 * i), line, font=head)
        top = max((abs(s["max"]) for s in self.summary), default=1.0) or 1.0
        for i, s in enumerate(self.summary):
            y = top_y + i * row
            draw_text(draw, (4, y), f"#{s['channel']}", font=fnt)
            length = int((bar - 50) * abs(s["max"]) / top)
            draw.rectangle((64, y + 3, 64 + length, y + row - 5), fill=POSITIVE if s["max"] >= 0 else NEGATIVE)
            draw_text(draw, (70 + length, y), f"{s['max']:.2f}", font=fnt)
        return canvas

    def to_image(self) -> Image.Image:
        left, right = self._panel(), self._maps()
        canvas = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), (255, 255, 255))
        canvas.paste(left, (0, 0))
        canvas.paste(right, (left.width, 0))
        return canvas


def activations(
    model: Model,
    layer: str | nn.Module | Layer,
    image: Image.Image | str | os.PathLike,
    *,
    top: int = 8,
    channels: Sequence[int] | None = None,
    classes: int = 5,
) -> ActivationMaps:
    """Channel maps of ``layer`` for one image, with the model's top predictions.

    Args:
        model: a loaded :class:`~vizcnn.models.Model`.
        layer: friendly name, module path or module.
        image: a PIL image, a file path, or ``mnist:K`` (a bundled digit).
        top: how many channels to show, highest mean activation first (ignored
            when ``channels`` is given).
        channels: the channels to show, in this order.
        classes: how many top predictions to report. ``0`` skips them, and the
            forward pass then stops right after ``layer``; otherwise the layer
            and the logits come from the same, full pass.

    Raises:
        VizcnnError: unknown layer, channel out of range, unreadable image.
    """
    from .data import load_image

    check_model_layer(model, layer)
    expect(image, (Image.Image, str, os.PathLike), "image", "a PIL image, an image file path or 'mnist:K'")
    expect_int(top, "top", 1)
    expect_int(classes, "classes", 0)
    if channels is not None:
        channels = expect_channels(channels)
    if not isinstance(image, Image.Image):
        image = load_image(image)
    resolved = model.layer(layer)
    x = model.preprocess(image)
    with torch.no_grad(), capture(model.net, {resolved.name: resolved.module}, stop=classes == 0) as cap:
        logits = cap.run(x)
    out = cap.get(resolved.name)
    if not isinstance(out, torch.Tensor):
        raise VizcnnError(f"layer {resolved.name!r} did not produce a tensor for this input; pick another layer.")
    out = out[0].detach().float().cpu()
    count = out.shape[0]
    flat = out.flatten(1) if out.dim() > 1 else out[:, None]
    means, maxes = flat.mean(dim=1), flat.max(dim=1).values
    if channels is None:
        shown = torch.sort(means, descending=True, stable=True).indices[:top].tolist()
    else:
        shown = [int(c) for c in channels]
        bad = [c for c in shown if not 0 <= c < count]
        if bad:
            raise VizcnnError(
                f"channel {bad[0]} is out of range: {resolved.name} has {count} channels (0-{count - 1})."
            )
        if not shown:
            raise VizcnnError("no channels given; leave channels out to show the top ones.")
    summary = [{"channel": c, "mean": float(means[c]), "max": float(maxes[c])} for c in shown]
    predictions: list[dict] = []
    if classes > 0 and logits is not None:
        probs = torch.softmax(logits[0].detach().float().cpu(), dim=0)
        values, indices = probs.topk(min(classes, probs.numel()))
        names = list(model.categories)
        predictions = [
            {"class": names[i] if i < len(names) else str(i), "index": int(i), "probability": float(p)}
            for p, i in zip(values.tolist(), indices.tolist())
        ]
    return ActivationMaps(model.name, resolved.name, input_view(model, x), out, shown, summary, predictions)
