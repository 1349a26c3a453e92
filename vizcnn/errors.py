"""User-facing errors.

Everything a user can get wrong (a model or layer name, a channel index, a
missing weights file, an unreadable image, a malformed spec) raises a
:class:`VizcnnError`. The CLI prints its message as one paragraph and exits
with status 2; notebooks see an ordinary exception with the same message.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Iterable

__all__ = ["VizcnnError", "WeightsNotFoundError", "expect", "expect_channels", "expect_int", "parse_channels", "unknown_name"]


class VizcnnError(ValueError):
    """A mistake the user can fix; the message says how."""


class WeightsNotFoundError(VizcnnError, FileNotFoundError):
    """Pretrained weights are neither cached nor given with ``--weights``."""


def unknown_name(kind: str, name: str, valid: Iterable[str], *, hint: str = "") -> VizcnnError:
    """Build the error for an unknown ``kind`` called ``name``.

    The message lists the closest matches first, then (up to 40 of) the valid
    names, so a typo is fixed by reading one paragraph.
    """
    valid = list(valid)
    close = difflib.get_close_matches(str(name), valid, n=5, cutoff=0.5)
    if not close:
        lowered = str(name).lower()
        close = [v for v in valid if lowered and lowered in v.lower()][:5]
    msg = f"unknown {kind} {name!r}."
    if close:
        msg += " Did you mean: " + ", ".join(repr(c) for c in close) + "?"
    shown = valid[:40]
    more = f" (and {len(valid) - len(shown)} more)" if len(valid) > len(shown) else ""
    plural = kind + ("es" if kind.endswith(("s", "x", "ch", "sh")) else "s")
    msg += f" Valid {plural}: " + ", ".join(shown) + more + "."
    if hint:
        msg += " " + hint
    return VizcnnError(msg)


def expect(value: object, kinds: type | tuple[type, ...], name: str, what: str) -> None:
    """Raise ``TypeError`` ("``name`` must be ``what``, got ...") unless ``value`` is one of ``kinds``.

    ``True``/``False`` never pass as numbers.
    """
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))):
        shown = repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"
        raise TypeError(f"{name} must be {what}, got {shown} ({type(value).__name__}).")


def _index(value: object) -> int | None:
    """``value`` as an int when it is a whole number (int, numpy or 0-d integer tensor), not a bool; else ``None``."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def expect_int(value: object, name: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number from ``low`` to ``high``: ``TypeError`` for another type, :class:`VizcnnError` out of range."""
    n = _index(value)
    if n is None:
        expect(value, int, name, "a whole number")  # raises: the message names the type given
    assert n is not None
    if (low is not None and n < low) or (high is not None and n > high):
        bounds = f"from {low} to {high}" if low is not None and high is not None else (f"at least {low}" if low is not None else f"at most {high}")
        raise VizcnnError(f"{name} must be {bounds}, got {n}.")
    return n


def expect_channels(channels: object, name: str = "channels") -> list[int]:
    """A list of channel indices from any iterable of whole numbers (not a string such as ``'0-3'``)."""
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Iterable):
        raise TypeError(f"{name} must be a list of channel indices such as [0, 1, 2] or range(4), got {channels!r}.")
    out = []
    for c in channels:
        n = _index(c)
        if n is None:
            raise TypeError(f"{name} must hold whole numbers, got {c!r} ({type(c).__name__}).")
        out.append(n)
    if not out:
        raise VizcnnError(f"{name} is empty; give at least one channel index.")
    return out


def parse_channels(text: str, count: int) -> list[int]:
    """``5``, ``0-15``, ``1,4,9`` or ``all`` -> channel indices, each checked against ``count``.

    Ranges are checked before they are expanded, so ``0-999999999999`` is an
    error, not a MemoryError.
    """
    text = text.strip()
    if text == "all":
        return list(range(count))
    ranges: list[tuple[int, int]] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                ranges.append((int(lo), int(hi)))
            else:
                ranges.append((int(part), int(part)))
    except ValueError:
        raise VizcnnError(f"cannot read channels {text!r}: use 5, 0-15, 1,4,9 or all.") from None
    for lo, hi in ranges:
        bad = lo if lo < 0 else max(lo, count) if hi >= count else None  # the first channel out of range
        if bad is not None:
            raise VizcnnError(f"channel {bad} is out of range: this layer has {count} channels (0-{count - 1}).")
    out = [c for lo, hi in ranges for c in range(lo, hi + 1)]
    if not out:
        raise VizcnnError(f"no channels in {text!r}: use 5, 0-15, 1,4,9 or all.")
    return out
