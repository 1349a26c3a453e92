"""How accuracy falls as digits are rotated, sheared, zoomed and shifted.

Every deformation is an affine warp of a whole batch with
``torch.nn.functional.affine_grid``/``grid_sample`` (bilinear, zeros outside).
Template matching compares pixels in fixed places, so it falls fast; a CNN's
local filters, pooling and training augmentation make it degrade slowly.

    >>> from vizcnn import load_model
    >>> from vizcnn.data import mnist
    >>> from vizcnn.lesson import TemplateClassifier, robustness
    >>> digits = mnist("sample")
    >>> result = robustness(digits, {"template matching": TemplateClassifier.fit(digits),
    ...                              "mnist-cnn": load_model("mnist-cnn")})
    >>> result.save("robustness.png")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data import Digits
from ..errors import VizcnnError, expect, unknown_name
from ..evaluate import predict_digits
from ..models import Model
from ..draw.figure import PNGResult, figure_to_image, image_grid, to_uint8
from .templates import TemplateClassifier

__all__ = ["DEFORMATIONS", "Deformation", "Robustness", "deform", "deformation_examples", "robustness"]


@dataclass(frozen=True)
class Deformation:
    """One kind of warp: its parameter's meaning, the default values and the value that changes nothing."""

    name: str
    parameter: str
    values: tuple[float, ...]
    identity: float


