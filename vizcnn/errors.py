"""User-facing errors.

Everything a user can get wrong (a model or layer name, a channel index, a
missing weights file, an unreadable image, a malformed spec) raises a
:class:`VizcnnError`. The CLI prints its message as one paragraph and exits
with status 2; notebooks see an ordinary exception with the same message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["VizcnnError", "WeightsNotFoundError", "unknown_name"]


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
