"""Strided convolutions run as stride-1 ones on a space-to-depth input, for CPU renders.

oneDNN's input gradient of a strided convolution is slow: for AlexNet's conv1
(11x11, stride 4) on 8 images of 128 px it cost six times the forward pass
here. Rearranging the input with ``pixel_unshuffle`` (each stride x stride
block becomes channels) turns the layer into a stride-1 convolution (3x3 on
48 channels) whose backward pass costs about as much as its forward: conv1's
forward + backward went from 11.5 ms to 5.5 ms. The values are the same up to
float rounding. Renders use it while the weights are frozen, so the rearranged
weights are computed once per render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["space_to_depth"]


def _eligible(m: nn.Module) -> bool:
    """A plain square Conv2d whose kernel is wider than its stride (> 1), zero-padded evenly."""
    return (
        type(m) is nn.Conv2d
        and m.groups == 1
        and m.dilation == (1, 1)
        and m.padding_mode == "zeros"
        and isinstance(m.padding, tuple)
        and m.padding[0] == m.padding[1]
        and m.stride[0] == m.stride[1] > 1
        and m.kernel_size[0] == m.kernel_size[1] > m.stride[0]
    )


def _forward(conv: nn.Conv2d) -> Callable[[torch.Tensor], torch.Tensor]:
    s, k, p = conv.stride[0], conv.kernel_size[0], conv.padding[0]
    m = -(-k // s)  # the kernel in blocks of s x s; zero-padded to m * s pixels
    w = F.pad(conv.weight.detach(), (0, m * s - k, 0, m * s - k))
    o, c = w.shape[:2]
    w = w.view(o, c, m, s, m, s).permute(0, 1, 3, 5, 2, 4).reshape(o, c * s * s, m, m).contiguous()
    bias = None if conv.bias is None else conv.bias.detach()

    def forward(x: torch.Tensor) -> torch.Tensor:
        h, wd = x.shape[-2:]
        oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
        nh, nw = (oh - 1 + m) * s, (ow - 1 + m) * s  # input pixels the blocked kernel reads
        x = F.pad(x, (p, max(p, nw - wd - p), p, max(p, nh - h - p)))[..., :nh, :nw]
        return F.conv2d(F.pixel_unshuffle(x, s), w, bias)

    return forward


@contextmanager
def space_to_depth(net: nn.Module) -> Iterator[int]:
    """Run the eligible strided convolutions of ``net`` as space-to-depth ones inside the block.

    The modules stay the same objects (hooks keep firing); only their
    ``forward`` is replaced, and restored afterwards. Yields how many were patched.
    Use it only while the weights are frozen: the rearranged weights are a snapshot.
    """
    patched = [m for m in net.modules() if _eligible(m)]
    try:
        for m in patched:
            m.forward = _forward(m)
        yield len(patched)
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
