"""Write the example CIFAR net in every form vizcnn reads, into one folder.

    python examples/export_cifar_net.py vizcnn-out/cifar_net

writes ``cifar_net.pth`` (state dict), ``cifar_net.pt`` (TorchScript,
``torch.jit.script``), ``cifar_net.pt2`` (exported program, ``torch.export``
with a dynamic batch dimension) and ``classes.txt`` (one name per line), all
holding the same seeded weights as ``examples.cifar_net:build``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cifar_net import CLASSES, build

from vizcnn._io import save_with, write_text


def export(out: Path) -> list[Path]:
    """Write the four files into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    net = build()
    example = torch.rand(2, 3, 32, 32)
    program = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    return [
        save_with(out / "cifar_net.pth", lambda p: torch.save(net.state_dict(), p)),
        save_with(out / "cifar_net.pt", lambda p: torch.jit.save(torch.jit.script(net), str(p))),
        save_with(out / "cifar_net.pt2", lambda p: torch.export.save(program, str(p))),
        write_text(out / "classes.txt", "\n".join(CLASSES) + "\n"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="vizcnn-out/cifar_net", help="folder to write (default: %(default)s)")
    for path in export(Path(parser.parse_args().out)):
        print(path)


if __name__ == "__main__":
    main()
