"""Dataset examples: the real images that excite one channel most (as in OpenAI Microscope).

A data set is streamed in batches; only the running top ``k`` (value, index,
location, input pixels) is kept, so memory depends on ``k`` and the batch
size, never on the data set. For a conv layer each example also records where
the channel peaked and the input crop that location sees (its receptive field).
With ``projection="deconvnet"`` (or ``"guided-backprop"``) each example also
gets Zeiler & Fergus's projection of the unit at its peak back to pixels
(captum's ``NeuronDeconvolution`` / ``NeuronGuidedBackprop``), cropped to the
same receptive field.

    >>> ex = vizcnn.examples.top_examples(model, "conv3", 5, "sample", k=9)
    >>> ex.values, ex.indices, ex.boxes[0]
    >>> ex.save("conv3-5.png")
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from captum.attr import NeuronDeconvolution, NeuronGuidedBackprop
from PIL import Image, ImageDraw
from torch import nn

from .activations import channel_count, check_model_layer, input_view, layer_output
from .data import Digits, iter_image_files, load_image, mnist
from .errors import expect, expect_channels, expect_int, unknown_name, VizcnnError
from .limits import activation_bytes, check_memory
from .models import Layer, Model
from .models.receptive import receptive_fields, ReceptiveField
from .progress import progress_bar
from .draw.figure import image_grid, PNGResult, to_uint8

__all__ = ["PROJECTIONS", "DatasetExamples", "receptive_field", "top_examples", "top_examples_for"]

#: Zeiler & Fergus projections of a unit back to pixels: name -> captum method.
PROJECTIONS: dict[str, type] = {"deconvnet": NeuronDeconvolution, "guided-backprop": NeuronGuidedBackprop}

#: Side of each drawn tile, in pixels.
TILE = 96

Box = tuple[int, int, int, int]


def receptive_field(model: Model, layer: str | nn.Module | Layer) -> ReceptiveField | None:
    """What one unit of ``layer`` sees, per axis, in input pixels; ``None`` when it sees the whole input.

    From the traced graph (:func:`~vizcnn.models.receptive.receptive_fields`):
    unit ``(y, x)`` is centred at ``start + (y, x) * jump``. ``exact`` is
    ``False`` for networks that could not be traced (chain rule).
    """
    path = model.layer(layer).path
    field = receptive_fields(model.net, model.input.shape).get(path)
    return None if field is None or field.is_global else field


@dataclass
class DatasetExamples(PNGResult):
    """The top ``k`` images of a data set for one channel, best first.

    Attributes:
        model, layer, channel: what was measured.
        values: ``(k,)`` the channel's maximum over positions (conv) or its value (linear).
        indices: position of each image in the data set.
        names: ``mnist:I`` for digits, the file path for image folders.
        images: the inputs as the model sees them (PIL).
        locations: ``(y, x)`` of the maximum in the layer's map, or ``None`` for linear layers.
        boxes: ``(left, top, right, bottom)`` input crop the maximum sees, or ``None``.
        crops: the input crops (the whole image for linear layers).
        seen: images looked at; skipped: unreadable files left out; source: the data set.
        receptive_field: what one unit sees (boxes and crops follow it); its
            ``exact`` is ``False`` when the network could not be traced, and
            the crops are then labelled "approx. crop".
    """

    model: str
    layer: str
    channel: int
    values: torch.Tensor = field(repr=False)
    indices: list[int]
    names: list[str] = field(repr=False)
    images: list[Image.Image] = field(repr=False)
    locations: list[tuple[int, int] | None] = field(repr=False)
    boxes: list[Box | None] = field(repr=False)
    crops: list[Image.Image] = field(repr=False)
    seen: int
    skipped: int
    source: str
    receptive_field: ReceptiveField | None = None
    #: ``deconvnet`` or ``guided-backprop`` when the examples carry projections.
    projection: str | None = None
    #: each example's projection, cropped like ``crops`` (grey is zero).
    projections: list[Image.Image] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        rf = self.receptive_field
        return {
            "model": self.model,
            "layer": self.layer,
            "channel": self.channel,
            "source": self.source,
            "seen": self.seen,
            "skipped": self.skipped,
            "receptive_field": None if rf is None else
            {"size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start), "exact": rf.exact},
            "projection": self.projection,
            "examples": [
                {"index": i, "name": n, "value": float(v), "location": list(loc) if loc else None,
                 "box": list(b) if b else None}
                for i, n, v, loc, b in zip(self.indices, self.names, self.values.tolist(), self.locations, self.boxes)
            ],
        }  # fmt: skip

    def to_image(self) -> Image.Image:
        n = len(self.images)
        ncols = math.ceil(n / math.ceil(n / 9))
        tiles: list[Image.Image] = []
        labels: list[str] = []
        blank = Image.new("RGB", (TILE, TILE), (255, 255, 255))
        for start in range(0, len(self.images), ncols):
            block = range(start, min(start + ncols, len(self.images)))
            pad = ncols - len(block)
            tiles += [self._framed(i) for i in block] + [blank] * pad
            labels += [f"{_short(self.names[i])} {float(self.values[i]):.2f}" for i in block] + [""] * pad
            if any(self.boxes[i] for i in block):
                tiles += [self.crops[i] for i in block] + [blank] * pad
                crop = "crop" if self.receptive_field is None or self.receptive_field.exact else "approx. crop"
                labels += [crop if self.boxes[i] else "" for i in block] + [""] * pad
            if self.projections:
                tiles += [self.projections[i] for i in block] + [blank] * pad
                labels += ["projection" for _ in block] + [""] * pad
        title = f"{self.model} {self.layer}:{self.channel} · top {len(self.images)} of {self.seen}"
        if self.projection:
            title += f" · {self.projection} projections"
        legend = ["Labels: the image (its number in the data set, or its file name), then the channel's peak activation."]
        if any(self.boxes):
            legend.append("Red box: the input region the peak unit sees (its receptive field); below, that crop.")
        if self.projections:
            legend.append("Projection: the peak unit's activation projected back to pixels, cropped like the crop; grey is zero.")
        return image_grid(tiles, labels, ncols=ncols, tile_size=TILE, title=title, legend=legend)

    def _framed(self, i: int) -> Image.Image:
        """Image ``i`` enlarged to a tile, with its crop box drawn in red."""
        image = self.images[i].convert("RGB")
        scale = TILE / max(image.size)
        resample = Image.NEAREST if max(image.size) <= 64 else Image.BILINEAR
        big = image.resize((round(image.width * scale), round(image.height * scale)), resample)
        if self.boxes[i]:
            left, top, right, bottom = (round(v * scale) for v in self.boxes[i])
            ImageDraw.Draw(big).rectangle((left, top, right - 1, bottom - 1), outline=(230, 30, 30), width=2)
        return big


def _short(name: str, limit: int = 10) -> str:
    stem = Path(name).stem if not name.startswith("mnist:") else name[len("mnist:"):]
    return stem if len(stem) <= limit else stem[: limit - 1] + "…"


_Batch = tuple[int, list[int], list[str], torch.Tensor | None]


def _batches(model: Model, data, batch_size: int) -> tuple[int, str, Iterator[_Batch]]:
    """``(size, description, batches)``.

    Each batch is (images tried, indices read, their names, pixels in [0, 1]
    ``(B, C, H, W)`` or ``None`` when none could be read).
    """
    if data is None:
        if model.input.channels != 1:
            raise VizcnnError(
                f"{model.name} takes {model.input.size}x{model.input.size} colour images: give a folder of images "
                "with --data DIR (JPEG/PNG, searched recursively). The bundled MNIST sample fits the MNIST models only."
            )
        data = "sample"
    if isinstance(data, (str, os.PathLike)) and str(data) != "sample":
        folder = Path(data)
        if not folder.is_dir():
            raise VizcnnError(
                f"data {str(data)!r} is not a folder: give a folder of images, an MNIST folder, or 'sample'."
            )
        if any(any(folder.glob(f"{sub}*idx3-ubyte*")) for sub in ("", "raw/", "MNIST/raw/")):
            data = mnist(folder)
        else:
            files = list(iter_image_files(folder))
            if not files:
                raise VizcnnError(
                    f"no images in {str(folder)!r}: expected JPEG/PNG files (searched recursively) or MNIST IDX files."
                )
            return len(files), str(folder), _file_batches(model, files, batch_size)
    if str(data) == "sample":
        data = mnist("sample")
    if not isinstance(data, Digits):
        raise VizcnnError(f"cannot read data {data!r}: give 'sample', an MNIST folder or a folder of images.")
    return len(data), data.source, _digit_batches(model, data, batch_size)


def _digit_batches(model: Model, digits: Digits, batch_size: int):
    pixels, _ = digits.tensors()
    exact = model.input.shape == tuple(pixels.shape[1:])
    for start in range(0, len(digits), batch_size):
        idx = list(range(start, min(start + batch_size, len(digits))))
        if exact:
            x = pixels[idx[0] : idx[-1] + 1]
        else:
            x = torch.stack([model.input.to_tensor(Image.fromarray(digits.images[i], mode="L")) for i in idx])
        yield len(idx), idx, [f"mnist:{i}" for i in idx], x


def _file_batches(model: Model, files: Sequence[Path], batch_size: int):
    for start in range(0, len(files), batch_size):
        idx, names, tensors = [], [], []
        tried = range(start, min(start + batch_size, len(files)))
        for i in tried:
            try:
                image = load_image(files[i])
            except VizcnnError:
                continue  # counted as skipped by the caller
            idx.append(i)
            names.append(str(files[i]))
            tensors.append(model.input.to_tensor(image))
        yield len(tried), idx, names, (torch.stack(tensors) if tensors else None)


class _RunningTopK:
    """The ``k`` best (value, index, location, pixels) seen so far for one channel; ties go to the earlier index."""

    def __init__(self, k: int, shape: tuple[int, ...]) -> None:
        self.k = k
        self.values = torch.empty(0)
        self.indices = torch.empty(0, dtype=torch.long)
        self.locations = torch.empty(0, 2, dtype=torch.long)
        self.pixels = torch.empty(0, *shape)

    def merge(self, values: torch.Tensor, indices: torch.Tensor, locations: torch.Tensor, pixels: torch.Tensor) -> None:
        cand_v, cand_i = torch.cat([self.values, values]), torch.cat([self.indices, indices])
        order = torch.argsort(cand_i, stable=True)
        order = order[torch.argsort(cand_v[order], descending=True, stable=True)][: self.k]
        self.values, self.indices = cand_v[order], cand_i[order]
        self.locations = torch.cat([self.locations, locations])[order]
        self.pixels = torch.cat([self.pixels, pixels])[order]


def top_examples(
    model: Model,
    layer: str | nn.Module | Layer,
    channel: int,
    data: str | os.PathLike | Digits | None = None,
    *,
    k: int = 9,
    batch_size: int = 64,
    progress: bool = True,
    projection: str | None = None,
) -> DatasetExamples:
    """The ``k`` images of ``data`` on which ``channel`` of ``layer`` is highest.

    Args:
        model: a loaded :class:`~vizcnn.models.Model`.
        layer: friendly name, module path or module.
        channel: the channel (conv) or unit (linear) to rank by; a conv channel
            is scored by its maximum over positions.
        data: ``"sample"`` (the bundled 500 digits; the default for MNIST
            models), an MNIST IDX folder (test split), a folder of images
            (searched recursively; unreadable files are skipped and counted),
            or a :class:`~vizcnn.data.Digits`.
        k: how many examples to keep. Ties go to the earlier image.
        batch_size: images per forward pass (each pass stops after ``layer``).
        progress: show a tqdm progress bar on stderr.
        projection: also project each example's peak back to pixels with
            ``deconvnet`` or ``guided-backprop`` (see :data:`PROJECTIONS`).

    Raises:
        VizcnnError: unknown layer, channel out of range, unusable data.
        TypeError: an argument of the wrong type (``channel`` must be one whole number).
    """
    expect_int(channel, "channel", 0)
    return top_examples_for(
        model, layer, [channel], data, k=k, batch_size=batch_size, progress=progress, projection=projection
    )[channel]


def top_examples_for(
    model: Model,
    layer: str | nn.Module | Layer,
    channels: Sequence[int],
    data: str | os.PathLike | Digits | None = None,
    *,
    k: int = 9,
    batch_size: int = 64,
    progress: bool = True,
    projection: str | None = None,
) -> dict[int, DatasetExamples]:
    """:func:`top_examples` for several channels of one layer in a single pass over ``data``.

    Memory grows with ``k * len(channels)``, not with the data set. Returns
    ``{channel: DatasetExamples}``.
    """

    check_model_layer(model, layer)
    expect(data, (str, os.PathLike, Digits, type(None)), "data", "'sample', a folder path or a Digits")
    expect_int(k, "k", 1)
    expect_int(batch_size, "batch_size", 1)
    channels = list(dict.fromkeys(expect_channels(channels)))
    if projection is not None and projection not in PROJECTIONS:
        raise unknown_name("projection", projection, list(PROJECTIONS))
    resolved = model.layer(layer)
    count = channel_count(model, resolved)
    bad = [c for c in channels if not 0 <= c < count]
    if bad:  # before the scan starts, not after its first batch
        raise VizcnnError(f"channel {bad[0]} is out of range: {resolved.name} has {count} channels (0-{count - 1}).")
    size, source, batches = _batches(model, data, batch_size)
    per_image = activation_bytes(model.net, model.input.shape, model.device)
    check_memory(
        min(batch_size, size) * per_image + 2 * k * len(channels) * 4 * math.prod(model.input.shape),
        f"a batch of {min(batch_size, size)} images with {k} examples for {len(channels)} channel(s)",
        "use a smaller batch_size (--batch-size) or k (--top)", model.device,
    )  # fmt: skip
    rf = None
    best = {c: _RunningTopK(k, model.input.shape) for c in channels}
    names: dict[int, str] = {}
    seen = 0
    desc = f"{resolved.name}:{channels[0]}" + (f" (+{len(channels) - 1})" if len(channels) > 1 else "")
    with progress_bar(total=size, unit="img", desc=desc, disable=not progress, leave=False) as bar:
        for tried, idx, batch_names, pixels in batches:
            bar.update(tried)
            if pixels is None:
                continue
            acts = layer_output(model, resolved, model.input.normalize(pixels.to(model.device))).detach().float().cpu()
            if rf is None and acts.dim() == 4:
                rf = receptive_field(model, resolved)
            seen += len(idx)
            names.update(zip(idx, batch_names))
            indices, pixels = torch.tensor(idx), pixels.cpu()
            for c in channels:
                a = acts[:, c]
                if a.dim() == 3:
                    values, pos = a.flatten(1).max(dim=1)
                    loc = torch.stack([pos // a.shape[-1], pos % a.shape[-1]], dim=1)
                else:
                    values = a.flatten(1).max(dim=1).values if a.dim() > 1 else a
                    loc = torch.full((len(idx), 2), -1, dtype=torch.long)
                best[c].merge(values, indices, loc, pixels)
            kept = {i for b in best.values() for i in b.indices.tolist()}
            names = {i: n for i, n in names.items() if i in kept}
    if seen == 0:
        raise VizcnnError(f"none of the {size} files in {source!r} could be read as an image.")
    results = {c: _result(model, resolved.name, c, best[c], names, rf, seen, size - seen, source) for c in channels}
    if projection is not None:
        for c, result in results.items():
            result.projection = projection
            result.projections = _projections(model, resolved, c, best[c], result.boxes, projection)
    return results


def _projections(model: Model, layer: Layer, channel: int, best: _RunningTopK, boxes: list[Box | None],
                 method: str) -> list[Image.Image]:  # fmt: skip
    """Each example's unit at its peak projected back to pixels, scaled so zero is grey, cropped like the example."""
    algo = PROJECTIONS[method](model.net, layer.module)
    out = []
    for px, (y, x), box in zip(best.pixels, best.locations.tolist(), boxes):
        inputs = model.input.normalize(px[None].to(model.device)).requires_grad_(True)
        selector = (channel, y, x) if y >= 0 else (channel,)
        with warnings.catch_warnings():  # captum announces its (removed afterwards) ReLU hooks on every call
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            grad = algo.attribute(inputs, neuron_selector=selector)[0].detach().cpu()
        picture = Image.fromarray(to_uint8(grad, symmetric=True))
        out.append(picture.crop(box) if box else picture)
    return out


