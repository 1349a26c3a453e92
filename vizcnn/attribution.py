"""Channel attribution: which channels of a hidden layer support a class (or one class over another).

Built on captum's layer attribution methods, after Distill's *Building Blocks
of Interpretability* (Olah et al., 2018). The objective is one scalar per
image: the target's logit, or for a contrast ``target - vs`` the difference
of two logits, computed by :class:`ClassContrast` so that captum runs once.

    >>> attr = ChannelAttribution(model, "conv2").attribute(image, target="4", vs="9")
    >>> attr.top(5)                  # [(channel, attribution), ...] most supporting first
    >>> attr.channels, attr.spatial  # (C,) and (H, W): sums of attr.tensor (C, H, W)

:func:`randomization_check` is the model-randomization sanity check of
Adebayo et al. (2018): attributions must change when the weights do.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from captum.attr import LayerDeepLift, LayerGradCam, LayerGradientXActivation, LayerIntegratedGradients
from PIL import Image
from torch import nn

from .activations import check_model_layer, input_view
from .errors import VizcnnError, expect, expect_int, unknown_name
from .limits import activation_bytes, check_memory, check_seed
from .models.layers import forward_order
from .models.model import Model
from .draw.figure import DIVERGING, NEGATIVE, POSITIVE, PNGResult, figure_to_image, overlay

__all__ = [
    "METHODS",
    "METHOD_ALIASES",
    "Attribution",
    "ChannelAttribution",
    "ClassContrast",
    "MethodName",
    "RandomizationCheck",
    "as_input",
    "randomization_check",
    "resolve_method",
]

MethodName = Literal["LayerGradientXActivation", "LayerIntegratedGradients", "LayerGradCam", "LayerDeepLift"]

#: captum class name -> class. Methods with a baseline (IG, DeepLift) use a black image.
METHODS: dict[str, type] = {
    "LayerGradientXActivation": LayerGradientXActivation,
    "LayerIntegratedGradients": LayerIntegratedGradients,
    "LayerGradCam": LayerGradCam,
    "LayerDeepLift": LayerDeepLift,
}

#: Short names accepted by ``--method`` beside captum's class names.
METHOD_ALIASES: dict[str, str] = {
    "grad-x-act": "LayerGradientXActivation",
    "ig": "LayerIntegratedGradients",
    "integrated-gradients": "LayerIntegratedGradients",
    "grad-cam": "LayerGradCam",
    "deeplift": "LayerDeepLift",
}

_WITH_BASELINE = ("LayerIntegratedGradients", "LayerDeepLift")


def resolve_method(name: str) -> str:
    """A captum class name or short alias (any case) -> the captum class name."""
    lowered = {k.lower(): k for k in METHODS} | {k.lower(): v for k, v in METHOD_ALIASES.items()}
    if str(name).lower() in lowered:
        return lowered[str(name).lower()]
    raise unknown_name("attribution method", name, [*METHODS, *METHOD_ALIASES])


class ClassContrast(nn.Module):
    """``logit[target] - logit[vs]`` (or ``logit[target]``) per image: one scalar objective.

    Wrapping the network this way lets captum attribute a contrast in one run,
    and the contrast's attribution is exactly A's minus B's for linear methods.
    """

    def __init__(self, net: nn.Module, target: int, vs: int | None = None) -> None:
        super().__init__()
        self.net = net
        self.target = target
        self.vs = vs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        out = logits[:, self.target]
        return out - logits[:, self.vs] if self.vs is not None else out


def as_input(model: Model, image: Image.Image | torch.Tensor) -> tuple[torch.Tensor, Image.Image]:
    """A PIL image or a normalized ``(C, H, W)``/``(1, C, H, W)`` tensor -> (batch of one on the device, PIL view)."""
    if isinstance(image, Image.Image):
        x = model.preprocess(image)
    elif isinstance(image, torch.Tensor):
        x = image.detach().to(model.device, torch.float32)
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if tuple(x.shape) != (1, *model.input.shape):
            raise VizcnnError(
                f"expected one normalized image of shape {model.input.shape} for {model.name}, got {tuple(image.shape)}."
            )
    else:
        raise VizcnnError(
            f"expected a PIL image or a tensor, got {type(image).__name__}; load files with vizcnn.data.load_image."
        )
    return x, input_view(model, x)


def _black(model: Model, x: torch.Tensor) -> torch.Tensor:
    """The all-black image, normalized: the baseline of IG and DeepLift."""
    return model.input.normalize(torch.zeros_like(x))


@dataclass
class Attribution(PNGResult):
    """Attribution of one objective to one layer's units, for one image.

    Attributes:
        tensor: ``(C, H, W)`` attribution per channel and position (a fully
            connected layer is ``(C, 1, 1)``).
        logits: ``(classes,)`` the model's output for the image.
        objective: the attributed value, ``logit[target] - logit[vs]``.
        baseline_objective: the objective for the black baseline image
            (IG and DeepLift), else ``None``.
        delta: captum's convergence delta (IG and DeepLift): the sum of
            attributions minus ``objective - baseline_objective``.
        image: the input as the network sees it (after resizing and cropping).
    """

    model: str
    layer: str
    method: str
    target: int
    target_name: str
    vs: int | None
    vs_name: str | None
    tensor: torch.Tensor
    logits: torch.Tensor
    objective: float
    baseline_objective: float | None = None
    delta: float | None = None
    image: Image.Image | None = field(default=None, repr=False)

    @property
    def channels(self) -> torch.Tensor:
        """``(C,)`` each channel's total attribution (sum over positions)."""
        return self.tensor.sum(dim=(1, 2))

    @property
    def spatial(self) -> torch.Tensor:
        """``(H, W)`` each position's attribution (sum over channels)."""
        return self.tensor.sum(dim=0)

    @property
    def total(self) -> float:
        return float(self.tensor.sum())

    @property
    def label(self) -> str:
        """``'A'`` or ``'A' - 'B'``: what was attributed."""
        return f"{self.target_name}" if self.vs is None else f"{self.target_name} - {self.vs_name}"

    def top(self, k: int = 10, *, largest: bool = True) -> list[tuple[int, float]]:
        """The ``k`` channels with the largest (or, with ``largest=False``, most negative) attribution."""
        ch = self.channels
        k = min(k, ch.numel())
        values, idx = ch.topk(k, largest=largest)
        return [(int(i), float(v)) for i, v in zip(idx, values)]

    def _summary(self) -> dict[str, object]:
        return {"top": self.top(3), "bottom": self.top(3, largest=False)}

    def to_dict(self) -> dict:
        """JSON-ready summary: every channel, sorted by attribution (descending)."""
        order = self.channels.argsort(descending=True)
        ch = self.channels
        return {
            "model": self.model,
            "target": self.target_name,
            "target_index": self.target,
            "vs": self.vs_name,
            "vs_index": self.vs,
            "layer": self.layer,
            "method": self.method,
            "objective": self.objective,
            "total": self.total,
            "delta": self.delta,
            "channels": [{"channel": int(i), "attribution": float(ch[i])} for i in order],
        }

    def heatmap(self, channel: int | None = None) -> Image.Image:
        """The image with the spatial attribution (of one ``channel``, or of all) over it.

        The toolkit's one diverging convention (:data:`~vizcnn.draw.figure.DIVERGING`):
        blue supports the objective, red opposes it, zero is the image itself.
        """
        if self.image is None:
            raise VizcnnError("this attribution has no image to draw on.")
        heat = self.spatial if channel is None else self.tensor[channel]
        return overlay(self.image, heat, alpha=0.55, cmap=DIVERGING, symmetric=True)

    def to_image(self, k: int = 8) -> Image.Image:
        """The spatial attribution over the image (with its colour bar) beside a bar chart of the top and bottom channels."""
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.8), dpi=100)
        ax_img, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
        if self.image is not None:
            ax_img.imshow(self.heatmap().resize((224, 224), Image.NEAREST))
            m = float(self.spatial.abs().max()) or 1.0
            bar = fig.colorbar(ScalarMappable(Normalize(-m, m), cmap=DIVERGING), ax=ax_img, fraction=0.046, pad=0.04)
            bar.set_label("attribution per position (logit units)\nblue supports, red opposes", fontsize=8)
            bar.ax.tick_params(labelsize=7)
        ax_img.set_title(f"where: {self.label}", fontsize=9)
        ax_img.axis("off")
        rows = self.top(k) + self.top(k, largest=False)[::-1]
        seen: dict[int, float] = dict(rows)
        items = sorted(seen.items(), key=lambda kv: kv[1])
        ax_bar.barh(
            [f"ch {c}" for c, _ in items],
            [v for _, v in items],
            color=[POSITIVE if v >= 0 else NEGATIVE for _, v in items],
        )
        ax_bar.axvline(0, color="black", lw=0.6)
        ax_bar.tick_params(labelsize=7)
        ax_bar.set_xlabel("channel attribution, summed over positions (logit units)", fontsize=8)
        ax_bar.set_title(f"{self.layer} channels ({self.method}): blue supports, red opposes", fontsize=9)
        fig.tight_layout()
        return figure_to_image(fig)


