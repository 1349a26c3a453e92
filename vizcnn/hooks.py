"""Capture layer outputs with forward hooks, and stop the forward pass early.

Hooks live only inside the :func:`capture` context manager: they are
registered in a ``try`` and removed in ``finally``, after success and after an
exception alike. With ``stop=True`` the forward pass ends as soon as every
requested layer has produced its output, so later layers cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["Capture", "capture", "forward_to"]


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
