"""Classification by matching templates: one filter per digit, the lecture's baseline.

Each template is the mean of the training digits of one class. A digit is
scored against every template by normalized correlation (both centred and
scaled to unit length, so thick and thin strokes score alike) or by the plain
dot product, and gets the class of the best score. It is a one-layer network
whose ten filters cover the whole image: it works on centred, upright digits
and breaks as soon as a digit moves, turns or changes size (see
:mod:`vizcnn.lesson.robustness`).

    >>> from vizcnn.data import mnist
    >>> clf = TemplateClassifier.fit(mnist("sample"))
    >>> clf.explain(mnist("sample").images[0]).predicted
    '0'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data import Digits
from ..errors import expect, VizcnnError
from ..draw.figure import draw_text, font, image_grid, PNGResult, to_uint8

__all__ = ["Method", "TemplateClassifier", "TemplateScores"]

Method = Literal["correlation", "dot"]
DIGITS = tuple(str(d) for d in range(10))


def _as_batch(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(28, 28)``, ``(N, 28, 28)`` or ``(N, 1, 28, 28)``; uint8 is scaled to [0, 1] -> ``(N, 784)`` floats."""
    x = torch.as_tensor(np.asarray(images) if isinstance(images, np.ndarray) else images)
    x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
    if x.ndim == 2:
        x = x[None]
    return x.reshape(x.shape[0], -1)


def _centre(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


@dataclass
class TemplateClassifier(PNGResult):
    """Ten templates ``(10, 28, 28)`` in [0, 1] and the score used to compare.

    Build it with :meth:`fit`. Draws itself as the row of templates.
    """

    templates: torch.Tensor = field(repr=False)
    source: str
    method: Method = "correlation"

    def __post_init__(self) -> None:
        if self.method not in get_args(Method):
            raise VizcnnError(f"unknown template score {self.method!r}; use one of {', '.join(get_args(Method))}.")

    @classmethod
    def fit(cls, digits: Digits, method: Method = "correlation") -> TemplateClassifier:
        """Average the digits of each class.

        Raises:
            VizcnnError: a class has no digits to average.
        """
        expect(digits, Digits, "digits", "a Digits, e.g. vizcnn.data.mnist('sample')")
        x = _as_batch(digits.images)
        y = torch.as_tensor(digits.labels)
        missing = [d for d in range(10) if not (y == d).any()]
        if missing:
            raise VizcnnError(f"cannot build templates: {digits.source} has no digits of class {missing[0]}.")
        means = torch.stack([x[y == d].mean(0) for d in range(10)]).reshape(10, 28, 28)
        return cls(means, f"class means of {len(y)} digits from {digits.source}", method)

    def scores(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``(N, 10)`` scores of each image against each template; higher is a better match."""
        x = _as_batch(images).to(self.templates.device)
        t = self.templates.reshape(10, -1)
        if self.method == "correlation":
            return _centre(x) @ _centre(t).T
        return x @ t.T

    def predict(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``(N,)`` the class of the best-matching template."""
        return self.scores(images).argmax(1)

    def accuracy(self, digits: Digits) -> float:
        return float((self.predict(digits.images).cpu() == torch.as_tensor(digits.labels)).double().mean())

    def explain(self, image: torch.Tensor | np.ndarray, label: int | None = None) -> TemplateScores:
        """The scores of one digit ``(28, 28)`` against each template, as a drawable table."""
        x = _as_batch(image)
        if x.shape != (1, 784):
            raise VizcnnError(f"template matching takes one 28x28 digit, got {x.shape[0]} image(s) of {x.shape[1]} pixels.")
        return TemplateScores(x.reshape(28, 28), self.scores(x)[0].cpu(), self.templates.cpu(), self.method, label)

    def to_image(self) -> Image.Image:
        tiles = [to_uint8(t, vmin=0, vmax=float(self.templates.max())) for t in self.templates]
        return image_grid(tiles, list(DIGITS), ncols=10, tile_size=84, title=f"templates: {self.source}")


@dataclass
class TemplateScores(PNGResult):
    """One digit's score against each template (the lecture's table of responses).

    Attributes:
        image: ``(28, 28)`` the digit in [0, 1].
        scores: ``(10,)`` one score per template.
        templates: ``(10, 28, 28)``.
        method: ``correlation`` or ``dot``.
        label: the true class, when known.
    """

    image: torch.Tensor = field(repr=False)
    scores: torch.Tensor
    templates: torch.Tensor = field(repr=False)
    method: str
    label: int | None = None

    @property
    def predicted(self) -> str:
        return DIGITS[int(self.scores.argmax())]

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "label": self.label,
            "predicted": int(self.predicted),
            "scores": {d: round(float(s), 6) for d, s in zip(DIGITS, self.scores)},
        }

    def table(self) -> str:
        """The scores as text, best first marked with ``<``."""
        best = int(self.scores.argmax())
        head = f"digit (true class {self.label})" if self.label is not None else "digit"
        lines = [f"{head} against each template ({self.method}):"]
        for d, s in enumerate(self.scores.tolist()):
            lines.append(f"  template {d}: {s:8.3f}{'  < best' if d == best else ''}")
        return "\n".join(lines)

    def to_image(self) -> Image.Image:
        """The digit, then each template with its score; the best one framed in green."""
        size, pad = 84, 6
        fnt, big = font(13), font(15)
        width = pad + (size + pad) * 11
        height = 26 + size + 40
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        title = f"{self.method} with each template: predicted {self.predicted}"
        if self.label is not None:
            title += f" (true {self.label})"
        draw_text(draw, (pad, 4), title, font=big, fill=(0, 0, 0))
        best = int(self.scores.argmax())
        vmax = float(self.templates.max())
        tiles = [to_uint8(self.image, vmin=0, vmax=1)] + [to_uint8(t, vmin=0, vmax=vmax) for t in self.templates]
        labels = ["input"] + [f"{d}: {s:.3f}" for d, s in enumerate(self.scores.tolist())]
        for i, (tile, text) in enumerate(zip(tiles, labels)):
            x, y = pad + i * (size + pad), 26
            canvas.paste(Image.fromarray(tile).convert("RGB").resize((size, size), Image.NEAREST), (x, y))
            if i - 1 == best:
                draw.rectangle([x - 3, y - 3, x + size + 2, y + size + 2], outline=(10, 125, 50), width=3)
            tw = draw.textlength(text, font=fnt)
            draw_text(draw, (x + (size - tw) / 2, y + size + 6), text, font=fnt, fill=(10, 125, 50) if i - 1 == best else (0, 0, 0))
        return canvas
