"""Attribution between layers: how layer A's channels (or neuron groups) feed layer B's, and B's the classes.

After Distill's *Building Blocks* neuron-group diagrams. The rest of the
network after layer A is treated as a function ``f(a)`` of A's activations
(the image fixed, A's output replaced by ``a``), and the path from the
baseline ``a = 0`` (nothing fires) to the real activations is integrated:

* node attribution of layer A: integrated gradients of ``f`` (captum
  ``IntegratedGradients`` on A's activations);
* node attribution of layer B: conductance (captum ``LayerConductance`` on
  layer B along the same path), for the objective and for each class;
* edge A_i -> B_j: the part of B_j's conductance that flows through A_i,
  ``∫ Σ_q ∂f/∂B_j(q) · ∂B_j(q)/∂A_i · (A_i - 0) dα`` (one backward pass per B node
  and integration step).

Completeness (the chain rule, up to the integration error): the edges into a
B node sum to its conductance, the edges out of an A node sum to its
integrated gradient, and both layers' nodes sum to ``f(a) - f(0)``.
:attr:`Flow.completeness` reports the largest relative gap of each; with the
default 256 steps it stays below :data:`TOLERANCE` on the bundled MNIST models.

Nodes are channels (the ``top`` strongest by attribution, the rest pooled into
one "other channels" node so that nothing is lost) or neuron groups (NMF of
each layer's activations; each activation is split between the groups in
proportion to their reconstruction of it).

    >>> flow = layer_flow(model, image, "relu2", "relu3", "7", vs="1")    # doctest: +SKIP
    >>> flow.edges, flow.completeness, flow.save("flow.html")             # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from captum.attr import IntegratedGradients, LayerConductance
from PIL import Image
from torch import nn

from .attribution import as_input
from .errors import VizcnnError, unknown_name
from .models.layers import forward_order
from .models.model import Model

__all__ = ["MODES", "TOLERANCE", "Flow", "FlowNode", "check_order", "layer_flow", "render_features"]

#: Largest relative completeness gap (of the largest node's attribution) :func:`layer_flow` promises at the default 256 steps.
TOLERANCE = 0.03

Mode = Literal["channels", "groups"]
MODES = ("channels", "groups")


@dataclass
class FlowNode:
    """One node of a layer: a channel, a neuron group, or the pooled other channels.

    Attributes:
        label: ``channel 5``, ``group 2`` or ``other channels``.
        attribution: the node's attribution to the objective (A: integrated gradients, B: conductance).
        share: ``(C, H, W)`` how much of each activation belongs to the node (ones on a channel for a channel).
        channel: the channel, for a channel node.
        direction: ``(C,)`` the group's channel mix (NMF), for a group node.
        mask: ``(H, W)`` where the node is active.
    """

    label: str
    attribution: float
    share: torch.Tensor = field(repr=False)
    mask: torch.Tensor = field(repr=False)
    channel: int | None = None
    direction: torch.Tensor | None = field(default=None, repr=False)


@dataclass
class Flow:
    """Attribution flowing from layer A to layer B and on to the classes, for one image.

    Attributes:
        nodes_a, nodes_b: the nodes of each layer (channels or groups).
        edges: ``(len(nodes_a), len(nodes_b))`` attribution flowing along each edge.
        classes: the classes the flow ends in (class A, and class B with a contrast).
        to_classes: ``(len(nodes_b), len(classes))`` each B node's conductance for each class's logit.
        objective: ``f(a) - f(0)``: the objective at the image minus at the baseline.
        completeness: name -> largest relative gap (see the module docstring).
        features: per node label, its feature visualization (empty without ``fv_steps``).
    """

    model: str
    layer_a: str
    layer_b: str
    mode: str
    label: str
    nodes_a: list[FlowNode]
    nodes_b: list[FlowNode]
    edges: torch.Tensor
    classes: list[str]
    to_classes: torch.Tensor
    objective: float
    completeness: dict[str, float]
    n_steps: int
    image: Image.Image = field(repr=False)
    features: dict[tuple[str, str], Image.Image] = field(default_factory=dict, repr=False)
    tolerance: float = TOLERANCE

    def __repr__(self) -> str:
        worst = max(self.completeness.values())
        return (
            f"Flow({self.model} {self.layer_a} -> {self.layer_b} -> {self.label}: {len(self.nodes_a)} x "
            f"{len(self.nodes_b)} {self.mode} nodes, objective {self.objective:.4f}, completeness gap {worst:.2e})"
        )

    def to_dict(self) -> dict:
        """JSON-ready: nodes, edges and the completeness checks."""
        return {
            "model": self.model, "layer_a": self.layer_a, "layer_b": self.layer_b, "mode": self.mode,
            "objective_label": self.label, "objective": self.objective, "classes": self.classes,
            "nodes_a": [{"label": n.label, "attribution": n.attribution} for n in self.nodes_a],
            "nodes_b": [{"label": n.label, "attribution": n.attribution} for n in self.nodes_b],
            "edges": self.edges.tolist(), "to_classes": self.to_classes.tolist(),
            "completeness": self.completeness, "tolerance": self.tolerance, "n_steps": self.n_steps,
        }  # fmt: skip

    def to_html(self, *, title: str | None = None, css_href: str | None = None) -> str:
        """A self-contained page with the flow as an SVG diagram and its numbers as a table."""
        from .draw.flow import flow_page

        return flow_page(self, title=title, css_href=css_href)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page (``.html``) atomically."""
        from ._io import write_text

        return write_text(path, self.to_html())

    def _repr_html_(self) -> str:
        from .draw.html import iframe

        return iframe(self.to_html(), 760)


