"""Circuits: how strongly channels of consecutive conv layers are wired to each other.

    >>> incoming, outgoing = connections(model, "conv3", 5)

Analysis beside attribution: the gallery's channel pages show these links,
but any notebook can ask for them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

__all__ = ["Link", "connections"]


@dataclass(frozen=True)
class Link:
    """A connection to ``channel`` of ``layer``: kernel-slice norm and the sign of its sum."""

    layer: str
    channel: int
    strength: float
    sign: int


_CHAINS: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def conv_chain(model) -> list[str]:
    """Friendly names of the Conv2d layers in forward order (one dummy forward pass per network)."""
    from torch import nn

    from .models import forward_order

    if model.net not in _CHAINS:
        order = forward_order(model.net, model.input.shape)
        _CHAINS[model.net] = [model.alias_of(p) for p, m, _ in order if isinstance(m, nn.Conv2d)]
    return _CHAINS[model.net]


def connections(model, layer: str, channel: int, *, top: int = 5) -> tuple[list[Link], list[Link]]:
    """The channels of the previous and next conv layer most strongly wired to ``channel``.

    Strength is the L2 norm of the kernel slice between the two channels
    (``W[out, in]``); ``sign`` is the sign of its sum (excitatory or
    inhibitory on average). Grouped convolutions and layers whose channel
    counts do not line up have no links.

    Returns:
        ``(incoming, outgoing)``: up to ``top`` links each, strongest first.
    """
    chain = conv_chain(model)
    resolved = model.layer(layer)
    name = model.alias_of(resolved.path)
    if name not in chain:
        return [], []
    i = chain.index(name)

    def links(weight, other: str, along_out: bool) -> list[Link]:
        w = weight.detach().float().cpu()
        rows = w[:, channel] if along_out else w[channel]
        norms = rows.flatten(1).norm(dim=1)
        sums = rows.flatten(1).sum(dim=1)
        order = norms.argsort(descending=True)[:top].tolist()
        return [Link(other, int(j), float(norms[j]), 1 if sums[j] >= 0 else -1) for j in order]

    incoming = outgoing = []
    w = resolved.module.weight
    if i > 0:
        prev = model.layer(chain[i - 1]).module
        if w.shape[1] == prev.out_channels and resolved.module.groups == 1:
            incoming = links(w, chain[i - 1], along_out=False)
    if i + 1 < len(chain):
        nxt = model.layer(chain[i + 1]).module
        if nxt.weight.shape[1] == w.shape[0] and nxt.groups == 1:
            outgoing = links(nxt.weight, chain[i + 1], along_out=True)
    return incoming, outgoing
