"""The input a custom model takes: size, normalisation and class names, from the model or the user's flags."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ...errors import VizcnnError
from ..model import InputSpec

__all__ = ["categories", "describe_input", "first_conv_channels", "output_shape", "parse_floats", "parse_input_size", "read_classes"]

_DEFAULT_SIZE = 224


def parse_input_size(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` (or ``"3x32"``) -> ``(3, 32, 32)``; vizcnn works with square inputs."""
    try:
        parts = [int(p) for p in text.lower().replace(",", "x").split("x")]
    except ValueError:
        parts = []
    if len(parts) == 2:
        parts.append(parts[1])
    if len(parts) != 3 or min(parts) < 1:
        raise VizcnnError(f"cannot read --input-size {text!r}: write channels x height x width, e.g. 3x32x32.")
    if parts[1] != parts[2]:
        raise VizcnnError(f"--input-size {text!r} is not square: vizcnn works with square inputs (e.g. 3x224x224).")
    return parts[0], parts[1], parts[2]


def parse_floats(text: str, flag: str) -> tuple[float, ...]:
    """``"0.5,0.5,0.5"`` -> ``(0.5, 0.5, 0.5)``; ``flag`` names the option in the error."""
    try:
        values = tuple(float(p) for p in text.split(","))
        if all(math.isfinite(v) for v in values):
            return values
        raise ValueError
    except ValueError:
        raise VizcnnError(f"cannot read {flag} {text!r}: give comma-separated finite numbers, one per channel (e.g. 0.5,0.5,0.5).") from None


def read_classes(path: str | os.PathLike) -> list[str]:
    """Class names from a file: a JSON list, or one name per line (blank lines ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VizcnnError(f"cannot read the class names file {str(path)!r}: {exc.strerror or exc}. Check the path given with --classes.") from None
    except UnicodeDecodeError:
        raise VizcnnError(f"the class names file {str(path)!r} is not UTF-8 text; save it as UTF-8 (one name per line, or a JSON list).") from None
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VizcnnError(f"{str(path)!r} starts like JSON but is not valid JSON ({exc}). Give a JSON list of names or one name per line.") from None
        if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
            raise VizcnnError(f"{str(path)!r} must hold a JSON list of class names, e.g. [\"cat\", \"dog\"].")
        return [str(n) for n in names]
    return [line.strip() for line in text.splitlines() if line.strip()]


def describe_input(
    known: InputSpec | None,
    input_size: Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    channels: int | None = None,
) -> InputSpec:
    """The input spec from what the model carries (``known``), overridden by what the user gave.

    Without ``known`` and ``input_size`` the input is ``channels`` (from the
    first convolution, else 3) x 224 x 224; without ``known``, ``mean`` and
    ``std`` are 0 and 1 per channel, i.e. the network takes pixels in [0, 1].
    """
    if input_size is not None:
        c, h, w = input_size
        if h != w:
            raise VizcnnError(f"input size {c}x{h}x{w} is not square: vizcnn works with square inputs.")
        resize = known.resize if known and known.size == h else None
    elif known is not None:
        c, h, resize = known.channels, known.size, known.resize
    else:
        c, h, resize = channels or 3, _DEFAULT_SIZE, None

    def per_channel(values, carried, neutral: float, flag: str) -> tuple[float, ...]:
        if values is None:
            return tuple(carried) if carried is not None and len(carried) == c else (neutral,) * c
        values = tuple(float(v) for v in values)
        if len(values) == 1:
            values *= c
        if len(values) != c:
            raise VizcnnError(f"{flag} has {len(values)} values but the input has {c} channels: give one value, or one per channel.")
        return values

    m = per_channel(mean, known.mean if known else None, 0.0, "--mean")
    s = per_channel(std, known.std if known else None, 1.0, "--std")
    if any(v == 0 for v in s):
        raise VizcnnError("--std has a zero: every standard deviation must be non-zero.")
    return InputSpec(channels=c, size=h, mean=m, std=s, resize=resize)


def first_conv_channels(net: nn.Module) -> int | None:
    for module in net.modules():
        if isinstance(module, nn.Conv2d) or getattr(module, "original_name", None) == "Conv2d":
            return int(module.in_channels)
    return None


def output_shape(net: nn.Module, spec: InputSpec, *, guessed: bool, what: str) -> tuple[int, ...]:
    """Run one dummy image through ``net``; return the output shape without the batch."""
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    try:
        with torch.no_grad():
            out = net(torch.zeros(1, *spec.shape, device=device))
    except Exception as exc:  # any error from the user's forward pass
        shape = "x".join(map(str, spec.shape))
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (
            "Check the size given with --input-size."
            if not guessed
            else "vizcnn guessed this size because the model does not say: give it with --input-size CxHxW (e.g. --input-size 3x32x32)."
        )
        raise VizcnnError(f"{what} does not accept a 1x{shape} input ({first}). {hint}") from None
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        out = out[0]
    return tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ()


def categories(given: Sequence[str] | None, out_shape: tuple[int, ...], known: Sequence[str] | None) -> list[str]:
    n = out_shape[0] if len(out_shape) == 1 else None
    if given is not None:
        given = list(given)
        if n is not None and len(given) != n:
            raise VizcnnError(f"--classes gives {len(given)} class names but the model has {n} outputs: give one name per output unit.")
        return given
    if known is not None and (n is None or len(known) == n):
        return list(known)
    return [str(i) for i in range(n or 0)]
