"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["QUIET", "add_model_args", "add_output_flags", "add_parser", "check_inputs", "default_output", "model_from_args", "parse_channels", "print_json"]


def add_parser(sub, name: str, doc: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose help is the module docstring: first line short, the rest as description."""
    first, _, rest = doc.strip().partition("\n")
    return sub.add_parser(
        name, help=first, description=doc.strip(), formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


#: What -q/--quiet means, the same for every command.
QUIET = "no progress bar or other notes on stderr (the results are still printed)"


def add_output_flags(
    p: argparse.ArgumentParser, output: str, *, metavar: str = "FILE", json: str | None = None, default: str | None = None,
    stdout: bool = False,
) -> None:  # fmt: skip
    """The flags every command shares: ``-o/--output``, ``--json`` (where it prints results) and ``-q/--quiet``.

    ``stdout=True`` marks a command whose result is what it prints: ``-o FILE``
    then writes that text (or JSON) to the file instead (see :func:`vizcnn.cli.main`).
    """
    p.add_argument("-o", "--output", metavar=metavar, default=default, help=output)
    if json:
        p.add_argument("--json", action="store_true", help=json)
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET)
    p.set_defaults(stdout_is_result=stdout)


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``MODEL``, ``--weights`` and the input description for models that carry none."""
    p.add_argument(
        "model",
        metavar="MODEL",
        help="zoo name (see `vizcnn models`), torchvision:NAME, timm:NAME, module.path:callable, "
        "or a TorchScript .pt / exported .pt2 file",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="state dict (.pth/.pt) or .safetensors file; 'random' for an untrained network "
        "(default: bundled weights, or torchvision's cache under $TORCH_HOME)",
    )
    g = p.add_argument_group("input description (for your own models; overrides what a model carries)")
    g.add_argument("--input-size", metavar="CxHxW", help="input the network takes, e.g. 3x32x32 (default: the model's, else 3x224x224)")
    g.add_argument("--mean", metavar="M,M,M", help="per-channel mean subtracted from pixels in [0, 1] (default: the model's, else 0)")
    g.add_argument("--std", metavar="S,S,S", help="per-channel standard deviation divided by (default: the model's, else 1)")
    g.add_argument("--classes", metavar="FILE", help="class names: one per line, or a JSON list (default: the model's, else 0..N-1)")


def check_inputs(args: argparse.Namespace) -> None:
    """Check the model name and every named input file before anything imports torch (which takes seconds).

    Raises:
        VizcnnError: an unknown model name, or a ``--weights``/``--image``/``--classes``/spec file that is not there.
    """
    from ..catalog import check_model_name
    from ..errors import VizcnnError

    opts = vars(args)
    if isinstance(opts.get("model"), str):
        check_model_name(opts["model"])
    files = {
        "--weights": None if opts.get("weights") in (None, "random") else opts.get("weights"),
        "--image": None if str(opts.get("image") or "mnist:").startswith("mnist:") else opts["image"],
        "--classes": opts.get("classes"),
        "SPEC": opts.get("spec"),
    }
    for flag, path in files.items():
        if path is not None and not Path(path).is_file():
            raise VizcnnError(f"{flag} {path!r} does not exist. Check the path (relative to {str(Path.cwd())!r}).")


def model_from_args(args: argparse.Namespace):
    from ..models import load_model
    from ..models.custom import parse_floats, parse_input_size, read_classes

    opts = vars(args)  # .get: a namespace built without add_model_args lacks the input flags
    return load_model(
        args.model,
        args.weights,
        input_size=parse_input_size(opts["input_size"]) if opts.get("input_size") else None,
        mean=parse_floats(opts["mean"], "--mean") if opts.get("mean") else None,
        std=parse_floats(opts["std"], "--std") if opts.get("std") else None,
        categories=read_classes(opts["classes"]) if opts.get("classes") else None,
    )


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


#: Characters of an input name that make an awkward file name (``mnist:label=4#5`` -> ``mnist_label-4-5``).
_UNSAFE = str.maketrans({":": "_", " ": "_", "=": "-", "#": "-"})


def default_output(*parts: str, suffix: str = ".png") -> Path:
    """``vizcnn-out/<model>-<layer>...png``: a readable name from the inputs.

    A model given as a file path contributes its file name without folders or suffix.
    """

    def readable(part: str) -> str:
        if "/" in part or Path(part).suffix in (".pt", ".pt2"):
            part = Path(part).stem
        return part.translate(_UNSAFE)

    safe = "-".join(readable(str(p)) for p in parts if p)
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
