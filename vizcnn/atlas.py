"""Activation atlas (Carter et al., Distill 2019): the activations of a whole data set, laid out and drawn.

    >>> atlas = activation_atlas(model, "relu3", "sample", grid=12)   # doctest: +SKIP
    >>> atlas.save("atlas.png"); atlas.save_html("atlas.html")         # doctest: +SKIP

1. Collect activation vectors of ``layer``: one per spatial position of every
   image for a conv layer (positions where nothing fires are left out), one
   per image for a linear layer, or one per image averaged over positions
   with ``per_image=True``. At most ``max_points`` are kept (a seeded random
   sample drawn while streaming, so memory never depends on the data set).
2. Embed them in 2-D with UMAP (umap-learn) or t-SNE (scikit-learn).
3. Bin the embedding into a ``grid`` x ``grid`` layout; for every cell with at
   least ``min_count`` points, average the vectors and render the feature
   visualization of that direction (:func:`vizcnn.optvis.direction`), all
   cells in batches of ``batch`` images per optimization.

Each cell keeps its count and its most common class (the label of the image
its points came from), so the atlas can be read as "what the layer sees, and
for which digits".
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw

from .activations import layer_output
from .data import Digits, mnist
from .dictionary import render_directions
from .draw.figure import PNGResult, font
from .errors import VizcnnError, unknown_name
from .examples import _batches
from .models.model import Model

__all__ = ["EMBEDDINGS", "Atlas", "AtlasCell", "activation_atlas"]

#: 2-D embeddings an atlas can use.
EMBEDDINGS = ("umap", "tsne")


@dataclass
class AtlasCell:
    """One grid cell: where it is, how many points fell in it, their mean vector and their main class."""

    row: int
    col: int
    count: int
    vector: torch.Tensor = field(repr=False)
    label: str
    share: float
    image: Image.Image | None = field(default=None, repr=False)


@dataclass
class Atlas(PNGResult):
    """An activation atlas of one layer.

    Attributes:
        points: ``(N, 2)`` the embedding, scaled to [0, 1).
        labels: ``(N,)`` class index of each point (-1 when the data has no labels).
        classes: class names by index.
        cells: the drawn cells (count at least ``min_count``), row-major.
        seconds: time spent collecting, embedding and rendering.
    """

    model: str
    layer: str
    method: str
    grid: int
    source: str
    points: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    classes: list[str] = field(repr=False)
    cells: list[AtlasCell] = field(repr=False)
    min_count: int
    fv_steps: int
    seconds: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Atlas({self.model} {self.layer}: {len(self.points)} points from {self.source}, {self.method}, "
            f"{len(self.cells)} of {self.grid}x{self.grid} cells drawn)"
        )

    def to_image(self, cell: int = 64) -> Image.Image:
        """The grid: each drawn cell's feature visualization with its main class and count beneath."""
        caption = 12
        canvas = Image.new("RGB", (self.grid * cell, self.grid * (cell + caption)), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        small = font(10)
        for c in self.cells:
            x0, y0 = c.col * cell, c.row * (cell + caption)
            if c.image is not None:
                resample = Image.NEAREST if max(c.image.size) <= 64 else Image.BILINEAR
                canvas.paste(c.image.convert("RGB").resize((cell - 2, cell - 2), resample), (x0 + 1, y0 + 1))
            else:
                draw.rectangle([x0 + 1, y0 + 1, x0 + cell - 2, y0 + cell - 2], fill=(225, 225, 225))
            draw.text((x0 + 2, y0 + cell), f"{c.label} ({c.count})", fill=(60, 60, 60), font=small)
        return canvas

    def scatter(self) -> Image.Image:
        """The embedding itself, one dot per point coloured by class, with the grid drawn over it."""
        from matplotlib.figure import Figure

        from .draw.figure import figure_to_image

        fig = Figure(figsize=(5, 5), dpi=100)
        ax = fig.subplots()
        known = self.labels >= 0
        ax.scatter(self.points[~known, 0], self.points[~known, 1], s=1, c="grey")
        sc = ax.scatter(self.points[known, 0], self.points[known, 1], s=1, c=self.labels[known], cmap="tab10",
                        vmin=0, vmax=max(9, len(self.classes) - 1))  # fmt: skip
        for k in range(self.grid + 1):
            ax.axhline(k / self.grid, color="#ccc", lw=0.4)
            ax.axvline(k / self.grid, color="#ccc", lw=0.4)
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)  # row 0 at the top, as in the grid
        ax.set_xticks([])
        ax.set_yticks([])
        if known.any() and len(self.classes) <= 20:
            handles = [ax.scatter([], [], s=12, color=sc.cmap(sc.norm(i))) for i in range(len(self.classes))]
            ax.legend(handles, self.classes, fontsize=6, loc="upper right", markerscale=1, ncol=2)
        ax.set_title(f"{self.method} of {len(self.points)} {self.layer} activations", fontsize=9)
        return figure_to_image(fig)

    def data(self) -> dict:
        """What the page's script needs, JSON-ready."""
        from .draw.html import data_uri

        return {
            "grid": self.grid,
            "cells": [
                {"row": c.row, "col": c.col, "count": c.count, "label": c.label, "share": round(c.share, 3),
                 "src": data_uri(c.image.convert("RGB")) if c.image is not None else None}
                for c in self.cells
            ],
        }  # fmt: skip

    def to_html(self, *, title: str | None = None, css_href: str | None = None) -> str:
        """A self-contained page: the zoomable grid (buttons or +/- keys), cell details on hover or focus."""
        from .draw.html import data_uri, json_script, render_template, script

        return render_template(
            "atlas.html", title=title or f"{self.model} {self.layer}: activation atlas", atlas=self,
            points=len(self.points), scatter=data_uri(self.scatter()), data=json_script(self.data()),
            script=script("atlas.js"), css_href=css_href,
        )  # fmt: skip

    def save_html(self, path: str | os.PathLike) -> Path:
        """Write the page atomically."""
        from ._io import write_text

        return write_text(path, self.to_html())

    def _repr_html_(self) -> str:
        from .draw.html import iframe

        return iframe(self.to_html(), 760)


