"""Semantic dictionaries, attribution dictionaries and neuron groups (Distill's *Building Blocks*).

Three views of one layer for one image, each pairing channels with their
feature visualizations (from :mod:`vizcnn.optvis`, cached per model, layer
and channel; ``fv_steps=0`` skips them):

* :func:`semantic_dictionary`: at each position the channels that fire most,
  sized by activation, and the image's top channels by total activation;
* :func:`attribution_dictionary`: the channels that most support class A,
  class B, and A over B, with where in the image each acts;
* :func:`neuron_groups`: the activations factorized with NMF into K groups,
  each with its spatial map, its visualization and its attribution to classes.

Every result shows itself in Jupyter and writes a self-contained HTML page.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import numpy as np
import torch
from captum.attr import LayerGradientXActivation
from PIL import Image, ImageDraw
from torch import nn

from .attribution import Attribution, ChannelAttribution, ClassContrast, as_input
from .cache import ResultCache
from .activations import check_model_layer
from .errors import expect, expect_int, VizcnnError
from .hooks import forward_to
from .models.model import Model
from .draw.figure import DIVERGING, SEQUENTIAL, colorbar, draw_text, font, image_grid, overlay, PNGResult, wrap
from .draw.html import data_uri, iframe, render_template

__all__ = [
    "AttributionDictionary",
    "DictionaryView",
    "InteractiveDictionary",
    "NeuronGroups",
    "SemanticDictionary",
    "attribution_dictionary",
    "interactive_dictionary",
    "neuron_groups",
    "render_directions",
    "semantic_dictionary",
]

#: The mosaic's few categorical colours (Okabe-Ito, without the blue and red that mean support and
#: opposition elsewhere); every other channel is grey. Clearly different, and readable under black text.
MOSAIC_COLOURS = [(230, 159, 0), (0, 158, 115), (204, 121, 167), (240, 228, 66), (140, 86, 75)]
OTHER = (205, 205, 205)


def _activations(model: Model, x: torch.Tensor, layer) -> torch.Tensor:
    """``(C, H, W)`` output of ``layer`` for a batch of one (a linear layer gives ``(C, 1, 1)``)."""
    with torch.no_grad():
        out = forward_to(model.net, {"layer": layer.module}, x)["layer"][0].float().cpu()
    if out.dim() == 1:
        return out.view(-1, 1, 1)
    if out.dim() != 3:
        raise VizcnnError(f"layer {layer.name!r} has output shape {tuple(out.shape)}; pick a conv or linear layer.")
    return out


def _features(
    model: Model, layer: str, channels: list[int], steps: int, size: int | None, cache: ResultCache | None,
    batch: int = 64,
) -> dict[int, Image.Image]:
    """Feature visualization of each channel, ``batch`` channels per optimization (empty when ``steps`` is 0)."""
    if steps <= 0 or not channels:
        return {}
    from . import optvis

    channels = list(dict.fromkeys(channels))
    out = {}
    for start in range(0, len(channels), batch):
        chunk = channels[start : start + batch]
        res = optvis.render_channels(model, layer, chunk, steps=steps, size=size, cache=cache, progress=False)
        out.update({c: res.image(i) for i, c in enumerate(chunk)})
    return out


def render_directions(
    model: Model, layer: str, vectors: torch.Tensor, steps: int, size: int | None = None, seed: int = 0,
    batch: int = 64,
) -> list[Image.Image]:
    """Feature visualization of each ``(C,)`` row of ``vectors`` (a direction objective), ``batch`` per optimization."""
    if steps <= 0 or len(vectors) == 0:
        return []
    from . import optvis

    images: list[Image.Image] = []
    for start in range(0, len(vectors), batch):
        chunk = vectors[start : start + batch]
        obj = reduce(operator.add, (optvis.direction(layer, v, batch=i) for i, v in enumerate(chunk)))
        res = optvis.render(model, obj, batch=len(chunk), steps=steps, size=size, seed=seed, progress=False)
        images += [res.image(i) for i in range(len(chunk))]
    return images


def _heat(image: Image.Image, heat: torch.Tensor, *, signed: bool, vmax: float | None = None, size: int = 160) -> Image.Image:
    """``heat`` over the image: signed maps in the diverging convention (blue supports), others in viridis from 0.

    ``vmax`` fixes the scale shared by several maps (default: this map's own largest magnitude)."""
    view = image.resize((size, size), Image.NEAREST)
    if signed:
        return overlay(view, heat, alpha=0.55, cmap=DIVERGING, symmetric=True, vmax=vmax)
    return overlay(view, heat, alpha=0.55, cmap=SEQUENTIAL, vmin=0.0, vmax=vmax)


def _scale(maps: list[torch.Tensor], signed: bool, label: str) -> tuple[float, str]:
    """One scale for a set of heat maps (largest value, or largest magnitude when signed) and its colour bar."""
    vmax = max((float((m.abs() if signed else m).max()) for m in maps), default=1.0) or 1.0
    bar = colorbar(DIVERGING if signed else SEQUENTIAL, -vmax if signed else 0.0, vmax, label, width=300)
    return vmax, data_uri(bar)


def _tile(image: Image.Image, size: int = 160) -> str:
    return data_uri(image.convert("RGB").resize((size, size), Image.NEAREST))


# -- semantic dictionary --------------------------------------------------------

_MOSAIC_TITLE = "At each position, its strongest channel; square area is proportional to the activation."


@dataclass
class SemanticDictionary(PNGResult):
    """What a layer sees where: per position the top channels, per image the top channels.

    Attributes:
        activations: ``(C, H, W)`` the layer's output for the image.
        top: channels kept per position.
        features: channel -> feature visualization (empty without ``fv_steps``).
        image: the input as the network sees it.
    """

    model: str
    layer: str
    activations: torch.Tensor
    top: int
    image: Image.Image = field(repr=False)
    features: dict[int, Image.Image] = field(default_factory=dict, repr=False)

    @property
    def positions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values, channels)``, each ``(H, W, top)``: the strongest channels at every position."""
        values, idx = self.activations.topk(min(self.top, self.activations.shape[0]), dim=0)
        return values.permute(1, 2, 0), idx.permute(1, 2, 0)

    @property
    def totals(self) -> torch.Tensor:
        """``(C,)`` each channel's activation summed over positions."""
        return self.activations.sum(dim=(1, 2))

    def image_top(self, k: int | None = None) -> list[tuple[int, float]]:
        """The image-level dictionary: ``k`` channels (default ``top``) with the largest total activation."""
        totals = self.totals
        values, idx = totals.topk(min(k or self.top, totals.numel()))
        return [(int(i), float(v)) for i, v in zip(idx, values)]

    def _summary(self) -> dict[str, object]:
        return {"image_top": self.image_top(3)}

    def channels(self) -> list[int]:
        """Every channel that appears in the dictionary, image-level ones first."""
        _, idx = self.positions
        strong = [c for c, _ in self.image_top()]
        return list(dict.fromkeys(strong + [int(c) for c in idx[..., 0].flatten().tolist()]))

    def coloured(self) -> list[int]:
        """The few channels that get a colour in the mosaic (at most five): those whose squares hold the most
        activation, i.e. the largest sum of their activation over the positions where they are strongest."""
        values, idx = self.positions
        first, strength = idx[..., 0].flatten(), values[..., 0].flatten().clamp(min=0)
        weight = torch.zeros(self.activations.shape[0]).index_add_(0, first, strength)
        order = torch.sort(weight, descending=True, stable=True).indices[: len(MOSAIC_COLOURS)]
        return [int(c) for c in order if weight[c] > 0]

    def to_image(self, max_side: int = 672) -> Image.Image:
        """One cell per position showing its strongest channel, sized by activation (Distill's layout).

        The cell holds the channel's feature visualization when there is one;
        else a square in one of a handful of colours (:meth:`coloured`, named in
        the key under the mosaic and written in big enough squares), grey for
        every other channel.
        """
        values, idx = self.positions
        h, w = values.shape[:2]
        cell = max(6, min(48, max_side // max(h, w)))
        colours = dict(zip(self.coloured(), MOSAIC_COLOURS))
        fnt = font(11)
        key = [] if self.features else [*(f"channel {c}" for c in colours), "any other channel"]
        key_w = [fnt.getlength(t) + 22 for t in key]
        width = max(w * cell, 160)
        rows, x = 1 if key else 0, 0
        for kw in key_w:
            if x and x + kw > width:
                rows, x = rows + 1, 0
            x += kw
        top = 4 + len(wrap(_MOSAIC_TITLE, fnt, width - 8)) * 14
        canvas = Image.new("RGB", (width, top + h * cell + 6 + rows * 18), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for i, line in enumerate(wrap(_MOSAIC_TITLE, fnt, width - 8)):
            draw_text(draw, (4, 2 + 14 * i), line, font=fnt, fill=(90, 90, 90))
        vmax = float(values[..., 0].max()) or 1.0
        for y in range(h):
            for x in range(w):
                v, c = float(values[y, x, 0]), int(idx[y, x, 0])
                side = round(cell * math.sqrt(max(v, 0.0) / vmax)) if vmax > 0 else 0
                if side < 2:
                    continue
                x0, y0 = x * cell + (cell - side) // 2, top + y * cell + (cell - side) // 2
                if c in self.features:
                    canvas.paste(self.features[c].convert("RGB").resize((side, side), Image.BILINEAR), (x0, y0))
                    continue
                draw.rectangle([x0, y0, x0 + side - 1, y0 + side - 1], fill=colours.get(c, OTHER))
                if c in colours and side >= 18 and fnt.getlength(str(c)) <= side - 2:
                    draw_text(draw, (x0 + 1, y0 + 1), str(c), font=fnt)
        x, y = 4, top + h * cell + 6
        for text, kw, colour in zip(key, key_w, [*colours.values(), OTHER]):
            if x > 4 and x + kw > width:
                x, y = 4, y + 18
            draw.rectangle([x, y + 2, x + 12, y + 14], fill=colour)
            draw_text(draw, (x + 16, y + 1), text, font=fnt)
            x += kw
        return canvas

    def to_html(self, *, title: str | None = None, groups: NeuronGroups | None = None) -> str:
        """A self-contained page: the image, the positional dictionary, the top channels (and neuron groups)."""
        cards = []
        top = self.image_top()
        vmax, scale = _scale([self.activations[c] for c, _ in top], False, "activation (the layer's output values)")
        for c, total in top:
            cards.append(
                {
                    "channel": c,
                    "value": total,
                    "heat": _tile(_heat(self.image, self.activations[c], signed=False, vmax=vmax)),
                    "feature": _tile(self.features[c]) if c in self.features else None,
                }
            )
        return render_template(
            "dictionary.html",
            title=title or f"{self.model} {self.layer}: semantic dictionary",
            model=self.model,
            layer=self.layer,
            image=_tile(self.image, 224),
            grid=data_uri(self.to_image()),
            shape=list(self.activations.shape),
            top=self.top,
            cards=cards,
            scale=scale,
            groups=groups._context() if groups is not None else None,
        )

    def _repr_html_(self) -> str:
        return iframe(self.to_html())


def semantic_dictionary(
    model: Model,
    image: Image.Image | torch.Tensor,
    layer: str | nn.Module,
    *,
    top: int = 8,
    fv_steps: int = 0,
    fv_size: int | None = None,
    cache: ResultCache | None = None,
) -> SemanticDictionary:
    """The semantic dictionary of ``layer`` for one image.

    Args:
        top: channels per position, and channels in the image-level dictionary.
        fv_steps: optimization steps per feature visualization; 0 skips them.
        fv_size: feature visualization side (default: optvis's).
        cache: where feature visualizations are kept between runs.
    """
    check_model_layer(model, layer)
    expect_int(top, "top", 1)
    expect_int(fv_steps, "fv_steps", 0)
    resolved = model.layer(layer)
    x, view = as_input(model, image)
    acts = _activations(model, x, resolved)
    result = SemanticDictionary(model.name, resolved.name, acts, max(1, int(top)), view)
    result.features = _features(model, resolved.name, result.channels(), fv_steps, fv_size, cache)
    return result


# -- attribution dictionary -----------------------------------------------------


@dataclass
class AttributionDictionary(PNGResult):
    """The channels that most support A, B and A over B, with their maps and visualizations.

    Attributes:
        attributions: ``[A]``, or ``[A, B, A - B]`` with a contrast class (the
            contrast is its own captum run of the objective ``logit A - logit B``).
        top: channels listed per attribution.
        features: channel -> feature visualization (empty without ``fv_steps``).
        source: where the image came from (a file name), for the page.
    """

    attributions: list[Attribution] = field(repr=False)
    top: int
    features: dict[int, Image.Image] = field(default_factory=dict, repr=False)
    source: str = ""
    predictions: list[tuple[str, float]] = field(default_factory=list)

    @property
    def main(self) -> Attribution:
        """The contrast when there is one, else the single target's attribution."""
        return self.attributions[-1]

    def channels(self) -> list[int]:
        return list(dict.fromkeys(c for a in self.attributions for c, _ in a.top(self.top)))

    def _summary(self) -> dict[str, object]:
        main = self.main
        return {"model": main.model, "layer": main.layer, "objectives": [a.label for a in self.attributions],
                "strongest": main.top(3)}  # fmt: skip

    def to_image(self) -> Image.Image:
        return self.main.to_image()

    def to_dict(self) -> dict:
        return self.main.to_dict()

    def to_html(self, *, title: str | None = None) -> str:
        """A self-contained page: one section per attribution with its top channels."""
        main = self.main
        sections = []
        for a in self.attributions:
            rows = []
            top = a.top(self.top)
            vmax, scale = _scale([a.tensor[c] for c, _ in top], True,
                                 f"attribution per position (logit units): blue supports {a.label}, red opposes it")  # fmt: skip
            for c, v in top:
                rows.append(
                    {
                        "channel": c,
                        "value": v,
                        "heat": _tile(_heat(a.image, a.tensor[c], signed=True, vmax=vmax)),
                        "feature": _tile(self.features[c]) if c in self.features else None,
                    }
                )
            sections.append(
                {
                    "label": a.label,
                    "objective": a.objective,
                    "total": a.total,
                    "delta": a.delta,
                    "where": _tile(a.heatmap(), 224),
                    "rows": rows,
                    "scale": scale,
                    "bottom": a.top(min(self.top, 5), largest=False),
                }
            )
        return render_template(
            "attribution.html",
            title=title or f"{main.model} {main.layer}: {main.label}",
            model=main.model,
            layer=main.layer,
            method=main.method,
            source=self.source,
            image=_tile(main.image, 224),
            figure=data_uri(main.to_image()),
            predictions=[{"name": name, "p": p} for name, p in self.predictions],
            sections=sections,
        )

    def _repr_html_(self) -> str:
        return iframe(self.to_html())


def attribution_dictionary(
    model: Model,
    image: Image.Image | torch.Tensor,
    layer: str | nn.Module,
    target: str | int,
    *,
    vs: str | int | None = None,
    method: str = "LayerGradientXActivation",
    top: int = 8,
    n_steps: int = 50,
    fv_steps: int = 0,
    fv_size: int | None = None,
    cache: ResultCache | None = None,
    source: str = "",
) -> AttributionDictionary:
    """Attribute ``target`` (and ``vs``, and ``target - vs`` as one objective) to ``layer``'s channels."""
    expect_int(top, "top", 1)
    expect_int(fv_steps, "fv_steps", 0)
    algo = ChannelAttribution(model, layer, method)
    attrs = [algo.attribute(image, target, n_steps=n_steps)]
    if vs is not None:
        attrs.append(algo.attribute(image, vs, n_steps=n_steps))
        attrs.append(algo.attribute(image, target, vs=vs, n_steps=n_steps))
    probs = attrs[0].logits.softmax(0)
    pv, pi = probs.topk(min(5, probs.numel()))
    predictions = [(str(model.categories[int(i)]), float(p)) for i, p in zip(pi, pv)]
    result = AttributionDictionary(attrs, max(1, int(top)), source=source, predictions=predictions)
    result.features = _features(model, algo.layer.name, result.channels(), fv_steps, fv_size, cache)
    return result


# -- neuron groups --------------------------------------------------------------

_GROUP_UNITS = "group weight at each position (NMF factor, in activation units)"


@dataclass
class NeuronGroups(PNGResult):
    """The layer's activations for one image factorized as ``A ~ W @ H`` with NMF.

    ``A`` is the ``(H*W, C)`` positive part of the activations (NMF needs
    non-negative data; after a ReLU nothing is lost).

    Attributes:
        spatial: ``(K, H, W)`` where each group is active (``W`` reshaped).
        directions: ``(K, C)`` each group's channel mix (``H``).
        error: relative reconstruction error ``||A - WH||_F / ||A||_F``.
        attributions: class name -> ``(K,)`` each group's gradient x activation
            attribution to that class's logit (sums to the class's attribution
            of the reconstruction ``WH``).
        features: one feature visualization per group (empty without ``fv_steps``).
    """

    model: str
    layer: str
    activations: torch.Tensor
    spatial: torch.Tensor
    directions: torch.Tensor
    error: float
    attributions: dict[str, torch.Tensor]
    image: Image.Image = field(repr=False)
    features: list[Image.Image] = field(default_factory=list, repr=False)

    @property
    def k(self) -> int:
        return self.spatial.shape[0]

    def reconstruction(self) -> torch.Tensor:
        """``(C, H, W)``: the activations as the groups rebuild them."""
        k, h, w = self.spatial.shape
        return (self.spatial.reshape(k, h * w).T @ self.directions).T.reshape(-1, h, w)

    def to_image(self) -> Image.Image:
        """Each group's spatial map over the image (and its visualization when there is one)."""
        tiles, labels = [], []
        vmax = float(self.spatial.max()) or 1.0
        for g in range(self.k):
            tiles.append(_heat(self.image, self.spatial[g], signed=False, vmax=vmax))
            labels.append(f"group {g}")
            if self.features:
                tiles.append(self.features[g].convert("RGB").resize((160, 160), Image.BILINEAR))
                labels.append(f"group {g} feature")
        return image_grid(tiles, labels, ncols=2 if self.features else min(self.k, 4), tile_size=160,
                          title=f"{self.model} {self.layer}: {self.k} neuron groups, error {self.error:.3f}",
                          footer=colorbar(SEQUENTIAL, 0.0, vmax, _GROUP_UNITS, width=300))  # fmt: skip

    def _context(self) -> dict:
        classes = list(self.attributions)
        vmax, scale = _scale(list(self.spatial), False, _GROUP_UNITS)
        return {
            "k": self.k,
            "error": self.error,
            "classes": classes,
            "scale": scale,
            "rows": [
                {
                    "group": g,
                    "heat": _tile(_heat(self.image, self.spatial[g], signed=False, vmax=vmax)),
                    "feature": _tile(self.features[g]) if self.features else None,
                    "channels": [int(c) for c in self.directions[g].topk(min(5, self.directions.shape[1])).indices],
                    "attributions": [float(self.attributions[c][g]) for c in classes],
                }
                for g in range(self.k)
            ],
        }

    def to_html(self, *, title: str | None = None) -> str:
        return render_template(
            "dictionary.html",
            title=title or f"{self.model} {self.layer}: neuron groups",
            model=self.model,
            layer=self.layer,
            image=_tile(self.image, 224),
            grid=None,
            shape=list(self.activations.shape),
            top=0,
            cards=[],
            scale=None,
            groups=self._context(),
        )

    def _repr_html_(self) -> str:
        return iframe(self.to_html())


def neuron_groups(
    model: Model,
    image: Image.Image | torch.Tensor,
    layer: str | nn.Module,
    k: int = 4,
    *,
    targets: list[str | int] | None = None,
    seed: int = 0,
    fv_steps: int = 0,
    fv_size: int | None = None,
) -> NeuronGroups:
    """Factorize ``layer``'s activations for one image into ``k`` groups (scikit-learn NMF, seeded).

    Args:
        k: number of groups (at most the number of channels and of positions).
        targets: classes to attribute each group to (default: the model's top two for the image).
        seed: NMF's ``random_state`` and the visualizations' seed.
        fv_steps: steps for each group's feature visualization (its direction ``H[k]``); 0 skips them.
    """
    from sklearn.decomposition import NMF

    check_model_layer(model, layer)
    expect_int(k, "k", 1)
    expect_int(seed, "seed", 0, 2**32 - 1)  # scikit-learn's random_state
    if targets is not None:
        expect(targets, (list, tuple), "targets", "a list of class names or indices")
    resolved = model.layer(layer)
    x, view = as_input(model, image)
    acts = _activations(model, x, resolved).clamp(min=0)
    c, h, w = acts.shape
    if not 1 <= k <= min(c, h * w):
        raise VizcnnError(
            f"the number of groups (--groups) must be between 1 and {min(c, h * w)} for layer "
            f"{resolved.name!r} ({c} channels, {h}x{w} positions)."
        )
    a = acts.reshape(c, h * w).T.double().numpy()
    if not a.any():
        raise VizcnnError(
            f"layer {resolved.name!r} has no positive activation for this image; NMF has nothing to factorize."
        )
    nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=1000)
    wmat = nmf.fit_transform(a)
    hmat = nmf.components_
    error = float(np.linalg.norm(a - wmat @ hmat) / np.linalg.norm(a))
    spatial = torch.from_numpy(wmat.T.reshape(k, h, w)).float()
    directions = torch.from_numpy(hmat).float()
    if targets is None:
        with torch.no_grad():
            targets = model.net(x)[0].topk(min(2, len(model.categories))).indices.tolist()
    attributions = {}
    for t in targets:
        idx = model.class_index(t)
        grad = LayerGradientXActivation(ClassContrast(model.net, idx), resolved.module, multiply_by_inputs=False)
        g = grad.attribute(x, attribute_to_layer_input=False)[0].detach().float().cpu().reshape(c, h * w)
        # group j's share of the activation is W[:, j] H[j]; its attribution is the gradient times that share
        attributions[str(model.categories[idx])] = torch.einsum(
            "cp,pk,kc->k", g, spatial.reshape(k, h * w).T, directions
        )
    features = render_directions(model, resolved.name, directions, fv_steps, fv_size, seed)
    return NeuronGroups(model.name, resolved.name, acts, spatial, directions, error, attributions, view, features)


# -- interactive dictionary -----------------------------------------------------


@dataclass
class DictionaryView:
    """One input image of an :class:`InteractiveDictionary`: what fires where, the groups, the spatial attribution.

    Attributes:
        name: how the page's picker names the image (``mnist:7``, a file name).
        semantic: the image's semantic dictionary.
        groups: its neuron groups (NMF); their ``features`` are the groups' visualizations.
        attributions: class A, class B and A - B (one captum run each; fewer with fewer classes).
    """

    name: str
    semantic: SemanticDictionary
    groups: NeuronGroups
    attributions: list[Attribution]

    def heat_maps(self) -> list[tuple[str, str, Image.Image, Image.Image]]:
        """``(key, label, picture, colour bar)`` of every toggleable heat map: total activation, then each attribution.

        Each map uses its own range (zero to its maximum, or symmetric about zero for attributions), which its bar shows.
        """
        total = self.semantic.activations.sum(0)
        high = max(float(total.max()), 1e-12)
        maps = [("activation", "activation (all channels)", _heat(self.semantic.image, total, signed=False, size=224),
                 colorbar(SEQUENTIAL, 0.0, high, f"activation of {self.semantic.layer}, summed over channels", width=224))]
        for i, a in enumerate(self.attributions):
            reach = max(float(a.spatial.abs().max()), 1e-12)
            maps.append((f"attr{i}", f"attribution to {a.label}", _heat(a.image, a.spatial, signed=True, size=224),
                         colorbar(DIVERGING, -reach, reach, f"attribution to {a.label}, logit units: blue supports, red opposes", width=224)))
        return maps


@dataclass
class InteractiveDictionary:
    """Semantic dictionary, neuron groups and spatial attribution of one layer for several images, as one page.

    The page shows one image at a time (a picker chooses it). Hovering or
    focusing a position of the image (arrow keys move it) lists that
    position's top channels, each drawn as its feature visualization and sized
    by its activation, and the neuron groups active there; buttons toggle the
    heat maps of activation and of the attribution to class A, class B and A - B.

    Attributes:
        views: one :class:`DictionaryView` per image.
        features: channel -> feature visualization (every channel the page lists).
        hrefs: channel -> URL of its page (a gallery's channel page), where there is one.
    """

    model: str
    layer: str
    top: int
    views: list[DictionaryView]
    features: dict[int, Image.Image] = field(default_factory=dict, repr=False)
    hrefs: dict[int, str] = field(default_factory=dict, repr=False)
    fv_steps: int = 0

    def __repr__(self) -> str:
        names = ", ".join(v.name for v in self.views)
        return (
            f"InteractiveDictionary({self.model} {self.layer}: {len(self.views)} image(s) [{names}], top {self.top}, "
            f"{len(self.features)} channel visualizations)"
        )

    def top_channels(self, view: int, y: int, x: int) -> list[tuple[int, float]]:
        """The ``top`` channels at position ``(y, x)`` of image ``view``, strongest first: what the page lists."""
        values, idx = self.views[view].semantic.positions
        return [(int(c), float(v)) for c, v in zip(idx[y, x], values[y, x])]

    def data(self) -> dict:
        """Everything the page's script needs, JSON-ready (the pictures as ``data:`` URIs)."""
        images = []
        for v in self.views:
            sem, groups = v.semantic, v.groups
            values, idx = sem.positions
            c, h, w = sem.activations.shape
            spatial = groups.spatial.reshape(groups.k, h * w)
            order = spatial.argsort(dim=0, descending=True)
            images.append(
                {
                    "name": v.name,
                    "image": _tile(sem.image, 224),
                    "h": h,
                    "w": w,
                    "vmax": float(values[..., 0].max()),
                    "top": [
                        [[int(ch), round(float(val), 4)] for ch, val in zip(idx[y, x], values[y, x])]
                        for y in range(h)
                        for x in range(w)
                    ],
                    "heats": [{"key": k, "label": label, "src": _tile(pic, 224), "bar": data_uri(bar)} for k, label, pic, bar in v.heat_maps()],
                    "attr": {
                        "labels": [a.label for a in v.attributions],
                        "values": [[round(float(t), 5) for t in a.spatial.flatten()] for a in v.attributions],
                    },
                    "groups": {
                        "features": [_tile(f) for f in groups.features],
                        "masks": [_tile(_heat(sem.image, groups.spatial[g], signed=False)) for g in range(groups.k)],
                        "channels": [
                            [int(ch) for ch in groups.directions[g].topk(min(3, c)).indices] for g in range(groups.k)
                        ],
                        "vmax": float(spatial.max()),
                        "at": [
                            [[int(g), round(float(spatial[g, p]), 4)] for g in order[:, p] if spatial[g, p] > 0]
                            for p in range(h * w)
                        ],
                    },
                }
            )
        return {
            "layer": self.layer,
            "features": {str(ch): _tile(img) for ch, img in self.features.items()},
            "hrefs": {str(ch): href for ch, href in self.hrefs.items()},
            "images": images,
        }

    def to_html(self, *, title: str | None = None, css_href: str | None = None) -> str:
        """A self-contained page (data inline as JSON, a small script, no network)."""
        from .draw.html import json_script, script

        return render_template(
            "dictionary_interactive.html",
            title=title or f"{self.model} {self.layer}: interactive semantic dictionary",
            model=self.model,
            layer=self.layer,
            top=self.top,
            fv_steps=self.fv_steps,
            names=[v.name for v in self.views],
            data=json_script(self.data()),
            script=script("dictionary.js"),
            css_href=css_href,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (``.html``) atomically."""
        from ._io import write_text

        return write_text(path, self.to_html())

    def _repr_html_(self) -> str:
        return iframe(self.to_html())


def interactive_dictionary(
    model: Model,
    images: Sequence[tuple[str, Image.Image | torch.Tensor]],
    layer: str | nn.Module,
    *,
    top: int = 6,
    groups: int = 4,
    targets: Sequence[str | int] | None = None,
    method: str = "LayerGradientXActivation",
    fv_steps: int = 32,
    fv_size: int | None = None,
    cache: ResultCache | None = None,
    hrefs: dict[int, str] | None = None,
    seed: int = 0,
) -> InteractiveDictionary:
    """The interactive dictionary of ``layer`` for ``images`` (``(name, image)`` pairs, one page).

    Args:
        top: channels listed per position.
        groups: NMF neuron groups per image.
        targets: class A and class B (names or indices) for the spatial
            attribution and the groups' attribution; default each image's top two.
        method: captum layer attribution method (see :data:`vizcnn.attribution.METHODS`).
        fv_steps: optimization steps of every feature visualization (channels
            in batches, groups in one batch); 0 skips them.
        hrefs: channel -> link to its page (e.g. a gallery's channel pages).
    """
    images = list(images)
    if not images:
        raise VizcnnError("give at least one input image for the dictionary.")
    if top < 1 or fv_steps < 0:
        raise VizcnnError(f"top must be at least 1 and fv_steps at least 0 (got top={top}, fv_steps={fv_steps}).")
    if targets is not None and not 1 <= len(targets) <= 2:
        raise VizcnnError(f"give one or two classes to attribute to (class A and class B), not {len(targets)}.")
    resolved = model.layer(layer)
    algo = ChannelAttribution(model, resolved.name, method)
    views = []
    for name, image in images:
        sem = semantic_dictionary(model, image, resolved.name, top=top)
        x, _ = as_input(model, image)
        if targets is None:
            with torch.no_grad():
                classes = model.net(x)[0].topk(min(2, len(model.categories))).indices.tolist()
        else:
            classes = [model.class_index(t) for t in targets]
        attrs = [algo.attribute(image, classes[0])]
        if len(classes) == 2:
            attrs += [algo.attribute(image, classes[1]), algo.attribute(image, classes[0], vs=classes[1])]
        ng = neuron_groups(model, image, resolved.name, groups, targets=classes, seed=seed)
        views.append(DictionaryView(str(name), sem, ng, attrs))
    channels = sorted({c for v in views for c in v.semantic.positions[1].flatten().tolist()})
    features = _features(model, resolved.name, channels, fv_steps, fv_size, cache)
    group_features = render_directions(
        model, resolved.name, torch.cat([v.groups.directions for v in views]), fv_steps, fv_size, seed
    )
    for i, v in enumerate(views):
        v.groups.features = group_features[i * groups : (i + 1) * groups]
    return InteractiveDictionary(
        model.name, resolved.name, top, views, features, dict(hrefs or {}), fv_steps=fv_steps
    )
