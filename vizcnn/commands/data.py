"""Fetch data sets: the official MNIST files, checked against torchvision's MD5 sums.

  vizcnn data mnist                    into vizcnn-data/mnist
  vizcnn data mnist ~/data/mnist       into a folder of your choice

The four IDX .gz files come from torchvision's MNIST mirrors (or
VIZCNN_DATA_MIRROR); files already there and intact are kept. The folder then
works as --data for evaluate, examples and galleries. VIZCNN_OFFLINE=1 never
touches the network.
"""

from __future__ import annotations

from ._common import add_parser

#: Data sets this command fetches: name -> what it is.
DATASETS = {"mnist": "the MNIST test and training digits (IDX .gz files, about 11 MB)"}


def register(sub) -> None:
    p = add_parser(sub, "data", __doc__)
    p.add_argument("dataset", metavar="DATASET", help="data set to fetch: " + ", ".join(DATASETS))
    p.add_argument("folder", metavar="DIR", nargs="?", help="where to put the files (default: vizcnn-data/mnist)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..errors import unknown_name

    if args.dataset not in DATASETS:
        raise unknown_name("data set", args.dataset, list(DATASETS))
    from ..data.fetch import DEFAULT_MNIST_DIR, fetch_mnist

    paths = fetch_mnist(args.folder or DEFAULT_MNIST_DIR, progress=not args.quiet)
    if not args.quiet:
        folder = paths[0].parent
        print(f"MNIST is in {folder}/ ({len(paths)} files, checksums match).")
        print(f"Use it with --data {folder}, e.g. vizcnn evaluate mnist-cnn --data {folder}")
    return 0
