"""Fetch data sets: the official MNIST files, checked against torchvision's MD5 sums.

  vizcnn data mnist                    into vizcnn-data/mnist
  vizcnn data mnist ~/data/mnist       into a folder of your choice (or -o ~/data/mnist)
  vizcnn data mnist --json             the files and their sizes as JSON

The four IDX .gz files come from torchvision's MNIST mirrors (or
VIZCNN_DATA_MIRROR); files already there and intact are kept. The folder then
works as --data for evaluate, examples and galleries. VIZCNN_OFFLINE=1 never
touches the network.
"""

from __future__ import annotations

from ._common import add_output_flags, add_parser, print_json

#: Data sets this command fetches: name -> what it is.
DATASETS = {"mnist": "the MNIST test and training digits (IDX .gz files, about 11 MB)"}


def register(sub) -> None:
    p = add_parser(sub, "data", __doc__)
    p.add_argument("dataset", metavar="DATASET", help="data set to fetch: " + ", ".join(DATASETS))
    p.add_argument("folder", metavar="DIR", nargs="?", help="where to put the files (default: vizcnn-data/mnist)")
    add_output_flags(p, "the same as DIR", metavar="DIR", json="print the files written, with their sizes, as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..errors import VizcnnError, unknown_name

    if args.folder and args.output and args.folder != args.output:
        raise VizcnnError(f"two folders given ({args.folder!r} and -o {args.output!r}): give one.")
    if args.dataset not in DATASETS:
        raise unknown_name("data set", args.dataset, list(DATASETS))
    from ..data.fetch import DEFAULT_MNIST_DIR, fetch_mnist

    paths = fetch_mnist(args.folder or args.output or DEFAULT_MNIST_DIR, progress=not (args.quiet or args.json))
    if args.json:
        print_json({"dataset": args.dataset, "files": [{"path": str(p), "bytes": p.stat().st_size} for p in paths]})
    elif not args.quiet:
        folder = paths[0].parent
        print(f"MNIST is in {folder}/ ({len(paths)} files, checksums match).")
        print(f"Use it with --data {folder}, e.g. vizcnn evaluate mnist-cnn --data {folder}")
    return 0
