"""vizcnn: see what a convolutional network has learned.

    >>> import vizcnn
    >>> model = vizcnn.load_model("mnist-cnn")
    >>> model.layer("conv1").module
    Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=False)

Names are imported on first use (PEP 562), so ``vizcnn --help`` starts
without importing torch.
"""

from __future__ import annotations

import importlib

from .errors import VizcnnError, WeightsNotFoundError

__version__ = "0.1.0"

#: Public names that live in a submodule, imported when first used.
_LAZY = {"Model": "vizcnn.models", "list_models": "vizcnn.models", "load_model": "vizcnn.models"}
#: Capability modules reachable as attributes (``vizcnn.filters.plot``).
_SUBMODULES = ("activations", "evaluate", "examples", "filters", "lesson", "optvis", "attribution", "dictionary", "flow", "atlas")

__all__ = ["Model", "VizcnnError", "WeightsNotFoundError", "__version__", "list_models", "load_model", *_SUBMODULES]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"vizcnn.{name}")
    raise AttributeError(f"module 'vizcnn' has no attribute {name!r}")