def _replacing(model: Model, layer: nn.Module, x: torch.Tensor):
    """``f(a)``: the network's logits for image ``x`` with ``layer``'s output replaced by ``a`` (a batch)."""

    def forward(a: torch.Tensor) -> torch.Tensor:
        handle = layer.register_forward_hook(lambda _m, _i, _o: a)
        try:
            return model.net(x.expand(a.shape[0], *x.shape[1:]))
        finally:
            handle.remove()

    return forward


def check_order(model: Model, layer_a: str | nn.Module, layer_b: str | nn.Module) -> None:
    """Raise a :class:`VizcnnError` unless ``layer_b`` runs after ``layer_a``."""
    a, b = model.layer(layer_a), model.layer(layer_b)
    order = [path for path, _, _ in forward_order(model.net, model.input.shape)]
    if a.path not in order or b.path not in order or order.index(b.path) <= order.index(a.path):
        raise VizcnnError(
            f"the later layer ({b.name!r}, --to-layer) must come after {a.name!r} (--layer) in the forward pass; "
            f"run `vizcnn layers {model.name}` for the order."
        )


def _groups(acts: torch.Tensor, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NMF of ``(C, H, W)`` activations: ``(spatial (K, H, W), directions (K, C), shares (K, C, H, W))``.

    Each activation is split between the groups in proportion to their part of
    its reconstruction; where the reconstruction is zero, equally.
    """
    from sklearn.decomposition import NMF

    c, h, w = acts.shape
    a = acts.clamp(min=0).reshape(c, h * w).T.double().numpy()
    if not 1 <= k <= min(c, h * w):
        raise VizcnnError(f"the number of groups must be between 1 and {min(c, h * w)} for a {c}x{h}x{w} layer.")
    if not a.any():
        raise VizcnnError("the layer has no positive activation for this image; there are no groups to find.")
    nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=1000)
    wm = torch.from_numpy(nmf.fit_transform(a)).float()  # (HW, K)
    hm = torch.from_numpy(nmf.components_).float()  # (K, C)
    parts = wm.T[:, None, :] * hm[:, :, None]  # (K, C, HW)
    total = parts.sum(0, keepdim=True)
    shares = torch.where(total > 0, parts / total.clamp(min=1e-12), torch.full_like(parts, 1.0 / k))
    return wm.T.reshape(k, h, w), hm, shares.reshape(k, c, h, w)


def _as_chw(t: torch.Tensor) -> torch.Tensor:
    """A layer output for one image as ``(C, H, W)`` (a linear layer is ``(C, 1, 1)``)."""
    return t.reshape(t.shape[0], *(t.shape[1:] if t.dim() == 3 else (1, 1)))


def _nodes(acts: torch.Tensor, attr: torch.Tensor, mode: str, top: int, groups: int, seed: int) -> list[FlowNode]:
    """Nodes of one layer: the ``top`` channels by attribution plus the rest pooled, or ``groups`` NMF groups."""
    c = acts.shape[0]
    if mode == "groups":
        spatial, directions, shares = _groups(acts, groups, seed)
        return [
            FlowNode(f"group {g}", float((attr * shares[g]).sum()), shares[g], spatial[g], direction=directions[g])
            for g in range(groups)
        ]
    per_channel = attr.sum(dim=(1, 2))
    chosen = per_channel.abs().topk(min(top, c)).indices.tolist()
    nodes = []
    for ch in chosen:
        share = torch.zeros_like(acts)
        share[ch] = 1.0
        nodes.append(FlowNode(f"channel {ch}", float(per_channel[ch]), share, acts[ch].clamp(min=0), channel=ch))
    if len(chosen) < c:
        rest = torch.ones_like(acts)
        rest[chosen] = 0.0
        nodes.append(FlowNode("other channels", float((attr * rest).sum()), rest, (acts * rest).clamp(min=0).sum(0)))
    return nodes


def layer_flow(
    model: Model,
    image: Image.Image | torch.Tensor,
    layer_a: str | nn.Module,
    layer_b: str | nn.Module,
    target: str | int,
    *,
    vs: str | int | None = None,
    mode: Mode = "channels",
    top: int = 5,
    groups: int = 4,
    n_steps: int = 256,
    seed: int = 0,
) -> Flow:
    """Attribution of ``target`` (minus ``vs``) flowing from ``layer_a`` through ``layer_b`` (see the module doc).

    Args:
        mode: ``channels`` (the ``top`` channels of each layer by attribution,
            the rest pooled) or ``groups`` (``groups`` NMF neuron groups per layer).
        n_steps: integration steps (midpoint rule); more steps, smaller completeness gaps.
    """
    if mode not in MODES:
        raise unknown_name("flow mode", mode, list(MODES))
    if top < 1 or n_steps < 2:
        raise VizcnnError(f"top must be at least 1 and n_steps at least 2 (got top={top}, n_steps={n_steps}).")
    la, lb = model.layer(layer_a), model.layer(layer_b)
    check_order(model, la.module, lb.module)
    t = model.class_index(target)
    v = model.class_index(vs) if vs is not None else None
    if v == t:
        raise VizcnnError(f"target and vs are the same class ({model.categories[t]!r}); pick two different classes.")
    x, view = as_input(model, image)
    x = x.detach()
    from .hooks import forward_to

    with torch.no_grad():
        a0 = forward_to(model.net, {"a": la.module}, x)["a"].detach()
    logits_of = _replacing(model, la.module, x)

    def objective(a: torch.Tensor) -> torch.Tensor:
        logits = logits_of(a)
        return logits[:, t] - (logits[:, v] if v is not None else 0.0)

    baseline = torch.zeros_like(a0)
    steps = {"baselines": baseline, "n_steps": n_steps, "method": "riemann_middle"}
    ig_a = IntegratedGradients(objective).attribute(a0, **steps)[0].detach()
    cond = LayerConductance(objective, lb.module)
    cond_steps = {**steps, "method": "riemann_trapezoid"}  # its differences then span the whole path
    cond_b = cond.attribute(a0, **cond_steps)[0].detach()
    class_idx = [t] if v is None else [t, v]
    per_class = [
        LayerConductance(lambda a, c=c: logits_of(a)[:, c], lb.module).attribute(a0, **cond_steps)[0].detach()
        for c in class_idx
    ]
    with torch.no_grad():
        objective_value = float(objective(a0)[0] - objective(baseline)[0])
        b0 = forward_to(model.net, {"b": lb.module}, x)["b"][0].detach()

    acts_a, acts_b = _as_chw(a0[0]), _as_chw(b0)
    nodes_a = _nodes(acts_a, _as_chw(ig_a), mode, top, groups, seed)
    nodes_b = _nodes(acts_b, _as_chw(cond_b), mode, top, groups, seed)

    # Edges: along the path, each B node's conductance split over A's units by the chain rule.
    alphas = (torch.arange(n_steps, dtype=a0.dtype, device=a0.device) + 0.5) / n_steps
    path = (alphas.view(-1, *[1] * (a0.dim() - 1)) * a0).requires_grad_(True)
    from .hooks import capture

    with capture(model.net, {"b": lb.module}, stop=False) as cap:
        value = objective(path).sum()
        b_out = cap["b"]
        grad_b = torch.autograd.grad(value, b_out, retain_graph=True)[0].detach()
        edges = torch.zeros(len(nodes_a), len(nodes_b))
        for j, node in enumerate(nodes_b):
            share = node.share.to(b_out.device).reshape(b_out.shape[1:])
            through = (grad_b * b_out * share).sum()
            grad_a = torch.autograd.grad(through, path, retain_graph=True)[0]
            flow_a = _as_chw((grad_a * a0).sum(0).detach() / n_steps)
            for i, source in enumerate(nodes_a):
                edges[i, j] = float((flow_a * source.share.to(flow_a.device)).sum())

    to_classes = torch.tensor(
        [[float((_as_chw(pc) * n.share).sum()) for pc in per_class] for n in nodes_b]
    ).reshape(len(nodes_b), len(class_idx))
    scale = max(max(abs(n.attribution) for n in nodes_b), max(abs(n.attribution) for n in nodes_a), 1e-12)
    into_b = (edges.sum(0) - torch.tensor([n.attribution for n in nodes_b])).abs().max()
    out_of_a = (edges.sum(1) - torch.tensor([n.attribution for n in nodes_a])).abs().max()
    completeness = {
        "edges into each B node vs its conductance": float(into_b) / scale,
        "edges out of each A node vs its integrated gradients": float(out_of_a) / scale,
        "B nodes vs f(a) - f(0)": abs(sum(n.attribution for n in nodes_b) - objective_value) / scale,
        "A nodes vs f(a) - f(0)": abs(sum(n.attribution for n in nodes_a) - objective_value) / scale,
    }
    names = [str(model.categories[c]) for c in class_idx]
    label = names[0] if v is None else f"{names[0]} - {names[1]}"
    return Flow(
        model.name, la.name, lb.name, mode, label, nodes_a, nodes_b, edges, names, to_classes,
        objective_value, completeness, n_steps, view,
    )  # fmt: skip


def render_features(flow: Flow, model: Model, *, steps: int = 32, size: int | None = None, seed: int = 0) -> None:
    """Fill ``flow.features``: each channel node's and group node's feature visualization, one batch per layer."""
    if steps <= 0:
        return
    import operator
    from functools import reduce

    from . import optvis

    for layer, nodes in ((flow.layer_a, flow.nodes_a), (flow.layer_b, flow.nodes_b)):
        objectives = []
        for n in nodes:
            if n.channel is not None:
                objectives.append((n.label, optvis.channel(layer, n.channel, batch=len(objectives))))
            elif n.direction is not None:
                objectives.append((n.label, optvis.direction(layer, n.direction, batch=len(objectives))))
        if not objectives:
            continue
        obj = reduce(operator.add, (o for _, o in objectives))
        res = optvis.render(model, obj, batch=len(objectives), steps=steps, size=size, seed=seed, progress=False)
        for i, (label, _) in enumerate(objectives):
            flow.features[(layer, label)] = res.image(i)
