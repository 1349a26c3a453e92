"""TorchScript files (``torch.jit.save``): layers and filters work; hooks cannot run on compiled code, so they are refused."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from ...errors import VizcnnError
from .archive import vet_torchscript

__all__ = ["SUGGEST", "load_torchscript", "refuse_hooks"]

#: What to do instead when a TorchScript model cannot serve a command.
SUGGEST = (
    "give vizcnn the model's Python code as module.path:callable (with --weights FILE), "
    "or save it with torch.export.save as a .pt2 file"
)


def refuse_hooks(net: nn.Module) -> None:
    """Make hook registration on a TorchScript module raise a :class:`VizcnnError` that says why."""
    for path, module in net.named_modules():

        def refuse(*_args, _path=path or "(the whole model)", **_kwargs):
            raise VizcnnError(
                f"this needs a hook on layer {_path!r}, and a TorchScript model cannot run Python hooks: its forward "
                "pass is compiled, so nothing that reads a layer's activations (activations, examples, render, "
                f"attribute, dictionary) works on it; layers does. To use them, {SUGGEST}."
            )

        for method in ("register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook", "register_backward_hook"):
            object.__setattr__(module, method, refuse)


def load_torchscript(path: Path, device) -> nn.Module:
    """The module in ``path``, read once and inspected (:func:`~.archive.vet_torchscript`) before torch opens it."""
    data = path.read_bytes()
    vet_torchscript(path, data)
    try:
        net = torch.jit.load(io.BytesIO(data), map_location=device)
    except Exception as exc:  # torch raises RuntimeError with long C++ messages
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), "no reason given")
        raise VizcnnError(
            f"cannot load the TorchScript file {str(path)!r} (torch.jit.load said: {type(exc).__name__}: {reason[:200]}). "
            "Is it a complete file written by torch.jit.save?"
        ) from None
    refuse_hooks(net)
    return net
