"""The ``vizcnn`` command line: one module per subcommand in :mod:`vizcnn.commands`.

Each command module has ``register(subparsers)`` (its arguments) and
``run(args) -> int`` (a thin call into the library). A user's mistake is a
:class:`~vizcnn.errors.VizcnnError`: printed as one paragraph, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import io
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout

from . import __version__
from .commands._common import check_inputs
from .errors import VizcnnError

#: Subcommand modules under vizcnn.commands, in the order ``--help`` lists them.
COMMANDS = ["models", "layers", "data", "arithmetic", "filters", "activations", "examples", "render", "attribute", "dictionary", "atlas", "gallery", "evaluate", "templates", "robustness", "demo"]

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


def _interrupt(_signum, _frame) -> None:
    """SIGTERM takes Ctrl-C's path: the same clean-up (workers stopped, no half-written file), no traceback."""
    raise KeyboardInterrupt


@contextmanager
def _stdout(args: argparse.Namespace) -> Iterator[None]:
    """Where a command's printing goes: into ``-o FILE`` for commands whose result is text, else the terminal."""
    if getattr(args, "stdout_is_result", False) and args.output:
        from ._io import write_text

        buf = io.StringIO()
        with redirect_stdout(buf):
            yield
        print(f"wrote {write_text(args.output, buf.getvalue())}")
    else:
        yield


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    try:
        return _run(args)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _run(args) -> int:
    try:
        check_inputs(args)  # names and files first: a typo is answered before torch is imported
        with _stdout(args):
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
