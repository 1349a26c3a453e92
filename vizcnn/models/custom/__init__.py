"""Models that are not in the zoo: a Python callable, a saved TorchScript or exported file, timm.

``MODEL`` (and :func:`vizcnn.load_model`) accepts, besides the zoo names:

- ``module.path:callable``: the module is imported (the current directory is
  searched too) and the callable is called with no arguments; it returns the
  ``nn.Module``. ``--weights FILE`` loads a state dict into it.
- a saved model file: TorchScript (``.pt`` from ``torch.jit.save``) or an
  exported program (``.pt2`` from ``torch.export.save``), told apart by the
  archive's layout, not only by the suffix.
- ``timm:NAME`` when timm is installed, with weights from timm's Hugging Face
  cache or ``--weights FILE``.

Exported programs are unflattened back into their module tree
(``torch.export.unflatten``) and their one-operator leaves (convolutions,
linear layers, activation functions, pools, batch norms) are rebuilt as real ``torch.nn``
modules sharing the file's tensors, so hooks, layer names, filters and
attribution work as on the original model. TorchScript modules cannot run
Python hooks: every hook registration on them raises a :class:`VizcnnError`
that says so and what to do instead.

A model that carries no input description gets one from ``input_size``,
``mean``, ``std`` and ``categories`` (the CLI's ``--input-size``, ``--mean``,
``--std`` and ``--classes``); the defaults are documented on
:func:`describe_input`.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ...catalog import IMPORT_PATH, MODEL_FILE_SUFFIXES
from ...errors import VizcnnError, WeightsNotFoundError
from ..model import InputSpec
from .callable import from_import_path, load_weights
from .exported import from_program, load_exported
from .inputs import (
    categories as _categories,
    describe_input,
    first_conv_channels,
    output_shape,
    parse_floats,
    parse_input_size,
    read_classes,
)
from .timm import from_timm
from .torchscript import load_torchscript, refuse_hooks

__all__ = [
    "Built",
    "build_custom",
    "describe_input",
    "is_custom",
    "is_import_path",
    "output_shape",
    "parse_floats",
    "parse_input_size",
    "read_classes",
]  # fmt: skip


#: What :func:`build_custom` returns: (network, input spec, class names, where the weights came from).
Built = tuple[nn.Module, InputSpec, list[str], str]


def is_custom(name: str | nn.Module | torch.export.ExportedProgram) -> bool:
    """Whether ``name`` is a module or program, a timm name, a model file or an import path rather than a zoo name."""
    if isinstance(name, (nn.Module, torch.export.ExportedProgram)):
        return True
    name = str(name)
    return name.startswith("timm:") or _is_file_name(name) or bool(IMPORT_PATH.match(name) and not name.startswith("torchvision:"))


def is_import_path(name: str) -> bool:
    """Whether ``name`` is a ``module.path:callable`` model, which :func:`build_custom` imports and calls."""
    name = str(name)
    return bool(IMPORT_PATH.match(name)) and not name.startswith(("timm:", "torchvision:")) and not _is_file_name(name)


def _is_file_name(name: str) -> bool:
    return Path(name).suffix in MODEL_FILE_SUFFIXES or os.path.isfile(name)


def _archive_kind(path: Path) -> str:
    """``torchscript``, ``exported``, or an error for anything else."""
    if not path.is_file():
        raise WeightsNotFoundError(f"model file {str(path)!r} does not exist. Check the path given as MODEL.")
    if not zipfile.is_zipfile(path):
        raise VizcnnError(
            f"{str(path)!r} is not a saved model: TorchScript (.pt, torch.jit.save) and exported programs "
            "(.pt2, torch.export.save) are zip archives, and this file is not one."
        )
    with zipfile.ZipFile(path) as archive:
        parts = {n.split("/", 1)[1] if "/" in n else n for n in archive.namelist()}
    exported = ("archive_format", "serialized_exported_program.json")  # torch 2.8+ and older layouts
    if any(p in parts for p in exported) or any(p.startswith("models/") and p.endswith(".json") for p in parts):
        return "exported"
    if "constants.pkl" in parts and any(p.startswith("code/") for p in parts):
        return "torchscript"
    if "data.pkl" in parts:
        raise VizcnnError(
            f"{str(path)!r} was written by torch.save (a state dict or a pickled model), not by torch.jit.save or "
            "torch.export.save. A state dict has no architecture: pass the architecture as MODEL "
            "(module.path:callable) and this file with --weights. vizcnn does not unpickle whole models (unsafe): "
            "save those with torch.export.save(torch.export.export(model, (example,)), 'model.pt2')."
        )
    raise VizcnnError(f"{str(path)!r} is a zip archive, but neither a TorchScript nor an exported-program file.")


def _from_file(path: Path, weights, input_size: Sequence[int] | None, device) -> tuple[nn.Module, InputSpec | None, str]:
    """A TorchScript or exported file: (net, the input it carries, weights source)."""
    kind = _archive_kind(path)
    if weights is not None:
        raise VizcnnError(
            f"{str(path)!r} is a saved model that carries its own weights; --weights is for zoo, timm and "
            "module.path:callable models. Drop --weights."
        )
    if kind == "torchscript":
        if path.suffix == ".pt2":
            raise VizcnnError(
                f"{str(path)!r} is a TorchScript file (torch.jit.save), but .pt2 is the suffix of exported programs "
                "(torch.export.save): rename it to .pt."
            )
        return load_torchscript(path, device), None, f"TorchScript file {path}"
    net, known = from_program(load_exported(path), repr(str(path)), input_size, device)
    return net, known, f"exported program {path}"


def build_custom(
    name: str | nn.Module | torch.export.ExportedProgram,
    weights: str | os.PathLike | None,
    device: torch.device,
    *,
    input_size: Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    categories: Sequence[str] | None = None,
) -> Built:
    """Build a timm, file or import-path model, or take an ``nn.Module`` or exported program, on ``device``.

    Returns (net, input, categories, weights source). A module passed in is
    used itself, not copied: it is moved to ``device`` and put in eval mode.
    """
    known: InputSpec | None = None
    known_categories = None
    if isinstance(name, torch.export.ExportedProgram):
        if weights is not None:
            raise VizcnnError("an exported program carries its own weights: drop weights=.")
        net, known = from_program(name, "the exported program", input_size, device)
        name, source = "ExportedProgram", "exported program"
    elif isinstance(name, nn.Module):
        net, source = name, load_weights(name, weights, "the module's own weights")
        if isinstance(net, torch.jit.ScriptModule):
            refuse_hooks(net)
        name = type(net).__name__
        net.to(device)
    elif name.startswith("timm:"):
        net, known, known_categories, source = from_timm(name, weights)
        net.to(device)
    elif is_import_path(name):
        net, source = from_import_path(name, weights)
        net.to(device)
    else:
        net, known, source = _from_file(Path(name), weights, input_size, device)
    net.eval()  # before any forward pass: a training-mode BatchNorm would update its running statistics
    spec = describe_input(known, input_size, mean, std, channels=first_conv_channels(net))
    out_shape = output_shape(net, spec, guessed=input_size is None and known is None, what=name)
    return net, spec, _categories(categories, out_shape, known_categories), source
