"""Where tensors live: the GPU when there is one, else the CPU."""

from __future__ import annotations

import torch

__all__ = ["default_device"]


def default_device() -> torch.device:
    """``cuda`` when ``torch.cuda.is_available()``, otherwise ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
