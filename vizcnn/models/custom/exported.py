"""Exported programs (``torch.export.save``, ``.pt2``): unflattened into their module tree, one-operator
leaves rebuilt as real ``torch.nn`` modules sharing the file's tensors, so hooks and layer names work."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ...errors import VizcnnError
from ..model import InputSpec
from .archive import vet_exported

__all__ = ["from_program", "load_exported"]


def _side(v):
    """``[2, 2]`` -> ``2`` and ``[2, 3]`` -> ``(2, 3)``: pools keep the form ``nn.MaxPool2d(2)`` was built with."""
    if isinstance(v, (list, tuple)):
        return v[0] if v and all(x == v[0] for x in v) else tuple(v)
    return v


def _conv(a: dict) -> nn.Module:
    w, groups = a["weight"], a["groups"]
    return nn.Conv2d(
        w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), a["stride"], a["padding"], a["dilation"], groups,
        bias=a["bias"] is not None,
    )  # fmt: skip


#: aten operator -> builder of the torch.nn module that runs it, from the call's named arguments
#: (schema defaults filled in, tensors in place of graph nodes).
_REBUILD: dict[str, Callable[[dict], nn.Module]] = {
    "aten.conv2d.default": _conv,
    "aten.conv2d.padding": _conv,
    "aten.linear.default": lambda a: nn.Linear(a["weight"].shape[1], a["weight"].shape[0], bias=a["bias"] is not None),
    "aten.relu.default": lambda a: nn.ReLU(),
    "aten.gelu.default": lambda a: nn.GELU(a["approximate"]),
    "aten.silu.default": lambda a: nn.SiLU(),
    "aten.sigmoid.default": lambda a: nn.Sigmoid(),
    "aten.tanh.default": lambda a: nn.Tanh(),
    "aten.leaky_relu.default": lambda a: nn.LeakyReLU(a["negative_slope"]),
    "aten.dropout.default": lambda a: nn.Dropout(a["p"]),
    "aten.max_pool2d.default": lambda a: nn.MaxPool2d(
        _side(a["kernel_size"]), _side(a["stride"]) or None, _side(a["padding"]), _side(a["dilation"]), ceil_mode=a["ceil_mode"]
    ),
    "aten.avg_pool2d.default": lambda a: nn.AvgPool2d(
        _side(a["kernel_size"]), _side(a["stride"]) or None, _side(a["padding"]), a["ceil_mode"], a["count_include_pad"],
        a["divisor_override"],
    ),
    "aten.adaptive_avg_pool2d.default": lambda a: nn.AdaptiveAvgPool2d(tuple(a["output_size"])),
    "aten.flatten.using_ints": lambda a: nn.Flatten(a["start_dim"], a["end_dim"]),
    "aten.batch_norm.default": lambda a: nn.BatchNorm2d(a["weight"].shape[0], eps=a["eps"], momentum=a["momentum"]),
}


def _rebuild_leaf(leaf: nn.Module) -> nn.Module | None:
    """A real ``torch.nn`` module doing what an unflattened one-operator leaf does, sharing its tensors."""
    graph = getattr(leaf, "graph", None)
    if graph is None:
        return None
    calls = [n for n in graph.nodes if n.op == "call_function"]
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(calls) != 1 or len(inputs) != 1 or str(calls[0].target) not in _REBUILD:
        return None
    named = calls[0].normalized_arguments(leaf, normalize_to_only_use_kwargs=True)
    if named is None or named.kwargs.get("input") is not inputs[0]:
        return None
    tensors = dict(leaf.named_parameters(recurse=False)) | dict(leaf.named_buffers(recurse=False))
    by_node = {n: tensors.get(n.target) for n in graph.nodes if n.op == "get_attr"}
    args = {k: by_node.get(v) if isinstance(v, torch.fx.Node) else v for k, v in named.kwargs.items()}
    try:
        module = _REBUILD[str(calls[0].target)](args)
    except (TypeError, ValueError, KeyError, AttributeError):  # a call this table does not cover: keep the leaf
        return None
    own = module.state_dict()
    if set(own) != set(tensors) or any(own[k].shape != v.shape for k, v in tensors.items()):
        return None
    for key, value in tensors.items():
        if isinstance(value, nn.Parameter):
            module.register_parameter(key, value)
        else:
            module.register_buffer(key, value)
    return module


def _restore_modules(net: nn.Module) -> None:
    for path, leaf in list(net.named_modules()):
        if not path or list(leaf.children()):
            continue
        module = _rebuild_leaf(leaf)
        if module is not None:
            parent_path, _, child = path.rpartition(".")
            setattr(net.get_submodule(parent_path) if parent_path else net, child, module)


def load_exported(path: Path) -> torch.export.ExportedProgram:
    """The program in ``path``, read once and inspected (:func:`~.archive.vet_exported`) before torch opens it."""
    if path.suffix != ".pt2":
        raise VizcnnError(f"{str(path)!r} holds an exported program (torch.export.save), whose files end in .pt2: rename it to .pt2.")
    data = path.read_bytes()
    vet_exported(path, data)
    # A second guard: every torch.load inside torch.export.load runs with weights_only=True.
    saved = os.environ.get(_FORCE)
    os.environ[_FORCE] = "1"
    try:
        return torch.export.load(io.BytesIO(data))
    except Exception as exc:  # torch raises many kinds here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VizcnnError(f"cannot load the exported program {str(path)!r}: {first}.") from None
    finally:
        if saved is None:
            del os.environ[_FORCE]
        else:
            os.environ[_FORCE] = saved


_FORCE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"


def from_program(
    program: torch.export.ExportedProgram, what: str, input_size: Sequence[int] | None, device
) -> tuple[nn.Module, InputSpec | None]:
    """The program unflattened into its module tree with rebuilt leaves, and the input it was exported for."""
    user = set(program.graph_signature.user_inputs)
    shapes = [n.meta["val"].shape for n in program.graph.nodes if n.op == "placeholder" and n.name in user and "val" in n.meta]
    if len(shapes) != 1 or len(shapes[0]) != 4:
        raise VizcnnError(f"{what} takes {len(shapes)} inputs; vizcnn reads models that take one (N, C, H, W) image batch.")
    shape = shapes[0]
    if isinstance(shape[0], int):
        raise VizcnnError(
            f"{what} was exported with a fixed batch size of {shape[0]}, and vizcnn runs batches of images. "
            "Export it with a dynamic batch dimension: torch.export.export(model, (example,), "
            "dynamic_shapes=({0: torch.export.Dim('batch')},)) (see examples/export_cifar_net.py)."
        )
    net = torch.export.unflatten(program)
    _restore_modules(net)
    net.to(device)
    if not all(isinstance(d, int) for d in shape[1:]):
        return net, None
    c, h, w = (int(d) for d in shape[1:])
    if h != w:
        raise VizcnnError(f"{what} takes {h}x{w} inputs; vizcnn works with square inputs.")
    if input_size is not None and tuple(input_size) != (c, h, w):
        raise VizcnnError(
            f"{what} was exported for inputs of {c}x{h}x{w} and runs no other size: "
            "drop --input-size, or export it again with that size."
        )
    return net, InputSpec(channels=c, size=h, mean=(0.0,) * c, std=(1.0,) * c)
