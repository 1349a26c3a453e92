"""Small CNNs for MNIST digits (1x28x28 input, 10 classes).

Module attribute names are the layer names people use (``conv1``, ``pool1``,
``fc1``), so the module paths and the friendly names are the same.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LeNet", "MnistCNN"]


class LeNet(nn.Module):
    """LeNet-5 style: two 5x5 convolutions with pooling, three fully connected layers.

    ReLU and max pooling replace the original's tanh and subsampling.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)  # 6x28x28
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)  # 6x14x14
        self.conv2 = nn.Conv2d(6, 16, 5)  # 16x10x10
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)  # 16x5x5
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)


class MnistCNN(nn.Module):
    """A compact modern CNN: four 3x3/5x5 convolutions with BatchNorm, two poolings.

    ``conv1`` has 16 filters of 5x5, few and large enough to plot clearly.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2, bias=False)  # 16x28x28
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)  # 32x28x28
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)  # 32x14x14
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1, bias=False)  # 64x14x14
        self.bn3 = nn.BatchNorm2d(64)
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1, bias=False)  # 64x14x14
        self.bn4 = nn.BatchNorm2d(64)
        self.relu4 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)  # 64x7x7
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.3)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.relu5 = nn.ReLU()
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool1(self.relu2(self.bn2(self.conv2(x))))
        x = self.relu3(self.bn3(self.conv3(x)))
        x = self.pool2(self.relu4(self.bn4(self.conv4(x))))
        x = self.relu5(self.fc1(self.dropout(self.flatten(x))))
        return self.fc2(x)
