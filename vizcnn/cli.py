"""The ``vizcnn`` command line: one module per subcommand in :mod:`vizcnn.commands`.

Each command module has ``register(subparsers)`` (its arguments) and
``run(args) -> int`` (a thin call into the library). A user's mistake is a
:class:`~vizcnn.errors.VizcnnError`: printed as one paragraph, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap

from . import __version__
from .errors import VizcnnError

#: Subcommand modules under vizcnn.commands, in the order ``--help`` lists them.
COMMANDS = ["models", "layers", "arithmetic", "filters", "activations", "examples", "render", "attribute", "dictionary", "atlas", "gallery", "evaluate", "templates", "robustness", "demo"]

EPILOG = """examples:
  vizcnn filters alexnet conv1            the first-layer filters of AlexNet
  vizcnn layers mnist-cnn                 layer table with shapes and receptive fields
  vizcnn arithmetic --size 32 --channels 3 --kernel 3 --filters 64 --stride 2 --padding 1
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vizcnn",
        description="See what a convolutional network has learned.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vizcnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"vizcnn.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except VizcnnError as exc:
        message = textwrap.fill(str(exc), width=100, break_long_words=False, break_on_hyphens=False)
        print(f"vizcnn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `vizcnn ... | head`: the reader left, nothing more to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("vizcnn: interrupted; no output was left half-written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
