"""Accuracy, per-class accuracy and confusion matrix of an MNIST model.

  vizcnn evaluate mnist-cnn
  vizcnn evaluate lenet --data ../shared/data/mnist -o lenet-confusion.png
  vizcnn evaluate mnist-cnn --json

DIR holds MNIST IDX files (t10k-images-idx3-ubyte[.gz] and labels, or
torchvision's MNIST/raw/ layout); the default is the bundled 500-digit sample.
The confusion matrix PNG goes to -o (default vizcnn-out/MODEL-confusion.png).
A progress bar on stderr counts the batches (off with --quiet or --json).
"""

from __future__ import annotations

from ._common import (
    add_model_args,
    add_output_flags,
    add_parser,
    default_output,
    print_json,
)


def register(sub) -> None:
    p = add_parser(sub, "evaluate", __doc__)
    add_model_args(p)
    p.add_argument("--data", metavar="DIR", default="sample", help="MNIST folder, or 'sample' (default: the bundled sample)")
    p.add_argument("--split", choices=["test", "train"], default="test", help="which files of DIR (default test)")
    p.add_argument("--batch-size", type=int, default=1000, metavar="N", help="digits per batch (default 1000)")
    add_output_flags(p, "confusion matrix image (default vizcnn-out/MODEL-confusion.png)", metavar="PNG",
                     json="print JSON: accuracy, n, per_class, confusion")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..data import mnist
    from ..errors import VizcnnError
    from ..evaluate import evaluate
    from ._common import model_from_args

    if args.batch_size < 1:
        raise VizcnnError(f"--batch-size must be at least 1, got {args.batch_size}.")
    digits = mnist(args.data, args.split)
    model = model_from_args(args)
    result = evaluate(model, digits, batch_size=args.batch_size, progress=not (args.quiet or args.json))
    out = result.save(args.output or default_output(model.name, "confusion"))
    if args.json:
        print_json({**result.as_dict(), "image": str(out)})
        return 0
    print(f"{model.name} on {result.n} digits ({result.data}): accuracy {result.accuracy:.2%}")
    print("per class: " + "  ".join(f"{c}: {a:.1%}" for c, a in result.per_class.items() if a is not None))
    print(f"confusion matrix: {out}")
    return 0
