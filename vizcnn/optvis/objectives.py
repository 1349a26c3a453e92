"""Objectives for feature visualization: small composable objects, as in lucid/lucent.

An :class:`Objective` maps the captured activations of a batch to one value
per batch element (higher = more of what we want). The optimizer maximizes the
sum over the batch; the per-element values are what a render reports. Layers
are named as everywhere in vizcnn (``conv3``, ``fc8``, ``features.6``) and
resolved when the objective is rendered against a model, so the same
objective object works for any model that has those layers.

    >>> obj = channel("conv3", 5) - 0.5 * channel("conv3", 9)
    >>> obj.layers
    ('conv3',)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import VizcnnError
from ..models.model import OUTPUT

__all__ = [
    "IMAGE", "OUTPUT", "Objective", "blur", "channel", "channels_per_image", "class_logit", "direction", "diversity",
    "l1", "l2", "neuron", "total_variation",
]  # fmt: skip

#: Pseudo-layer name for the image being optimized: ``(N, C, H, W)`` in [0, 1], before the transforms.
IMAGE = "<image>"

#: ``fn(acts, model) -> (N,)``: captured activations by layer name -> value per batch element.
ObjectiveFn = Callable[[Mapping[str, torch.Tensor], object], torch.Tensor]


class Objective:
    """A differentiable value per batch element, built from layer activations.

    Objectives combine with ``+``, ``-``, ``*``/``/`` by a number and unary
    ``-``; the result needs the union of the layers of its parts.

    Attributes:
        layers: layer names this objective reads (:data:`OUTPUT` for the logits).
        description: readable form, e.g. ``channel(conv3, 5)``.
        via_input: optional shortcut, ``via_input(module)`` -> a function that
            computes the same values from the layer's *input* (or ``None`` when
            it cannot for that module); see :func:`channels_per_image`.
    """

    def __init__(
        self,
        fn: ObjectiveFn,
        layers: Sequence[str],
        description: str,
        via_input: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor] | None] | None = None,
    ) -> None:
        self.fn = fn
        self.layers = tuple(dict.fromkeys(layers))
        self.description = description
        self.via_input = via_input

    def __call__(self, acts: Mapping[str, torch.Tensor], model=None) -> torch.Tensor:
        """Values ``(N,)`` for the activations in ``acts`` (layer name -> tensor)."""
        return self.fn(acts, model)

    def __repr__(self) -> str:
        return f"Objective({self.description})"

    def __add__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            return Objective(lambda a, m: self(a, m) + other, self.layers, f"{self.description} + {other}")
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(
            lambda a, m: self(a, m) + other(a, m), self.layers + other.layers, f"{self.description} + {other.description}"
        )

    __radd__ = __add__

    def __mul__(self, k: float) -> Objective:
        if not isinstance(k, (int, float)):
            raise TypeError(f"an objective can be multiplied by a number only, not {type(k).__name__}")
        return Objective(lambda a, m: k * self(a, m), self.layers, f"{k:g} * {_wrap(self.description)}")

    __rmul__ = __mul__

    def __truediv__(self, k: float) -> Objective:
        if not isinstance(k, (int, float)):
            raise TypeError(f"an objective can be divided by a number only, not {type(k).__name__}")
        return self * (1.0 / k)

    def __neg__(self) -> Objective:
        return Objective(lambda a, m: -self(a, m), self.layers, f"-{_wrap(self.description)}")

    def __sub__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            return self + (-other)
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(
            lambda a, m: self(a, m) - other(a, m), self.layers + other.layers,
            f"{self.description} - {_wrap(other.description)}",
        )  # fmt: skip

    def __rsub__(self, other: float) -> Objective:
        return (-self) + other


def _wrap(description: str) -> str:
    """Parenthesize a sum or difference so that ``k * (a + b)`` reads right."""
    return f"({description})" if " + " in description or " - " in description else description


def _only(values: torch.Tensor, batch: int | None) -> torch.Tensor:
    """Keep element ``batch`` of ``values`` (N,), zero the others; all when ``batch`` is None."""
    if batch is None:
        return values
    if not -values.shape[0] <= batch < values.shape[0]:
        raise VizcnnError(f"batch index {batch} is out of range for a batch of {values.shape[0]} images.")
    mask = torch.zeros_like(values)
    mask[batch] = 1
    return values * mask


def _channel_of(t: torch.Tensor, layer: str, n: int) -> torch.Tensor:
    if not 0 <= n < t.shape[1]:
        raise VizcnnError(
            f"channel {n} is out of range: layer {layer} has {t.shape[1]} channels (0-{t.shape[1] - 1})."
        )
    return t[:, n]


def _tag(batch: int | None) -> str:
    return "" if batch is None else f", batch={batch}"


def channel(layer: str, n: int, batch: int | None = None) -> Objective:
    """Mean activation of channel ``n`` of ``layer`` over all positions.

    For a fully connected layer (``(N, C)`` output) it is unit ``n`` itself.
    ``batch=i`` restricts the objective to batch element ``i``.
    """

    def fn(acts, _model):
        c = _channel_of(acts[layer], layer, n)
        return _only(c.reshape(c.shape[0], -1).mean(1), batch)

    return Objective(fn, [layer], f"channel({layer}, {n}{_tag(batch)})")


def neuron(layer: str, n: int, x: int | None = None, y: int | None = None, batch: int | None = None) -> Objective:
    """Activation of channel ``n`` at one position (the centre unit, ``H // 2, W // 2``, by default)."""

    def fn(acts, _model):
        c = _channel_of(acts[layer], layer, n)
        if c.dim() == 1:
            return _only(c, batch)
        h, w = c.shape[-2:]
        yy, xx = (h // 2 if y is None else y), (w // 2 if x is None else x)
        if not (0 <= yy < h and 0 <= xx < w):
            raise VizcnnError(f"position x={xx}, y={yy} is outside layer {layer}'s {w}x{h} map.")
        return _only(c[:, yy, xx], batch)

    return Objective(fn, [layer], f"neuron({layer}, {n}, x={x}, y={y}{_tag(batch)})")


def direction(layer: str, vector: torch.Tensor | Sequence[float], batch: int | None = None) -> Objective:
    """Dot product of the activation vector at each position with ``vector`` ``(C,)``, averaged over positions."""
    v = torch.as_tensor(vector, dtype=torch.float32).flatten()

    def fn(acts, _model):
        t = acts[layer]
        if t.shape[1] != v.numel():
            raise VizcnnError(f"direction has {v.numel()} entries but layer {layer} has {t.shape[1]} channels.")
        w = v.to(t.device, t.dtype).view(1, -1, *([1] * (t.dim() - 2)))
        return _only((t * w).sum(1).reshape(t.shape[0], -1).mean(1), batch)  # (N,) for a linear layer too

    return Objective(fn, [layer], f"direction({layer}, {v.numel()}-vector{_tag(batch)})")


def class_logit(target: str | int, batch: int | None = None) -> Objective:
    """The network's output unit for a class (name or index, resolved by ``model.class_index``)."""

    def fn(acts, model):
        logits = acts[OUTPUT]
        index = model.class_index(target) if model is not None else int(target)
        return _only(logits[:, index], batch)

    return Objective(fn, [OUTPUT], f"class_logit({target!r}{_tag(batch)})")


#: Where a channel is read: its mean over all positions, or its centre unit (``H // 2, W // 2``).
POSITIONS = ("mean", "centre")


def _at(t: torch.Tensor, position: str) -> torch.Tensor:
    """``(N, ...)`` one channel per image -> ``(N,)`` at ``position``."""
    if t.dim() > 1 and position == "centre":
        return t[:, t.shape[1] // 2, t.shape[2] // 2]
    return t.reshape(t.shape[0], -1).mean(1)


def channels_per_image(layer: str, channels: Sequence[int], position: str = "mean") -> Objective:
    """Image ``i`` maximizes channel ``channels[i]`` of ``layer``: the batched form of
    ``sum(channel(layer, c, batch=i) for i, c in enumerate(channels))``, one gather for all
    (with ``position="centre"``, of :func:`neuron` at the centre unit).

    For a ``Conv2d`` or ``Linear`` layer it also computes the same values from
    the layer's input with only the filters it needs (one grouped convolution
    with filter ``channels[i]`` for image ``i``), so the render never computes
    the layer's other channels, forward or backward.
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {', '.join(POSITIONS)}, not {position!r}.")
    rows = [int(c) for c in channels]
    index: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # built at the first call

    def fn(acts, _model):
        t = acts[layer]
        if t.device not in index:
            if t.shape[0] != len(rows):
                raise VizcnnError(f"{len(rows)} channels for a batch of {t.shape[0]} images.")
            for c in rows:
                _channel_of(t, layer, c)
            index[t.device] = (torch.arange(len(rows), device=t.device), torch.tensor(rows, device=t.device))
        return _at(t[index[t.device]], position)

    def via_input(module: nn.Module):
        plain_conv = isinstance(module, nn.Conv2d) and module.groups == 1 and module.padding_mode == "zeros"
        if not (plain_conv or isinstance(module, nn.Linear)) or max(rows) >= module.weight.shape[0]:
            return None
        sel = torch.tensor(rows, device=module.weight.device)
        weight = module.weight.detach()[sel]
        bias = module.bias.detach()[sel] if module.bias is not None else None

        def from_input(x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] != len(rows):
                raise VizcnnError(f"{len(rows)} channels for a batch of {x.shape[0]} images.")
            if isinstance(module, nn.Linear):
                return _at((x * weight).sum(-1) + (bias if bias is not None else 0), position)
            out = F.conv2d(
                x.reshape(1, -1, *x.shape[2:]), weight, bias, module.stride, module.padding, module.dilation, len(rows)
            )
            return _at(out[0], position)

        return from_input

    where = "" if position == "mean" else f", {position}"
    return Objective(
        fn, [layer], f"channels({layer}, {rows[:4]}{'...' if len(rows) > 4 else ''}{where})", via_input
    )  # fmt: skip


def diversity(layer: str, groups: int = 1) -> Objective:
    """Lucid's diversity term: how alike the batch elements' Gram matrices at ``layer`` are.

    Element ``i`` gets ``sum_{j != i} <G_i, G_j> / n`` over the ``n`` other
    elements of its group, each Gram matrix L2-normalized, so the values sum
    to lucid's diversity. ``groups`` splits the batch into that many equal
    consecutive groups (one per channel when rendering several channels with
    several samples each). It measures similarity: subtract it
    (``channel(...) - 100 * diversity(...)``) to push the images apart, as in lucid.
    """

    def fn(acts, _model):
        t = acts[layer]
        n = t.shape[0] // groups
        if n * groups != t.shape[0]:
            raise VizcnnError(f"a batch of {t.shape[0]} images does not split into {groups} equal groups.")
        flat = t.flatten(2) if t.dim() > 2 else t.unsqueeze(-1)
        grams = F.normalize(torch.bmm(flat, flat.transpose(1, 2)).flatten(1), p=2, dim=1).view(groups, n, -1)
        sims = grams @ grams.transpose(1, 2)
        return ((sims.sum(2) - sims.diagonal(dim1=1, dim2=2)) / n).flatten()

    return Objective(fn, [layer], f"diversity({layer}{'' if groups == 1 else f', groups={groups}'})")


# -- regularizers: terms on the image itself, subtracted from an objective (lucid's names) --------------


def _image(acts) -> torch.Tensor:
    return acts[IMAGE]


def _reference(model, image: torch.Tensor, constant: float | None) -> torch.Tensor | float:
    """``constant``, or the model's mean input (what normalizes to zero: black for MNIST digits)."""
    if constant is not None:
        return constant
    mean = getattr(getattr(model, "input", None), "mean", None)
    if mean is None:
        return 0.5
    return torch.tensor(mean, device=image.device, dtype=image.dtype).view(1, -1, 1, 1)


def total_variation() -> Objective:
    """Mean absolute difference of neighbouring pixels per image: high for noise and stripes."""

    def fn(acts, _model):
        x = _image(acts)
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
        dx = (x[..., 1:] - x[..., :-1]).abs().flatten(1).mean(1)
        return dx + dy

    return Objective(fn, [IMAGE], "total_variation()")


def l1(constant: float | None = None) -> Objective:
    """Mean ``|pixel - constant|`` per image; ``None``: the model's mean input (black for MNIST)."""

    def fn(acts, model):
        x = _image(acts)
        return (x - _reference(model, x, constant)).abs().flatten(1).mean(1)

    return Objective(fn, [IMAGE], f"l1({'' if constant is None else constant})")


def l2(constant: float | None = None) -> Objective:
    """Mean ``(pixel - constant)^2`` per image; ``None``: the model's mean input."""

    def fn(acts, model):
        x = _image(acts)
        return (x - _reference(model, x, constant)).pow(2).flatten(1).mean(1)

    return Objective(fn, [IMAGE], f"l2({'' if constant is None else constant})")


def blur() -> Objective:
    """Lucid's ``blur_input_each_step``: half the mean squared distance to the image blurred by a
    3x3 box filter, the blurred image held fixed. Subtracting it pulls each step towards its blur."""

    def fn(acts, _model):
        x = _image(acts)
        c = x.shape[1]
        box = torch.full((c, 1, 3, 3), 1 / 9, device=x.device, dtype=x.dtype)
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), box, groups=c).detach()
        return 0.5 * (x - blurred).pow(2).flatten(1).mean(1)

    return Objective(fn, [IMAGE], "blur()")
