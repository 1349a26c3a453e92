"""Progress bars: a widget in Jupyter when ipywidgets is installed, plain text on stderr otherwise, never a warning.

``tqdm.auto`` warns ("IProgress not found") in a notebook without ipywidgets
and shows that warning in red above every bar; this picks the bar itself.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["in_notebook", "progress_bar"]


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython is imported and runs as an ``IPKernelApp``)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def progress_bar(iterable: Any = None, **kwargs: Any):
    """A tqdm bar over ``iterable`` (keyword arguments as tqdm's): a notebook widget or plain text."""
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(iterable, **kwargs)