def _result(model: Model, layer: str, channel: int, best: _RunningTopK, names: dict[int, str],
            rf: ReceptiveField | None, seen: int, skipped: int, source: str) -> DatasetExamples:  # fmt: skip
    """Draw-ready examples from one channel's running top-K: input views, boxes, crops."""
    images, boxes, crops, locations = [], [], [], []
    for px, (y, x) in zip(best.pixels, best.locations.tolist()):
        image = input_view(model, model.input.normalize(px[None]))
        images.append(image)
        located = y >= 0
        box = _box(rf, y, x, image.size) if located and rf is not None else None
        locations.append((y, x) if located else None)
        boxes.append(box)
        crops.append(image.crop(box) if box else image)
    indices = best.indices.tolist()
    return DatasetExamples(
        model.name, layer, channel, best.values, indices, [names[i] for i in indices],
        images, locations, boxes, crops, seen, skipped, source, rf,
    )  # fmt: skip


def _box(rf: ReceptiveField, y: int, x: int, size: tuple[int, int]) -> Box:
    """The input pixels unit ``(y, x)`` sees, clipped to the image: ``(left, top, right, bottom)``."""
    (h, w), (jy, jx), (sy, sx) = rf.size, rf.jump, rf.start
    left, top = round(sx + x * jx - (w - 1) / 2), round(sy + y * jy - (h - 1) / 2)
    width, height = size
    return max(0, left), max(0, top), min(width, left + w), min(height, top + h)