def _check_target(target: object, vs: object) -> None:
    expect(target, (str, int), "target", "a class name or index")
    if vs is not None:
        expect(vs, (str, int), "vs", "a class name or index, or None")


class ChannelAttribution:
    """Attribute a class logit (or a contrast of two) to the units of one layer with a captum method.

    Args:
        model: the model; its weights are not changed.
        layer: friendly name, module path or module; attributions are to the layer's output.
        method: captum class name (see :data:`METHODS`) or short alias (:data:`METHOD_ALIASES`).
    """

    def __init__(self, model: Model, layer: str | nn.Module, method: str = "LayerGradientXActivation") -> None:
        check_model_layer(model, layer)
        expect(method, str, "method", f"a captum method name or alias: {', '.join([*METHODS, *METHOD_ALIASES])}")
        self.model = model
        self.layer = model.layer(layer)
        self.method = resolve_method(method)

    def attribute(
        self,
        image: Image.Image | torch.Tensor,
        target: str | int,
        *,
        vs: str | int | None = None,
        n_steps: int = 50,
    ) -> Attribution:
        """Attribute ``logit[target]`` (minus ``logit[vs]``) for one image to the layer's units.

        Args:
            image: a PIL image, or a normalized ``(C, H, W)`` or ``(1, C, H, W)`` tensor.
            target: class name (case-insensitive) or index.
            vs: class to contrast with; the objective is then ``logit[target] - logit[vs]``.
            n_steps: integration steps (integrated gradients only).
        """
        model = self.model
        _check_target(target, vs)
        expect_int(n_steps, "n_steps", 1)
        if self.method == "LayerIntegratedGradients":  # captum runs all the steps as one batch
            check_memory(
                3 * n_steps * activation_bytes(model.net, model.input.shape, model.device),
                f"integrated gradients with {n_steps} steps", "use fewer steps (--steps)", model.device,
            )  # fmt: skip
        a = model.class_index(target)
        b = model.class_index(vs) if vs is not None else None
        if b == a:
            raise VizcnnError(
                f"target and vs are the same class ({model.categories[a]!r}); pick two different classes."
            )
        x, view = as_input(model, image)
        objective = ClassContrast(model.net, a, b)
        algo = METHODS[self.method](objective, self.layer.module)
        baseline = _black(model, x) if self.method in _WITH_BASELINE else None
        delta = None
        if self.method == "LayerIntegratedGradients":
            attr, d = algo.attribute(
                x, baselines=baseline, n_steps=n_steps, return_convergence_delta=True, attribute_to_layer_input=False
            )
            delta = float(d.sum())
        elif self.method == "LayerDeepLift":
            attr, d = algo.attribute(
                x, baselines=baseline, return_convergence_delta=True, attribute_to_layer_input=False
            )
            delta = float(d.sum())
        elif self.method == "LayerGradCam":
            attr = algo.attribute(x, attribute_to_layer_input=False, attr_dim_summation=False)
        else:
            attr = algo.attribute(x, attribute_to_layer_input=False)
        with torch.no_grad():
            logits = model.net(x)[0]
            base_obj = float(objective(baseline)[0]) if baseline is not None else None
        tensor = attr.detach()[0].float().cpu()
        if tensor.dim() == 1:
            tensor = tensor.view(-1, 1, 1)
        elif tensor.dim() != 3:
            raise VizcnnError(
                f"layer {self.layer.name!r} has output shape {tuple(attr.shape[1:])}; pick a conv or linear layer."
            )
        obj = float(logits[a] - (logits[b] if b is not None else 0.0))
        return Attribution(
            model=model.name,
            layer=self.layer.name,
            method=self.method,
            target=a,
            target_name=str(model.categories[a]),
            vs=b,
            vs_name=str(model.categories[b]) if b is not None else None,
            tensor=tensor,
            logits=logits.detach().cpu(),
            objective=obj,
            baseline_objective=base_obj,
            delta=delta,
            image=view,
        )


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman rank correlation of two flattened tensors; ``None`` when either is constant."""
    from scipy.stats import spearmanr

    a, b = a.flatten().numpy(), b.flatten().numpy()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


@dataclass
class RandomizationCheck(PNGResult):
    """Cascading model randomization (Adebayo et al. 2018): similarity to the original attribution.

    ``steps[i]`` re-initialises every parameterized layer from the top down to
    ``steps[i]["randomized"]``; ``channels`` and ``spatial`` are the Spearman rank
    correlations of channel and spatial attributions with the original. Values
    far below 1 mean the attribution depends on the weights, as it must.
    """

    original: Attribution
    steps: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "layer": self.original.layer,
            "method": self.original.method,
            "objective": self.original.label,
            "steps": self.steps,
        }

    def to_image(self) -> Image.Image:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3.2), dpi=100)
        ax = fig.subplots()
        names = [s["randomized"] for s in self.steps]
        for key, color in (("channels", "#0b63c5"), ("spatial", "#b3261e")):
            ys = [math.nan if s[key] is None else s[key] for s in self.steps]
            ax.plot(range(len(names)), ys, marker="o", color=color, label=f"{key} rank correlation")
        ax.set_xticks(range(len(names)), names, rotation=45, fontsize=7)
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("randomized from the top down to", fontsize=8)
        ax.set_title(f"randomization check: {self.original.label} at {self.original.layer}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return figure_to_image(fig)


def randomization_check(
    model: Model,
    image: Image.Image | torch.Tensor,
    layer: str | nn.Module,
    target: str | int,
    *,
    vs: str | int | None = None,
    method: str = "LayerGradientXActivation",
    seed: int = 0,
    n_steps: int = 20,
) -> RandomizationCheck:
    """Re-initialise the parameterized layers from the top down, one more each step, and compare attributions.

    The model itself is not touched: each step works on a copy. Returns the
    rank correlations of the channel (``C``) and spatial (``H*W``) attributions
    with those of the trained model.
    """
    check_model_layer(model, layer)
    check_seed(seed)
    layer_path = model.layer(layer).path
    original = ChannelAttribution(model, layer, method).attribute(image, target, vs=vs, n_steps=n_steps)
    order = [
        path
        for path, module, _ in forward_order(model.net, model.input.shape)
        if any(True for _ in module.parameters(recurse=False))
    ]
    net = copy.deepcopy(model.net)
    modules = dict(net.named_modules())
    steps = []
    torch.manual_seed(seed)
    for path in reversed(order):
        module = modules[path]
        if not hasattr(module, "reset_parameters"):
            continue
        module.reset_parameters()
        randomized = dataclasses.replace(model, net=net)
        attr = ChannelAttribution(randomized, layer_path, method).attribute(image, target, vs=vs, n_steps=n_steps)
        steps.append(
            {
                "randomized": model.alias_of(path),
                "channels": _spearman(original.channels, attr.channels),
                "spatial": _spearman(original.spatial, attr.spatial),
            }
        )
    return RandomizationCheck(original=original, steps=steps)
