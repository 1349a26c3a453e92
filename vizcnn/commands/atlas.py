"""Activation atlas of a layer over a data set (Carter et al., Distill 2019).

  vizcnn atlas mnist-cnn relu5                              # the 500 bundled digits, one point per image
  vizcnn atlas mnist-cnn relu3 --grid 10 --fv-steps 32      # conv layer: one point per spatial position
  vizcnn atlas mnist-cnn relu5 --data /path/to/mnist --embedding tsne   # the 10k MNIST test digits
  vizcnn atlas alexnet relu5 --data photos/ --per-image     # classes are the images' folder names

Collects the layer's activation vectors (for a conv layer one per spatial
position where anything fires, or one per image with --per-image; at most
--max-points, a seeded random sample), lays them out in 2-D with UMAP
(umap-learn) or t-SNE (scikit-learn), bins the layout into --grid x --grid
cells and, for each cell with at least --min-count points, renders the feature
visualization of the cell's mean activation vector (a direction objective; all
cells in batches). Each cell shows its most common class and its count.
Writes DIR/index.html (a zoomable grid: buttons or the + and - keys; details
on hover or focus) and DIR/atlas.png.
"""

from __future__ import annotations

from ._common import add_model_args, add_output_flags, add_parser, check_output, default_output, model_from_args, print_json


def register(sub) -> None:
    p = add_parser(sub, "atlas", __doc__)
    add_model_args(p)
    p.add_argument("layer", metavar="LAYER", help="layer to lay out (relu3, fc1, features.9)")
    p.add_argument("--data", metavar="DIR_OR_DATASET",
                   help="'sample' (bundled digits, the default for MNIST models), an MNIST IDX folder or a folder of images")  # fmt: skip
    p.add_argument("--embedding", default="umap", metavar="METHOD", help="umap (default) or tsne")
    p.add_argument("--grid", type=int, default=10, metavar="N", help="cells per side (default 10)")
    p.add_argument("--min-count", type=int, default=4, metavar="N", help="points a cell needs to be drawn (default 4)")
    p.add_argument("--max-points", type=int, default=5000, metavar="N", help="activation vectors kept (default 5000)")
    p.add_argument("--per-image", action="store_true", help="one vector per image (mean over positions)")
    p.add_argument("--fv-steps", type=int, default=64, metavar="N", help="steps per cell visualization (default 64; 0 skips)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="sampling, embedding and rendering seed (default 0)")
    add_output_flags(p, "output folder (default vizcnn-out/MODEL-LAYER-atlas)", metavar="DIR",
                     json="print the cells (grid position, count, most common class and its share) as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from .._io import write_text
    from ..atlas import activation_atlas

    model = model_from_args(args)
    out = Path(args.output) if args.output else default_output(model.name, model.layer(args.layer).name, "atlas", suffix="")
    check_output(out, folder=True)
    atlas = activation_atlas(
        model, args.layer, args.data, method=args.embedding, grid=args.grid, min_count=args.min_count,
        max_points=args.max_points, per_image=args.per_image, fv_steps=args.fv_steps, seed=args.seed,
        progress=not (args.quiet or args.json),
    )  # fmt: skip
    page = write_text(out / "index.html", atlas.to_html())
    png = atlas.save(out / "atlas.png")
    if args.json:
        print_json({"model": model.name, "layer": atlas.layer, "embedding": atlas.method, "grid": atlas.grid,
                    "source": atlas.source, "output": str(page), "png": str(png),
                    "cells": [{"row": c.row, "col": c.col, "count": c.count, "class": c.label, "share": c.share}
                              for c in atlas.cells]})  # fmt: skip
        return 0
    s = atlas.seconds
    print(atlas)
    print(f"collect {s['collect']:.1f} s, {atlas.method} {s['embed']:.1f} s, render {len(atlas.cells)} cells {s['render']:.1f} s")
    print(f"wrote {page} and {png}")
    return 0
