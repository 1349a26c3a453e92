"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "add_model_args", "model_from_args", "print_json", "default_output", "parse_channels"]


def add_parser(sub, name: str, doc: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose help is the module docstring: first line short, the rest as description."""
    first, _, rest = doc.strip().partition("\n")
    return sub.add_parser(
        name, help=first, description=doc.strip(), formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``MODEL`` and ``--weights``."""
    p.add_argument("model", metavar="MODEL", help="zoo name (see `vizcnn models`) or torchvision:NAME")
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="state dict (.pth/.pt) or .safetensors file; 'random' for an untrained network "
        "(default: bundled weights, or torchvision's cache under $TORCH_HOME)",
    )


def model_from_args(args: argparse.Namespace):
    from ..models import load_model

    return load_model(args.model, args.weights)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def default_output(*parts: str, suffix: str = ".png") -> Path:
    """``vizcnn-out/<model>-<layer>...png``: a readable name from the inputs."""
    safe = "-".join(str(p).replace("/", "_").replace(":", "_").replace(" ", "_") for p in parts if p)
    return Path("vizcnn-out") / f"{safe}{suffix}"


def parse_channels(text: str, count: int) -> list[int]:
    """``5``, ``0-15``, ``1,4,9`` or ``all`` -> channel indices, each checked against ``count``."""
    from ..errors import VizcnnError

    text = text.strip()
    if text == "all":
        return list(range(count))
    out: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise VizcnnError(f"cannot read channels {text!r}: use 5, 0-15, 1,4,9 or all.") from None
    bad = [c for c in out if not 0 <= c < count]
    if bad:
        raise VizcnnError(f"channel {bad[0]} is out of range: this layer has {count} channels (0-{count - 1}).")
    if not out:
        raise VizcnnError(f"no channels in {text!r}: use 5, 0-15, 1,4,9 or all.")
    return out
