"""Grid of a conv layer's filters (weights drawn around grey, labelled with index and L2 norm).

  vizcnn filters mnist-cnn conv1
  vizcnn filters mnist-cnn conv2 --reduce mean --scale shared -o conv2.png
  vizcnn filters alexnet conv1 --sort color            # needs the ImageNet weights
  vizcnn filters alexnet conv1 --weights random --sort frequency

A first conv layer on RGB input is drawn in colour. Greyscale input and deeper
layers show one tile per input channel (a filter x input-channel grid) or a
reduction over input channels (--reduce mean|norm). --sort color puts colour
blobs first and black-and-white edge detectors last; --sort frequency orders
smooth filters before fine ones; --sort norm puts the strongest first.
"""

from __future__ import annotations

from ._common import (
    add_model_args,
    add_output_flags,
    add_parser,
    default_output,
    model_from_args,
    print_json,
)


def register(sub) -> None:
    p = add_parser(sub, "filters", __doc__)
    add_model_args(p)
    p.add_argument("layer", metavar="LAYER", help="a conv layer: friendly name (conv1) or module path (features.0)")
    add_output_flags(p, "output file (default: vizcnn-out/MODEL-LAYER-filters.png)", metavar="PNG",
                     json="print the filters' order, norms and sort key values as JSON")
    p.add_argument("--sort", choices=["norm", "color", "frequency"], help="order of the filters (default: the layer's)")
    p.add_argument("--scale", choices=["filter", "shared"], default="filter",
                   help="grey scale per filter (default) or one for the whole layer")  # fmt: skip
    p.add_argument("--reduce", choices=["auto", "rgb", "slices", "mean", "norm"], default="auto",
                   help="how input channels become a tile (default auto: rgb for a first RGB layer, "
                        "slices when small, else mean)")  # fmt: skip
    p.add_argument("--ncols", type=int, help="columns of the grid")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..filters import plot

    model = model_from_args(args)
    grid = plot(model, args.layer, sort=args.sort, scale=args.scale, reduce=args.reduce, ncols=args.ncols)
    out = args.output or default_output(model.name, args.layer, "filters")
    grid.save(out)
    f, c, kh, kw = grid.weights.shape
    if args.json:
        print_json(
            {
                "model": model.name, "layer": grid.layer, "shape": [f, c, kh, kw], "output": str(out),
                "reduce": grid.reduce, "scale": grid.scale, "sort": grid.sort,
                "filters": [{"index": i, "norm": float(grid.norms[i]),
                             **({grid.sort: float(grid.keys[i])} if grid.keys is not None else {})} for i in grid.order],
            }
        )  # fmt: skip
        return 0
    scale = "scale per filter" if grid.scale == "filter" else "shared scale"
    print(f"wrote {out}: {f} filters of {c}x{kh}x{kw} ({grid.reduce}, {scale})")
    return 0