def _steps(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(round(float(v), 6) for v in np.linspace(lo, hi, n))


DEFORMATIONS: dict[str, Deformation] = {
    d.name: d
    for d in (
        Deformation("rotation", "degrees, counter-clockwise", _steps(-60, 60, 9), 0.0),
        Deformation("shear", "horizontal shear factor (x += s * y)", _steps(-0.6, 0.6, 7), 0.0),
        Deformation("zoom", "scale factor (0.5 = half size)", _steps(0.5, 1.5, 9), 1.0),
        Deformation("translation", "pixels to the right", _steps(-8, 8, 9), 0.0),
    )
}


def _forward_matrix(kind: str, value: float) -> tuple[list[list[float]], list[float]]:
    """The warp in normalized coordinates (x right, y down, [-1, 1]): ``p' = A p + b``."""
    if kind == "rotation":
        a = math.radians(value)
        return [[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], [0.0, 0.0]
    if kind == "shear":
        return [[1.0, value], [0.0, 1.0]], [0.0, 0.0]
    if kind == "zoom":
        if value <= 0:
            raise VizcnnError(f"zoom must be a positive scale factor, got {value}.")
        return [[value, 0.0], [0.0, value]], [0.0, 0.0]
    if kind == "translation":
        return [[1.0, 0.0], [0.0, 1.0]], [2.0 * value / 28.0, 0.0]
    raise unknown_name("deformation", kind, list(DEFORMATIONS))


def deform(images: torch.Tensor, kind: str, value: float) -> torch.Tensor:
    """Warp every image of ``(N, C, H, W)`` by one deformation (see :data:`DEFORMATIONS`).

    ``grid_sample`` needs the inverse map (output pixel -> input pixel), so the
    forward warp ``A p + b`` becomes ``A^-1 (p - b)``.
    """
    a, b = _forward_matrix(kind, float(value))
    a_inv = torch.linalg.inv(torch.tensor(a, dtype=torch.float64))
    theta = torch.cat([a_inv, -(a_inv @ torch.tensor(b, dtype=torch.float64))[:, None]], 1)
    theta = theta.to(images.dtype).to(images.device).expand(images.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _predictor(method: Model | TemplateClassifier, batch_size: int):
    if isinstance(method, TemplateClassifier):
        return lambda x: method.predict(x).cpu()
    if isinstance(method, Model):
        return lambda x: predict_digits(method, x, batch_size=batch_size)
    raise VizcnnError(f"robustness compares vizcnn Models and TemplateClassifiers; got a {type(method).__name__}.")


@dataclass
class Robustness(PNGResult):
    """Accuracy of each method at each deformation value.

    Attributes:
        data: where the digits came from.
        n: number of digits per point.
        deformations: name -> the :class:`Deformation` measured (its ``values`` as measured).
        accuracy: deformation name -> method name -> one accuracy per value.
    """

    data: str
    n: int
    deformations: dict[str, Deformation]
    accuracy: dict[str, dict[str, list[float]]]

    @property
    def methods(self) -> list[str]:
        return list(next(iter(self.accuracy.values())))

    def as_dict(self) -> dict:
        return {
            "data": self.data,
            "n": self.n,
            "methods": self.methods,
            "deformations": {
                name: {"parameter": d.parameter, "values": list(d.values), "accuracy": self.accuracy[name]}
                for name, d in self.deformations.items()
            },
        }

    def table(self) -> str:
        """One block per deformation: a row per value, a column per method."""
        methods = self.methods
        w = max(10, *(len(m) for m in methods))
        lines = []
        for name, d in self.deformations.items():
            lines.append(f"{name} ({d.parameter}), {self.n} digits:")
            lines.append(f"  {'value':>8}  " + "  ".join(f"{m:>{w}}" for m in methods))
            for i, v in enumerate(d.values):
                lines.append(f"  {v:>8g}  " + "  ".join(f"{self.accuracy[name][m][i]:>{w}.1%}" for m in methods))
        return "\n".join(lines)

    def to_image(self) -> Image.Image:
        """One panel per deformation: accuracy against the parameter, a line per method."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k = len(self.deformations)
        cols = min(k, 2)
        rows = math.ceil(k / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), dpi=100, squeeze=False)
        for ax, (name, d) in zip(axes.flat, self.deformations.items()):
            for method, acc in self.accuracy[name].items():
                ax.plot(d.values, acc, marker="o", markersize=4, label=method)
            ax.axvline(d.identity, color="#bbb", lw=0.8, zorder=0)
            ax.set_ylim(0, 1.02)
            ax.set_title(name)
            ax.set_xlabel(d.parameter)
            ax.set_ylabel("accuracy")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[k:]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=8, loc="lower center")
        fig.suptitle(f"accuracy under deformation ({self.n} digits from {self.data})", fontsize=11)
        fig.tight_layout()
        return figure_to_image(fig)


def robustness(
    digits: Digits,
    methods: Mapping[str, Model | TemplateClassifier],
    deformations: Mapping[str, Sequence[float]] | Sequence[str] | None = None,
    *,
    batch_size: int = 1000,
    progress: bool = False,
) -> Robustness:
    """Accuracy of every method on every deformed copy of ``digits``.

    Args:
        digits: the test digits.
        methods: display name -> an MNIST :class:`~vizcnn.models.Model` or a fitted
            :class:`TemplateClassifier`.
        deformations: names from :data:`DEFORMATIONS` (default values), or
            name -> values; ``None`` for all four with their default values.
        batch_size: digits per forward pass.
        progress: a tqdm bar on stderr over the (deformation, value) points.
    """
    from ..progress import progress_bar

    expect(digits, Digits, "digits", "a Digits, e.g. vizcnn.data.mnist('sample')")
    expect(methods, dict, "methods", "a dict of display name -> Model or TemplateClassifier")
    if not methods:
        raise VizcnnError("robustness needs at least one method to compare.")
    if deformations is None:
        deformations = list(DEFORMATIONS)
    if not isinstance(deformations, Mapping):
        deformations = {name: (DEFORMATIONS[name].values if name in DEFORMATIONS else ()) for name in deformations}
    chosen: dict[str, Deformation] = {}
    for name, values in deformations.items():
        if name not in DEFORMATIONS:
            raise unknown_name("deformation", name, list(DEFORMATIONS))
        base = DEFORMATIONS[name]
        chosen[name] = Deformation(name, base.parameter, tuple(float(v) for v in values), base.identity)
    predict = {m: _predictor(obj, batch_size) for m, obj in methods.items()}
    x, y = digits.tensors()
    points = [(name, v) for name, d in chosen.items() for v in d.values]
    accuracy = {name: {m: [] for m in methods} for name in chosen}
    for name, value in progress_bar(points, desc="robustness", unit="point", file=sys.stderr, disable=not progress, leave=False):
        warped = deform(x, name, value)
        for m, fn in predict.items():
            accuracy[name][m].append(round(float((fn(warped) == y).float().mean()), 6))
    return Robustness(digits.source, len(y), chosen, accuracy)


def deformation_examples(image: torch.Tensor | np.ndarray, deformations: Sequence[str] | None = None) -> Image.Image:
    """One digit ``(28, 28)`` under each deformation value: a row per deformation."""
    x = torch.as_tensor(np.asarray(image)).float()
    x = (x / 255 if x.max() > 1 else x).reshape(1, 1, 28, 28)
    tiles, labels = [], []
    names = list(deformations or DEFORMATIONS)
    width = max(len(DEFORMATIONS[n].values) for n in names)
    for name in names:
        d = DEFORMATIONS[name]
        for i in range(width):
            if i < len(d.values):
                tiles.append(to_uint8(deform(x, name, d.values[i])[0, 0], vmin=0, vmax=1))
                labels.append(f"{name} {d.values[i]:g}")
            else:
                tiles.append(np.full((28, 28), 255, np.uint8))
                labels.append("")
    return image_grid(tiles, labels, ncols=width, tile_size=84)
