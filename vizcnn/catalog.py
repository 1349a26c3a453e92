"""What ``MODEL`` may be, as data that imports without torch: the CLI checks a name before the ~2 s import.

The zoo (:mod:`vizcnn.models.zoo`) registers a spec under each of
:data:`ZOO_NAMES` (a test holds the two together); the other forms are those
:mod:`vizcnn.models.custom` loads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import VizcnnError, unknown_name

__all__ = ["IMPORT_PATH", "MODEL_FILE_SUFFIXES", "MODEL_FORMS", "PREFIXES", "ZOO_NAMES", "check_model_name"]

#: The zoo's own models, by name.
ZOO_NAMES = ("alexnet", "lenet", "mnist-cnn")
#: Prefixes whose names only torchvision or timm can check (after the import).
PREFIXES = ("torchvision:", "timm:")
#: ``module.path:callable``.
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
#: Suffixes that make MODEL a saved model file.
MODEL_FILE_SUFFIXES = frozenset({".pt", ".pt2", ".pth", ".ts", ".ptl", ".zip", ".jit"})
#: The other forms of MODEL, for error messages.
MODEL_FORMS = (
    "Any torchvision classification model works as torchvision:NAME (e.g. torchvision:resnet18); your own model "
    "as module.path:callable, a TorchScript .pt or exported .pt2 file, or timm:NAME."
)


def check_model_name(name: str) -> None:
    """Raise :class:`VizcnnError` unless ``name`` can be a model: a zoo name, a prefixed name, an import path or a file.

    Needs no torch, so a typo is answered at once.
    """
    text = str(name)
    if text in ZOO_NAMES or text.startswith(PREFIXES):
        return
    if Path(text).suffix in MODEL_FILE_SUFFIXES or os.path.sep in text or "/" in text:
        if not os.path.isfile(text):
            raise VizcnnError(f"model file {text!r} does not exist. Check the path given as MODEL.")
        return
    if IMPORT_PATH.match(text) or os.path.isfile(text):
        return
    raise unknown_name("model", text, ZOO_NAMES, hint=MODEL_FORMS)
