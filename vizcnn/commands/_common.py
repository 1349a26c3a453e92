"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._io import IMAGE_FORMATS, check_output

__all__ = [
    "PICTURES", "QUIET", "add_parser", "add_model_args", "add_output_flags", "at_least", "check_inputs", "check_output",
    "default_output", "model_from_args", "output_file", "print_json",
]  # fmt: skip

#: Suffixes a picture output (-o PNG) may end in.
PICTURES = tuple(IMAGE_FORMATS)


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
    weights = opts.get("weights")
    images = opts.get("image")
    files = {
        "--weights": [] if weights in (None, "random") or str(weights).startswith(("http://", "https://")) else [weights],
        "--image": [i for i in (images if isinstance(images, list) else [images])
                    if i is not None and not str(i).startswith(("mnist:", "photo:"))],
        "--classes": [opts["classes"]] if opts.get("classes") else [],
        "SPEC": [opts["spec"]] if opts.get("spec") else [],
    }  # fmt: skip
    for flag, paths in files.items():
        for path in paths:  # a folder given for a file is for the loader to explain
            if not Path(path).exists():
                raise VizcnnError(f"{flag} {path!r} does not exist. Check the path (relative to {str(Path.cwd())!r}).")
    output = opts.get("output")
    if opts.get("stdout_is_result") and output and Path(output).suffix.lower() in IMAGE_FORMATS:
        raise VizcnnError(
            f"-o {output!r}: vizcnn {opts.get('command', '')} writes text (a table, an explanation or JSON), not a "
            "picture; name the file .txt, .md or .json."
        )


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
    """Strict JSON (no NaN or Infinity, which strict parsers reject) on stdout."""
    from ..errors import VizcnnError

    try:
        text = json.dumps(data, indent=2, allow_nan=False)
    except ValueError:
        raise VizcnnError("the result holds NaN or infinite numbers, which JSON cannot carry; use smaller, finite inputs.") from None
    sys.stdout.write(text + "\n")


def output_file(given: str | None, default: Path, suffixes: tuple[str, ...] = PICTURES, option: str = "-o") -> Path:
    """``-o`` or the default output, checked before any work (see :func:`vizcnn._io.check_output`)."""
    return check_output(given or default, suffixes, option=option)


def at_least(args: argparse.Namespace, low: int, *options: str) -> None:
    """Refuse an integer option below ``low`` (``None``, for an option not given, passes)."""
    from ..errors import VizcnnError

    for option in options:
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if value is not None and value < low:
            raise VizcnnError(f"{option} must be at least {low}, got {value}.")


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


