"""Upper bounds on what one request may allocate, checked before allocating.

A size a user typed (``--size``, ``--diversity``, ``--input-size``, a demo's
matrix) is turned into an estimate of the bytes it needs; anything that would
not fit in the memory free now is refused with the limit in the message,
instead of the process being killed for memory minutes later.
"""

from __future__ import annotations

import math
import os
import weakref

from .errors import VizcnnError

__all__ = ["MAX_SEED", "SLIDE_CELLS", "activation_bytes", "available_memory", "check_finite", "check_memory", "check_seed", "human_bytes"]

#: Seeds are what torch and numpy take: 0 to 2**64 - 1.
MAX_SEED = 2**64 - 1
#: The demos draw every cell of the padded input; more than this many per side no longer fit on a slide.
SLIDE_CELLS = 32


def available_memory(device: object = None) -> int:
    """Bytes free now: the GPU's free memory for a CUDA device, else the machine's available RAM."""
    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


def check_memory(nbytes: float, what: str, hint: str, device: object = None) -> None:
    """Refuse ``what`` when its estimated ``nbytes`` exceed the memory free now.

    Args:
        nbytes: the estimate (may be a float: sizes multiply past 64 bits).
        what: the request, e.g. ``"rendering 48 images of 4096x4096"``.
        hint: what to make smaller, e.g. ``"use a smaller --size or --diversity"``.
    """
    free = available_memory(device)
    if not math.isfinite(nbytes) or nbytes > free:
        need = human_bytes(nbytes) if math.isfinite(nbytes) and nbytes < 2**60 else "more than an exabyte"
        raise VizcnnError(
            f"{what} needs about {need} of memory, more than the {human_bytes(free)} free on this machine now "
            f"(the limit); {hint}."
        )


def check_seed(seed: object, option: str = "seed") -> int:
    """A seed torch and numpy both take: a whole number from 0 to 2**64 - 1."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise VizcnnError(f"{option} must be a whole number from 0 to 2**64 - 1 ({MAX_SEED}), got {seed!r}.")
    return seed


def check_finite(value: object, option: str) -> float:
    """A finite real number (not NaN, not infinite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise VizcnnError(f"{option} must be a finite number, got {value!r}.")
    return float(value)


#: Measured working sets by network, then by (shape, device): one full pass per network and input.
_MEASURED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def activation_bytes(net: object, shape: tuple[int, ...], device: object = None) -> int:
    """Bytes of every module output for one input of ``shape`` ``(C, H, W)``: a forward pass's working set.

    Measured with one pass on a zero image (hooks on every submodule), once per
    network and shape; a network that takes no hooks (TorchScript, exported
    programs) is estimated as 64 times its input.
    """
    key = (tuple(shape), str(device))
    try:
        known = _MEASURED.setdefault(net, {})
    except TypeError:  # not weakly referenceable: measure every time
        known = {}
    if key not in known:
        known[key] = _measure(net, tuple(shape), device)
    return known[key]


def _measure(net: object, shape: tuple[int, ...], device: object) -> int:
    import torch

    total = 0

    def add(_module, _inputs, output) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    handles = []
    try:
        for module in net.modules():  # type: ignore[attr-defined]
            handles.append(module.register_forward_hook(add))
        with torch.no_grad():
            net(torch.zeros((1, *shape), device=device))  # type: ignore[operator]
    except Exception:  # no hooks on this kind of network: fall back to the input size
        total = 64 * 4 * math.prod(shape)
    finally:
        for h in handles:
            h.remove()
    return max(total, 4 * math.prod(shape))
