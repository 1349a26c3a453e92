"""Accuracy of an MNIST model: overall, per class, and the confusion matrix.

    >>> from vizcnn import load_model
    >>> from vizcnn.data import mnist
    >>> result = evaluate(load_model("mnist-cnn"), mnist("sample"))
    >>> result.n
    500
    >>> result.save("confusion.png")  # doctest: +SKIP

The result draws itself (the confusion matrix) in a notebook, saves as PNG
and turns into JSON with :meth:`Evaluation.as_dict`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .data import Digits
from .errors import expect, expect_int, VizcnnError
from .progress import progress_bar
from .models import Model
from .draw.figure import PNGResult, figure_to_image

__all__ = ["Evaluation", "evaluate", "predict_digits"]


@dataclass
class Evaluation(PNGResult):
    """Labels and predictions of one model on one set of digits.

    Attributes:
        model: the model's name.
        data: where the digits came from.
        classes: class names, index = label.
        labels: ``(N,)`` true labels.
        predictions: ``(N,)`` predicted labels.
    """

    model: str
    data: str
    classes: Sequence[str]
    labels: np.ndarray = field(repr=False)
    predictions: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        return float((self.labels == self.predictions).mean())

    @property
    def confusion(self) -> np.ndarray:
        """``(K, K)`` counts: row = true class, column = predicted class."""
        k = len(self.classes)
        return np.bincount(self.labels * k + self.predictions, minlength=k * k).reshape(k, k)

    @property
    def per_class(self) -> dict[str, float | None]:
        """Accuracy on the digits of each true class (``None`` for a class absent from the data)."""
        m = self.confusion
        totals = m.sum(1)
        return {c: (float(m[i, i] / totals[i]) if totals[i] else None) for i, c in enumerate(self.classes)}

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "data": self.data,
            "n": self.n,
            "accuracy": self.accuracy,
            "per_class": self.per_class,
            "confusion": self.confusion.tolist(),
        }

    def to_image(self) -> Image.Image:
        """The confusion matrix with counts, per-class accuracy on the right."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        m = self.confusion
        k = len(self.classes)
        fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
        shown = np.log1p(m)
        ax.imshow(shown, cmap="Blues")
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    dark = shown[i, j] > 0.6 * shown.max()
                    ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8, color="white" if dark else "black")
        per = self.per_class
        ax.set_xticks(range(k), self.classes)
        ax.set_yticks(range(k), [f"{c}  ({per[c]:.1%})" if per[c] is not None else c for c in self.classes])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true (per-class accuracy)")
        ax.set_title(f"{self.model}: accuracy {self.accuracy:.2%} on {self.n} digits")
        return figure_to_image(fig)

    def _repr_html_(self) -> str:
        from .draw.html import data_uri, render_template

        return render_template("evaluation.html", result=self.as_dict(), image=data_uri(self.to_image()))


@torch.no_grad()
def predict_digits(model: Model, images: torch.Tensor, *, batch_size: int = 1000, progress: bool = False) -> torch.Tensor:
    """Class predictions ``(N,)`` for pixels ``(N, 1, 28, 28)`` in [0, 1], batch by batch on the model's device.

    A tqdm bar on stderr counts the batches when ``progress`` is true.
    """
    if tuple(images.shape[1:]) != tuple(model.input.shape):
        raise VizcnnError(
            f"{model.name} takes {'x'.join(map(str, model.input.shape))} inputs, these digits are "
            f"{'x'.join(map(str, images.shape[1:]))}. Evaluate an MNIST model (mnist-cnn, lenet)."
        )
    out = []
    starts = range(0, len(images), batch_size)
    for i in progress_bar(starts, desc=f"{model.name}", unit="batch", file=sys.stderr, disable=not progress, leave=False):
        x = model.input.normalize(images[i : i + batch_size].to(model.device))
        out.append(model(x).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def evaluate(model: Model, digits: Digits, *, batch_size: int = 1000, progress: bool = False) -> Evaluation:
    """Run ``model`` on every digit and compare with the labels.

    Raises:
        VizcnnError: the model does not take 1x28x28 digits or has not 10 classes; no digits.
        TypeError: ``model`` or ``digits`` of the wrong type.
    """
    expect(model, Model, "model", "a Model from vizcnn.load_model(...)")
    expect(digits, Digits, "digits", "a Digits, e.g. vizcnn.data.mnist('sample') or vizcnn.data.mnist(DIR)")
    expect_int(batch_size, "batch_size", 1)
    if len(digits) == 0:
        raise VizcnnError(f"{digits.source} holds no digits; there is nothing to evaluate.")
    if len(model.categories) != 10:
        raise VizcnnError(f"{model.name} has {len(model.categories)} classes, MNIST has 10. Evaluate mnist-cnn or lenet.")
    x, y = digits.tensors()
    pred = predict_digits(model, x, batch_size=batch_size, progress=progress)
    return Evaluation(model.name, digits.source, list(model.categories), y.numpy(), pred.numpy())
