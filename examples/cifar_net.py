"""A small CIFAR-style CNN in a plain Python file: vizcnn's example of "bring your own model".

    vizcnn layers examples.cifar_net:CifarNet --input-size 3x32x32

The weights are random (the network's own initialisation; there is no CIFAR
data here to train on): enough to learn the commands and to check that each
way of handing vizcnn a model gives the same layers. ``build`` seeds the
initialisation so that the files written by ``export_cifar_net.py`` hold the
same network as ``examples.cifar_net:build``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CLASSES", "CifarNet", "build"]

#: The CIFAR-10 class names, index = output unit.
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class CifarNet(nn.Module):
    """Two conv-conv-pool blocks and a two-layer classifier for ``(N, 3, 32, 32)`` images."""

    def __init__(self, num_classes: int = len(CLASSES)) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(*block(3, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(seed: int = 0) -> CifarNet:
    """A :class:`CifarNet` with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    return CifarNet().eval()
