"""Render settings that fit the layer and the image size: objective, transforms, regularizers.

A channel's mean activation is the right objective deep in a network, but for
a layer that is an affine function of the image (a first convolution, with or
without the BatchNorm after it) it is degenerate: the mean over all positions
depends almost only on the image's mean brightness, so its optimum is a flat
square. There the default is the channel's centre unit, whose best input
under the [0, 1] pixel box is known in closed form (the filter's sign
pattern), and no transforms (they blur that pattern: on mnist-cnn's conv1,
16 of 16 renders match their filter at r >= 0.7 without them, 6 of 16 with
lucid's). The post-ReLU channel mean was the other candidate; it matched 5
of 16 and is not used. The table in the README has the numbers.

Small images (below 64 px, the MNIST models) get lighter transforms and a
smaller diversity weight, tuned on ``benchmarks/optvis_quality.py``, and a
linear layer's units there start from the mean input (black: lenet read 27
of 30 mnist-cnn class renders so started as their class, 21 of 30 started
from the better plain image). Large ones keep lucid's standard transforms
and diversity weight and no regularizers (not re-tuned at 224 px: there are
no ImageNet weights here), with a learning rate of 0.2 instead of lucid's
0.05, which reaches the same objective in fewer steps: on AlexNet conv1..conv5
at 128 px, the final objective lucent reaches in 256 steps took vizcnn about
64 to 128 steps at 0.2, 256 at 0.05 (``benchmarks/optvis_vs_lucent.py --ttq``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import nn

from ..models.layers import forward_order, is_kind
from .objectives import POSITIONS, Objective, blur, l1, l2, total_variation
from .transforms import Transforms, light, standard

__all__ = ["Recipe", "is_affine_in_image", "recipe_for"]

#: Modules that keep a network affine in its input (in eval mode).
_AFFINE = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten, nn.Dropout, nn.Identity, nn.AvgPool2d)

#: Images below this side get the small-image settings.
SMALL = 64

#: Adam's learning rate from SMALL px up (see the module docstring); below, lucid's 0.05.
LARGE_LR = 0.2

#: Readable name of each position, for captions.
POSITION_NAMES = {"mean": "channel mean", "centre": "centre neuron"}


@dataclass(frozen=True)
class Recipe:
    """Everything about a render besides steps, size and seed.

    Attributes:
        position: ``mean`` (the channel's mean activation) or ``centre`` (its centre unit).
        why: a few words on why ``position`` was chosen, for captions.
        param: parameterization (any kind :func:`vizcnn.optvis.param.make` knows).
        transforms: robustness transforms, or ``None``.
        lr: Adam learning rate.
        start: ``best`` (the better of the two plain images, per image), ``mean`` (the model's mean input) or ``grey``.
        tv, l1, l2, blur: weights of the regularizers subtracted from the objective.
        diversity: weight of lucid's diversity term when several images per channel are asked for.
    """

    position: str = "mean"
    why: str = ""
    param: str = "fourier"
    transforms: Transforms | None = None
    lr: float = 0.05
    start: str = "best"
    tv: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    blur: float = 0.0
    diversity: float = 100.0

    def __post_init__(self) -> None:
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, not {self.position!r}.")
        for name in ("tv", "l1", "l2", "blur", "diversity"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"the {name} weight must be 0 or more, not {getattr(self, name)}.")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, not {self.lr}.")

    def replace(self, **changes) -> Recipe:
        """A copy with the fields in ``changes`` that are not ``None`` replaced (``transforms="none"``: none)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if isinstance(changes.get("transforms"), str):
            if changes["transforms"] != "none":
                raise ValueError(f"transforms must be a Transforms or 'none', not {changes['transforms']!r}.")
            changes["transforms"] = None
        if changes.get("position", self.position) != self.position:
            changes.setdefault("why", "")  # the reason was for the default position
        return dataclasses.replace(self, **changes)

    def penalty(self) -> Objective | None:
        """The weighted sum of the regularizers in use, or ``None``."""
        terms = [(w, f()) for w, f in ((self.tv, total_variation), (self.l1, l1), (self.l2, l2), (self.blur, blur))]
        used = [w * t for w, t in terms if w > 0]
        return sum(used[1:], used[0]) if used else None

    @property
    def caption(self) -> str:
        """The objective as a caption says it: ``centre neuron (affine in the image)``."""
        return POSITION_NAMES[self.position] + (f" ({self.why})" if self.why else "")


def is_affine_in_image(model, layer: str) -> bool:
    """Is ``layer``'s output an affine function of the image (no nonlinearity runs before it)?"""
    target = model.layer(layer).module
    for _path, module, _shape in forward_order(model.net, model.input.shape):
        if not is_kind(module, _AFFINE):
            return False
        if module is target:
            return True
    return False


def recipe_for(model, layer: str, size: int) -> Recipe:
    """The default recipe for channels of ``layer`` rendered at ``size`` px (see the module docstring)."""
    small = size < SMALL
    param = model.default_param([layer])  # the learned prior for the MNIST models' class logits
    base = (
        Recipe(param=param, transforms=light(size), diversity=1.0)
        if small
        else Recipe(param=param, transforms=standard(size), lr=LARGE_LR)
    )  # fmt: skip
    module = model.layer(layer).module
    if is_kind(module, (nn.Linear, nn.BatchNorm1d)):
        # class renders of mnist-cnn read by lenet: 27/30 started from the mean input (black), 21/30 from "best"
        return base.replace(why="a unit of a linear layer", start="mean" if small else base.start)
    if is_affine_in_image(model, layer):
        return dataclasses.replace(base, position="centre", why="affine in the image", transforms=None)
    return base