def _dataset(model: Model, data, batch_size: int):
    """``(size, source, batches, label_of, classes)``: MNIST digits carry labels, image folders their folder names."""
    if data is None or str(data) == "sample" or isinstance(data, Digits):
        digits = data if isinstance(data, Digits) else (mnist("sample") if model.input.channels == 1 else None)
    elif Path(data).is_dir() and any(any(Path(data).glob(f"{s}*idx3-ubyte*")) for s in ("", "raw/", "MNIST/raw/")):
        digits = mnist(data)
    else:
        digits = None
    if digits is not None:
        size, source, batches = _batches(model, digits, batch_size)
        names = model.categories if len(model.categories) > int(digits.labels.max()) else range(10)
        return size, source, batches, lambda i, _name: int(digits.labels[i]), [str(c) for c in names]
    size, source, batches = _batches(model, data, batch_size)
    folders: dict[str, int] = {}
    return size, source, batches, lambda _i, name: folders.setdefault(Path(name).parent.name, len(folders)), folders


def _collect(model, layer, data, *, per_image: bool, max_points: int, batch_size: int, seed: int, progress: bool):
    """Activation vectors ``(N, C)``, their class indices and the class names, at most ``max_points`` of them."""
    from .progress import progress_bar

    size, source, batches, label_of, classes = _dataset(model, data, batch_size)
    rng = np.random.default_rng(seed)
    vectors, labels, keep_p = [], [], None
    with progress_bar(total=size, unit="img", desc=f"atlas {layer.name}", disable=not progress, leave=False) as bar:
        for tried, idx, names, pixels in batches:
            bar.update(tried)
            if pixels is None:
                continue
            acts = layer_output(model, layer, model.input.normalize(pixels.to(model.device))).detach().float().cpu()
            if acts.dim() == 4 and not per_image:
                _, c, h, w = acts.shape
                flat = acts.permute(0, 2, 3, 1).reshape(-1, c)
                owner = np.repeat(np.array([label_of(i, nm) for i, nm in zip(idx, names)]), h * w)
            else:
                flat = acts.flatten(2).mean(2) if acts.dim() > 2 else acts
                owner = np.array([label_of(i, nm) for i, nm in zip(idx, names)])
            if keep_p is None:  # a sample drawn while streaming: about 2 * max_points candidates in all
                keep_p = min(1.0, 2.0 * max_points / max(1, size * len(flat) // max(1, len(idx))))
            fired = flat.abs().sum(1) > 0
            chosen = fired.numpy() & (rng.random(len(flat)) < keep_p)
            vectors.append(flat[torch.from_numpy(chosen)])
            labels.append(owner[chosen])
    if not vectors or sum(len(v) for v in vectors) == 0:
        raise VizcnnError(f"layer {layer.name!r} has no non-zero activation on {source!r}; nothing to lay out.")
    x, y = torch.cat(vectors), np.concatenate(labels)
    if len(x) > max_points:
        pick = np.sort(rng.choice(len(x), max_points, replace=False))
        x, y = x[torch.from_numpy(pick)], y[pick]
    return x, y, list(classes), source  # class names, or folder names in order of appearance


def _embed(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    """``(N, 2)`` embedding of ``(N, C)`` vectors, scaled to [0, 1) (the outer 1% on each side clipped to the edge)."""
    if method == "umap":
        import umap

        with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": seeded runs are serial
            warnings.simplefilter("ignore", UserWarning)
            points = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=seed).fit_transform(x)
    else:
        from sklearn.manifold import TSNE

        points = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3))).fit_transform(x)
    points = points.astype(np.float64)  # float32 would round 1 - 1e-9 up to 1
    lo, hi = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)  # a few outliers must not squeeze the rest
    return np.clip((points - lo) / np.where(hi > lo, hi - lo, 1.0), 0, 1 - 1e-9)


