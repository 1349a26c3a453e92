"""Semantic dictionary and neuron groups of a layer for one image.

  vizcnn dictionary mnist-cnn --image mnist:76 --layer relu2
  vizcnn dictionary mnist-cnn --image mnist:76 --layer relu3 --groups 6 --fv-steps 128 -o dict-out
  vizcnn dictionary alexnet --image dog.jpg --layer relu5 --groups 6

Shows, after Distill's Building Blocks, which channels fire at each position
(sized by activation), the top channels for the whole image, and the
activations factorized with NMF into --groups groups, each with where it is
active, its main channels and its attribution to the model's two top classes
(or --targets). With --fv-steps every channel and group gets its feature
visualization (cached under $VIZCNN_CACHE). Writes DIR/index.html
(self-contained), DIR/semantic.png and DIR/groups.png. NMF needs non-negative
activations: pick a ReLU or pooling layer (negative parts are dropped).
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
    p = add_parser(sub, "dictionary", __doc__)
    add_model_args(p)
    p.add_argument("--image", required=True, metavar="PATH", help="image file, or mnist:K for a bundled digit")
    p.add_argument("--layer", required=True, metavar="LAYER", help="layer to read (relu2, features.9)")
    p.add_argument("--groups", type=int, default=4, metavar="K", help="number of NMF neuron groups (default 4)")
    p.add_argument(
        "--top", type=int, default=8, metavar="N", help="channels per position and for the image (default 8)"
    )
    p.add_argument(
        "--targets", nargs="+", metavar="CLASS", help="classes to attribute the groups to (default: top two)"
    )
    p.add_argument("--fv-steps", type=int, default=0, metavar="N",
                   help="feature visualization steps (0, the default, skips them; 256 gives clean pictures)")  # fmt: skip
    add_output_flags(p, "output folder (default vizcnn-out/MODEL-LAYER-dictionary)", metavar="DIR",
                     json="print the top channels and the neuron groups as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from .._io import write_text
    from ..cache import ResultCache
    from ..data import load_image
    from ..dictionary import neuron_groups, semantic_dictionary
    from ..errors import VizcnnError

    if args.top < 1 or args.fv_steps < 0:
        raise VizcnnError("--top must be at least 1 and --fv-steps at least 0.")
    model = model_from_args(args)
    image = load_image(args.image)
    cache = ResultCache() if args.fv_steps else None
    sem = semantic_dictionary(model, image, args.layer, top=args.top, fv_steps=args.fv_steps, cache=cache)
    groups = neuron_groups(model, image, args.layer, args.groups, targets=args.targets, fv_steps=args.fv_steps)
    out = Path(args.output) if args.output else default_output(model.name, sem.layer, "dictionary", suffix="")
    page = write_text(out / "index.html", sem.to_html(title=f"{model.name} {sem.layer}: {args.image}", groups=groups))
    sem.save(out / "semantic.png")
    groups.save(out / "groups.png")
    if args.json:
        print_json(
            {
                "model": model.name, "layer": sem.layer, "shape": list(sem.activations.shape), "output": str(page),
                "top": [{"channel": c, "total": v} for c, v in sem.image_top()],
                "groups": {"error": groups.error, "channels": [[int(c) for c in d.topk(min(5, d.numel())).indices] for d in groups.directions],
                           "attributions": {k: [float(x) for x in v] for k, v in groups.attributions.items()}},
            }
        )  # fmt: skip
        return 0
    print(f"{model.name} {sem.layer}: activations {'x'.join(map(str, sem.activations.shape))}")
    print("top channels by total activation: " + ", ".join(f"{c} ({v:.2f})" for c, v in sem.image_top()))
    print(f"{groups.k} neuron groups, relative reconstruction error {groups.error:.4f}")
    for g in range(groups.k):
        main = ", ".join(str(int(c)) for c in groups.directions[g].topk(min(3, groups.directions.shape[1])).indices)
        attrs = ", ".join(f"{name} {float(v[g]):+.3f}" for name, v in groups.attributions.items())
        print(f"  group {g}: channels {main}; attribution {attrs}")
    print(f"wrote {page}")
    return 0
