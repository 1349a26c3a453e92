"""Capture layer outputs with forward hooks, and stop the forward pass early.

Hooks live only inside the :func:`capture` context manager: they are
registered in a ``try`` and removed in ``finally``, after success and after an
exception alike. With ``stop=True`` the forward pass ends as soon as every
requested layer has produced its output, so later layers cost nothing.
:func:`saved_bytes` measures what a pass up to some layers keeps for its
backward pass (a render's memory).
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import nn

from .errors import VizcnnError

__all__ = ["Capture", "Saved", "capture", "forward_to", "frozen", "saved_bytes"]


class _Stop(Exception):
    """Raised inside a hook to end the forward pass once all layers are seen."""


class Capture(dict):
    """Layer outputs by the name they were requested under, filled by :func:`capture`."""

    def __init__(self, model: nn.Module, names: Sequence[str], stop: bool) -> None:
        super().__init__()
        self.model = model
        self.names = list(names)
        self.stop = stop

    def run(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """Run ``model(inputs)``; return its output, or ``None`` when stopped early."""
        try:
            return self.model(inputs)
        except _Stop:
            return None


@contextmanager
def capture(
    model: nn.Module, modules: dict[str, nn.Module], *, stop: bool = True, inputs: bool = False
) -> Iterator[Capture]:
    """Record the outputs of ``modules`` (name -> module) during forward passes.

    Use ``cap.run(x)`` inside the block; afterwards ``cap[name]`` holds each
    output. With ``stop=True``, ``run`` returns ``None`` as soon as all the
    layers have fired. A module that runs more than once keeps its last output.
    With ``inputs=True`` each module's (first) input is recorded instead, and
    with ``stop=True`` the pass ends before the last module runs.
    """
    cap = Capture(model, list(modules), stop)
    handles = []

    def record(name: str, value) -> None:
        cap[name] = value
        if cap.stop and len(cap) == len(cap.names) and all(n in cap for n in cap.names):
            raise _Stop

    def make_hook(name: str):
        if inputs:
            return lambda _module, args: record(name, args[0])
        return lambda _module, _args, output: record(name, output)

    try:
        for name, module in modules.items():
            register = module.register_forward_pre_hook if inputs else module.register_forward_hook
            handles.append(register(make_hook(name)))
        yield cap
    finally:
        for h in handles:
            h.remove()


def forward_to(model: nn.Module, modules: dict[str, nn.Module], inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Return the outputs of ``modules`` for ``inputs``, stopping after the last one."""
    with capture(model, modules, stop=True) as cap:
        cap.clear()
        cap.run(inputs)
    missing = [n for n in modules if n not in cap]
    if missing:
        raise RuntimeError(f"layers {missing} did not run in the forward pass")
    return dict(cap)


@contextmanager
def frozen(net: nn.Module) -> Iterator[None]:
    """Switch off gradients for the network's parameters (only the input gets them); restore them afterwards."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class Saved(NamedTuple):
    """What one forward pass holds (see :func:`saved_bytes`)."""

    upto: int  #: bytes autograd saves up to the requested layers, each storage once
    outputs: int  #: bytes of every leaf module's output over the whole network


#: Measured by network, then by (input shape, device, layers): two passes each.
_SAVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def saved_bytes(net: nn.Module, modules: dict[str, nn.Module], shape: tuple[int, ...], device: object = None) -> Saved:
    """Bytes autograd keeps for the backward pass of one input of ``shape`` ``(C, H, W)`` that needs a
    gradient, through ``net`` with its parameters frozen, up to ``modules`` (all of it for none); and
    the bytes of every leaf module's output over the whole network.

    The first is what a render's backward pass needs besides gradients: every tensor an operation
    saves, functional ones included, each storage once; parameters and buffers are not counted
    (already in memory). The second bounds one pass through the whole network (which a render's
    recipe runs once, and this measurement too): such a pass holds a few of those outputs at a
    time. Measured once per network, shape and layers: one pass through the whole network without
    gradients, and one up to the layers with saved-tensor hooks that count and keep nothing. A
    network that fails on a zero image is estimated as 64 times its input.
    """
    key = (tuple(shape), str(device), tuple((name, id(m)) for name, m in modules.items()))
    try:
        known = _SAVED.setdefault(net, {})
    except TypeError:  # not weakly referenceable: measure every time
        known = {}
    if key not in known:
        known[key] = _measure_saved(net, modules, tuple(shape), device)
    return known[key]


def _measure_saved(net: nn.Module, modules: dict[str, nn.Module], shape: tuple[int, ...], device: object) -> Saved:
    resident = {t.untyped_storage().data_ptr() for t in itertools.chain(net.parameters(), net.buffers())}
    seen: dict[int, weakref.ref] = {}  # storage address -> a tensor on it, while that tensor lives
    total = outputs = 0

    def pack(t: torch.Tensor) -> None:
        nonlocal total
        storage = t.untyped_storage()
        address = storage.data_ptr()
        if address in resident or address == 0:
            return None
        alive = seen.get(address)
        if alive is None or alive() is None:  # a freed storage's address taken by a new one counts again
            total += storage.nbytes()
            seen[address] = weakref.ref(t)
        return None

    def add(_module, _args, output) -> None:
        nonlocal outputs
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                outputs += t.numel() * t.element_size()

    try:
        with frozen(net):
            handles = []
            try:  # the whole network without gradients, every leaf's output counted
                for m in net.modules():  # one at a time, so that a refusal leaves none behind
                    if not list(m.children()):
                        handles.append(m.register_forward_hook(add))
                with torch.no_grad():
                    net(torch.zeros((1, *shape), device=device))
            except VizcnnError:  # TorchScript runs no hooks: its whole pass is guessed as 64 times the input
                outputs = 64 * 4 * math.prod(shape)
            finally:
                for h in handles:
                    h.remove()
            # up to the layers with a gradient, as a render's forward pass runs: what autograd saves
            x = torch.zeros((1, *shape), device=device, requires_grad=True)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda _: None), capture(net, modules, stop=True) as cap:
                cap.run(x)
    except VizcnnError:  # e.g. a TorchScript model asked for a layer: its message says what to do
        raise
    except Exception:  # noqa: BLE001 - whatever the network raises: fall back to the input size
        total = outputs = 64 * 4 * math.prod(shape)
    floor = 4 * math.prod(shape)
    return Saved(max(total, floor), max(outputs, floor))