def activation_atlas(
    model: Model,
    layer: str,
    data: str | os.PathLike | Digits | None = None,
    *,
    method: Literal["umap", "tsne"] = "umap",
    grid: int = 10,
    min_count: int = 4,
    max_points: int = 5000,
    per_image: bool = False,
    fv_steps: int = 64,
    fv_size: int | None = None,
    batch: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> Atlas:
    """The activation atlas of ``layer`` over ``data`` (see the module docstring).

    Args:
        data: ``"sample"`` (the bundled 500 digits; the default for MNIST
            models), an MNIST IDX folder (its test split), or a folder of images
            (classes are their folder names).
        method: ``umap`` or ``tsne``.
        grid: cells per side.
        min_count: points a cell needs to be drawn.
        max_points: activation vectors kept (a seeded sample).
        per_image: one vector per image (mean over positions) instead of one per position.
        fv_steps: steps of each cell's feature visualization; 0 skips them.
        batch: cells rendered together in one optimization.
    """
    if method not in EMBEDDINGS:
        raise unknown_name("embedding", method, list(EMBEDDINGS))
    for name, value, low in (("grid", grid, 1), ("min_count", min_count, 1), ("max_points", max_points, 10),
                             ("fv_steps", fv_steps, 0), ("batch", batch, 1), ("seed", seed, 0)):  # fmt: skip
        if not isinstance(value, int) or value < low:
            raise VizcnnError(f"{name} must be a whole number of at least {low}, got {value!r}.")
    if grid > 64 or max_points > 200_000:
        raise VizcnnError(f"grid is at most 64 and max_points at most 200000 (got {grid} and {max_points}).")
    resolved = model.layer(layer)
    timings = {}
    start = time.perf_counter()
    x, y, classes, source = _collect(model, resolved, data, per_image=per_image, max_points=max_points,
                                     batch_size=256, seed=seed, progress=progress)  # fmt: skip
    timings["collect"] = time.perf_counter() - start
    if len(x) < 5:
        raise VizcnnError(f"only {len(x)} activation vectors to lay out; give more data.")
    start = time.perf_counter()
    points = _embed(x.numpy(), method, seed)
    timings["embed"] = time.perf_counter() - start
    rows, cols = (points[:, 1] * grid).astype(int), (points[:, 0] * grid).astype(int)
    cells = []
    for r in range(grid):
        for c in range(grid):
            inside = (rows == r) & (cols == c)
            count = int(inside.sum())
            if count < min_count:
                continue
            counts = np.bincount(y[inside])
            top = int(counts.argmax())
            cells.append(AtlasCell(r, c, count, x[torch.from_numpy(inside)].mean(0), classes[top] if top < len(classes) else str(top),
                                   float(counts[top]) / count))  # fmt: skip
    start = time.perf_counter()
    if cells and fv_steps > 0:
        images = render_directions(model, resolved.name, torch.stack([c.vector for c in cells]), fv_steps, fv_size,
                                   seed, batch)  # fmt: skip
        for cell, image in zip(cells, images):
            cell.image = image
    timings["render"] = time.perf_counter() - start
    return Atlas(model.name, resolved.name, method, grid, source, points, y, classes, cells, min_count, fv_steps, timings)
