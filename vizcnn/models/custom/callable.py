"""``module.path:callable`` models: import the module, call the callable, load ``--weights`` into the result."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from torch import nn

from ...errors import VizcnnError, unknown_name
from ..weights import load_into, read_state_dict

__all__ = ["from_import_path", "load_weights"]


def _import_callable(name: str) -> Callable[[], nn.Module] | nn.Module:
    module_name, attr = name.split(":", 1)
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise VizcnnError(
                f"cannot import module {module_name!r} for {name}: no such module on the Python path "
                f"(the current directory {cwd!r} is searched too). Run vizcnn from the folder that holds it, "
                "or install its package."
            ) from None
        raise VizcnnError(f"importing {module_name!r} failed: it needs the module {exc.name!r}, which is not installed.") from None
    except Exception as exc:  # an error inside the user's module
        raise VizcnnError(f"importing {module_name!r} failed with {type(exc).__name__}: {exc}. Fix the module and retry.") from None
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
            raise unknown_name(
                f"callable in {module_name}", attr, public,
                hint="Give module.path:callable, where the callable builds and returns the nn.Module.",
            )  # fmt: skip
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module) and not callable(obj):
        raise VizcnnError(f"{name} is a {type(obj).__name__}, not a callable: point at a function or class that returns an nn.Module.")
    return obj


def from_import_path(name: str, weights) -> tuple[nn.Module, str]:
    obj = _import_callable(name)
    if isinstance(obj, nn.Module):
        net = obj
    else:
        try:
            net = obj()
        except Exception as exc:  # the user's builder failed
            raise VizcnnError(
                f"calling {name}() failed with {type(exc).__name__}: {exc}. vizcnn calls it with no arguments; "
                "wrap it in a function that passes them."
            ) from None
    if not isinstance(net, nn.Module):
        raise VizcnnError(f"{name}() returned a {type(net).__name__}, not a torch.nn.Module: the callable must build and return the network.")
    return net, load_weights(net, weights, f"as built by {name}() (its own initialisation; no --weights given)")


def load_weights(net: nn.Module, weights, own: str) -> str:
    """Load ``weights`` into ``net`` unless none (or ``random``) are given; return the source, ``own`` for none."""
    if weights is None or str(weights) == "random":
        return own
    load_into(net, read_state_dict(weights), str(weights))
    return str(weights)
