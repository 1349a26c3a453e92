"""Convolution arithmetic: output sizes and parameter counts of one layer.

For input width ``W``, kernel ``K``, padding ``P`` and stride ``S`` the output
width is ``floor((W + 2P - K) / S) + 1``. A convolution with ``F`` filters on
``C`` input channels has ``F * K * K * C`` weights and ``F`` biases; pooling
has none and keeps the channel count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import VizcnnError

__all__ = ["LayerArithmetic", "output_size", "conv_layer", "pool_layer"]


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """``floor((W + 2P - D(K - 1) - 1) / S) + 1``: the conv/pool output width.

    With dilation 1 this is the lecture's ``floor((W + 2P - K) / S) + 1``.

    Raises:
        VizcnnError: negative or zero sizes, or a kernel larger than the padded input.
    """
    for name, value, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        if int(value) != value or value < low:
            raise VizcnnError(f"{name} must be an integer >= {low}, got {value}.")
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise VizcnnError(
            f"a {kernel}x{kernel} kernel does not fit a {size}-pixel input with padding {padding}: "
            f"W + 2P = {size + 2 * padding} < K = {span}, so the output would be empty. Use a smaller kernel or more padding."
        )
    return (size + 2 * padding - span) // stride + 1


@dataclass(frozen=True)
class LayerArithmetic:
    """One layer's numbers: input and output ``[H, W, C]``, weight and bias counts."""

    kind: str
    input: tuple[int, int, int]
    output: tuple[int, int, int]
    kernel: int
    stride: int
    padding: int
    weights: int
    biases: int

    @property
    def parameters(self) -> int:
        return self.weights + self.biases

    def as_dict(self) -> dict:
        d = asdict(self)
        d["input"], d["output"] = list(self.input), list(self.output)
        d["parameters"] = self.parameters
        return d

    def explain(self) -> str:
        """The worked computation, as the lecture writes it."""
        (h, w, c), (oh, ow, oc) = self.input, self.output
        k, s, p = self.kernel, self.stride, self.padding
        lines = [f"{self.kind} layer on a {h}x{w}x{c} input, kernel {k}x{k}, stride {s}, padding {p}"]
        for label, n, o in (("height", h, oh), ("width", w, ow)):
            lines.append(f"  output {label}: floor(({n} + 2*{p} - {k}) / {s}) + 1 = floor({n + 2 * p - k}/{s}) + 1 = {o}")
        lines.append(f"  output: {oh}x{ow}x{oc}")
        if self.kind == "conv":
            lines.append(f"  weights: {oc} filters x {k}x{k}x{c} = {self.weights}")
            lines.append(f"  biases: {self.biases} (one per filter)")
            lines.append(f"  parameters: {self.parameters}")
        else:
            lines.append("  parameters: 0 (pooling has no weights)")
        return "\n".join(lines)


def conv_layer(
    height: int, width: int, channels: int, *, filters: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True
) -> LayerArithmetic:
    """A convolution with ``filters`` filters of ``kernel x kernel x channels``."""
    if channels < 1 or filters < 1:
        raise VizcnnError(f"channels and filters must be >= 1, got {channels} and {filters}.")
    oh, ow = output_size(height, kernel, stride, padding), output_size(width, kernel, stride, padding)
    return LayerArithmetic(
        "conv", (height, width, channels), (oh, ow, filters), kernel, stride, padding,
        weights=filters * kernel * kernel * channels, biases=filters if bias else 0,
    )  # fmt: skip


def pool_layer(height: int, width: int, channels: int, *, kernel: int = 2, stride: int | None = None, padding: int = 0) -> LayerArithmetic:
    """A max/avg pooling layer; the stride defaults to the kernel size, as in torch."""
    stride = kernel if stride is None else stride
    if channels < 1:
        raise VizcnnError(f"channels must be >= 1, got {channels}.")
    if padding > kernel // 2:
        raise VizcnnError(f"pooling padding must be at most half the kernel ({kernel // 2}), got {padding}.")
    oh, ow = output_size(height, kernel, stride, padding), output_size(width, kernel, stride, padding)
    return LayerArithmetic("pool", (height, width, channels), (oh, ow, channels), kernel, stride, padding, 0, 0)
