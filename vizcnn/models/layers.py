"""Layer names and the layer table: forward order, aliases, shapes, receptive fields (from :mod:`.receptive`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .receptive import ReceptiveField, receptive_fields

__all__ = ["LayerInfo", "derive_aliases", "forward_order", "is_kind", "kind_of", "layer_table"]

_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def forward_order(net: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Leaf modules in the order the forward pass runs them, with their output shapes.

    Runs one dummy batch of shape ``(1, *input_shape)``; a module that runs
    twice (a shared ReLU) is listed at its first use. A TorchScript model runs
    no hooks: its leaves come in definition order with empty shapes.
    """
    if isinstance(net, torch.jit.ScriptModule):  # no hooks: definition order, shapes unknown
        return [(path, m, ()) for path, m in net.named_modules() if path and not list(m.children())]
    seen: dict[str, tuple[nn.Module, tuple[int, ...]]] = {}
    handles = []

    def make_hook(path):
        def hook(module, _inp, out):
            if path not in seen and isinstance(out, torch.Tensor):
                seen[path] = (module, tuple(out.shape[1:]))

        return hook

    try:
        for path, module in net.named_modules():
            if path and not list(module.children()):
                handles.append(module.register_forward_hook(make_hook(path)))
        device = next((p.device for p in net.parameters()), torch.device("cpu"))
        with torch.no_grad():
            net(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return [(path, module, shape) for path, (module, shape) in seen.items()]


def kind_of(module: nn.Module) -> str:
    """The class name; a TorchScript submodule reports the class it was scripted from (``Conv2d``)."""
    if isinstance(module, torch.jit.ScriptModule):
        return module.original_name
    return type(module).__name__


def is_kind(module: nn.Module, kinds: tuple[type, ...]) -> bool:
    """``isinstance``, or for a TorchScript submodule: scripted from one of ``kinds``."""
    if isinstance(module, torch.jit.ScriptModule):
        return module.original_name in {k.__name__ for k in kinds}
    return isinstance(module, kinds)


def derive_aliases(net: nn.Module, input_shape: tuple[int, ...]) -> dict[str, str]:
    """``conv1..convN`` for Conv2d and ``fc1..fcN`` for Linear modules, in forward order."""
    aliases: dict[str, str] = {}
    counts = {"conv": 0, "fc": 0}
    for path, module, _ in forward_order(net, input_shape):
        kind = "conv" if is_kind(module, (nn.Conv2d,)) else "fc" if is_kind(module, (nn.Linear,)) else None
        if kind:
            counts[kind] += 1
            aliases[f"{kind}{counts[kind]}"] = path
    return aliases


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


@dataclass
class LayerInfo:
    """One row of ``vizcnn layers``.

    ``receptive_field`` is the larger side of the input region one unit sees
    (``receptive_field_hw`` gives both; the whole input for units that see
    everything); ``jump`` the input distance between neighbouring units and
    ``start`` the input position ``(y, x)`` of unit 0's centre (``None`` for units that
    see the whole input). ``exact`` is ``False`` where the graph could not be
    traced and the chain rule was used (``approximate`` in the table).
    """

    name: str
    path: str
    type: str
    kernel: int | None
    stride: int | None
    padding: int | None
    output: list[int]
    weights: int
    biases: int
    receptive_field: int
    receptive_field_hw: list[int]
    jump: int | None
    start: list[float] | None
    exact: bool

    def as_dict(self) -> dict:
        return asdict(self)


def layer_table(net: nn.Module, input_shape: tuple[int, ...], aliases: dict[str, str]) -> list[LayerInfo]:
    """Every leaf layer in forward order with shapes, parameter counts and receptive field.

    Receptive fields come from the traced graph
    (:func:`~vizcnn.models.receptive.receptive_fields`): exact on branching
    networks (ResNet shortcuts, Inception concats) as on chains.
    """
    by_path = {p: a for a, p in aliases.items()}
    order = forward_order(net, input_shape)
    fields = receptive_fields(net, input_shape, order)
    full = [int(input_shape[-2]), int(input_shape[-1])]
    rows = []
    for path, module, shape in order:
        kernel = stride = padding = None
        if is_kind(module, _SPATIAL):
            kernel = _pair(module.kernel_size)[0]
            stride = _pair(module.stride or module.kernel_size)[0]
            padding = _pair(module.padding)[0] if not isinstance(module.padding, str) else None
        rf = fields.get(path) or ReceptiveField(None, None, None, exact=False)
        hw = list(rf.size) if rf.size is not None else full
        w = getattr(module, "weight", None)
        b = getattr(module, "bias", None)
        rows.append(
            LayerInfo(
                name=by_path.get(path, path),
                path=path,
                type=kind_of(module),
                kernel=kernel,
                stride=stride,
                padding=padding,
                output=list(shape),
                weights=w.numel() if isinstance(w, torch.Tensor) else 0,
                biases=b.numel() if isinstance(b, torch.Tensor) else 0,
                receptive_field=max(hw),
                receptive_field_hw=hw,
                jump=max(rf.jump) if rf.jump is not None else None,
                start=list(rf.start) if rf.start is not None else None,
                exact=rf.exact,
            )
        )
    return rows
