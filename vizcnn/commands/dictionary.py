"""Interactive semantic dictionary, neuron groups, spatial attribution and attribution flow of a layer.

  vizcnn dictionary mnist-cnn --image mnist:76 --layer relu3
  vizcnn dictionary mnist-cnn --image mnist:7 mnist:76 mnist:42 --layer relu3 --targets 7 1
  vizcnn dictionary mnist-cnn --image mnist:7 --layer relu2 --to-layer relu3 --flow groups
  vizcnn dictionary alexnet --image dog.jpg --layer relu5 --groups 6 --fv-steps 0

After Distill's Building Blocks. DIR/index.html is one self-contained page for
all the --image inputs (a picker chooses one): move the pointer over the
image, or focus it and use the arrow keys, and it lists the top --top channels
at that position, each as its feature visualization (--fv-steps optimization
steps, rendered in batches and cached under $VIZCNN_CACHE; 0 skips them) sized
by its activation, and the NMF neuron groups (--groups) active there. Heat maps
of the spatial attribution (captum, --method) to class A, class B and A - B
(--targets, default each image's top two classes) can be toggled.

With --to-layer, DIR/flow.html shows how the channels (--flow channels, the
default) or neuron groups (--flow groups) of --layer feed those of --to-layer
and on to the two classes, for the first image: an SVG whose edge widths are
the attribution flowing along them (integrated gradients and conductance,
with their completeness checked; see vizcnn.flow).

DIR/semantic.png and DIR/groups.png are the first image's static pictures.
NMF needs non-negative activations: pick a ReLU or pooling layer.
"""

from __future__ import annotations

from ._common import add_model_args, add_output_flags, add_parser, check_output, default_output, model_from_args, print_json


def register(sub) -> None:
    p = add_parser(sub, "dictionary", __doc__)
    add_model_args(p)
    p.add_argument("--image", required=True, nargs="+", metavar="PATH",
                   help="one or more image files, or mnist:K for a bundled digit")  # fmt: skip
    p.add_argument("--layer", required=True, metavar="LAYER", help="layer to read (relu2, features.9)")
    p.add_argument("--to-layer", metavar="LAYER", help="a later layer: also draw the attribution flow into it (flow.html)")
    p.add_argument("--flow", default="channels", metavar="NODES", help="flow nodes: channels (default) or groups")
    p.add_argument("--groups", type=int, default=4, metavar="K", help="number of NMF neuron groups (default 4)")
    p.add_argument("--top", type=int, default=6, metavar="N", help="channels listed per position (default 6)")
    p.add_argument("--targets", nargs="+", metavar="CLASS",
                   help="class A (and class B) for the attribution (default: each image's top two)")  # fmt: skip
    p.add_argument("--method", default="LayerGradientXActivation", metavar="METHOD",
                   help="captum layer attribution method for the heat maps (default LayerGradientXActivation)")  # fmt: skip
    p.add_argument("--fv-steps", type=int, default=32, metavar="N",
                   help="feature visualization steps (default 32, cheap; 256 gives clean pictures; 0 skips them)")  # fmt: skip
    add_output_flags(p, "output folder (default vizcnn-out/MODEL-LAYER-dictionary)", metavar="DIR",
                     json="print the first image's top channels and neuron groups as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from .._io import write_text
    from ..cache import ResultCache
    from ..data import load_image
    from ..dictionary import interactive_dictionary
    from ..errors import VizcnnError
    from ..flow import MODES, check_order, layer_flow, render_features

    if args.top < 1 or args.fv_steps < 0:
        raise VizcnnError("--top must be at least 1 and --fv-steps at least 0.")
    if args.targets and len(args.targets) > 2:
        raise VizcnnError(f"--targets takes class A and at most a class B, not {len(args.targets)} classes.")
    if args.flow not in MODES:
        raise VizcnnError(f"unknown --flow {args.flow!r}: use one of {', '.join(MODES)}.")
    model = model_from_args(args)
    if args.to_layer:
        check_order(model, args.layer, args.to_layer)
    images = [(ref, load_image(ref)) for ref in args.image]
    cache = ResultCache() if args.fv_steps else None
    result = interactive_dictionary(
        model, images, args.layer, top=args.top, groups=args.groups, targets=args.targets, method=args.method,
        fv_steps=args.fv_steps, cache=cache,
    )  # fmt: skip
    out = Path(args.output) if args.output else default_output(model.name, result.layer, "dictionary", suffix="")
    check_output(out, folder=True)
    title = f"{model.name} {result.layer}: {', '.join(args.image)}"
    page = write_text(out / "index.html", result.to_html(title=title))
    first = result.views[0]
    first.semantic.save(out / "semantic.png")
    first.groups.save(out / "groups.png")
    sem, groups = first.semantic, first.groups
    if args.json and not args.to_layer:
        print_json(
            {
                "model": model.name, "layer": sem.layer, "shape": list(sem.activations.shape), "output": str(page),
                "top": [{"channel": c, "total": v} for c, v in sem.image_top()],
                "groups": {"error": groups.error, "channels": [[int(c) for c in d.topk(min(5, d.numel())).indices] for d in groups.directions],
                           "attributions": {k: [float(x) for x in v] for k, v in groups.attributions.items()}},
            }
        )  # fmt: skip
        return 0
    print(f"{model.name} {sem.layer}: activations {'x'.join(map(str, sem.activations.shape))}, {len(images)} image(s)")
    print("top channels by total activation: " + ", ".join(f"{c} ({v:.2f})" for c, v in sem.image_top()))
    print(f"{groups.k} neuron groups, relative reconstruction error {groups.error:.4f}")
    for g in range(groups.k):
        main = ", ".join(str(int(c)) for c in groups.directions[g].topk(min(3, groups.directions.shape[1])).indices)
        attrs = ", ".join(f"{name} {float(v[g]):+.3f}" for name, v in groups.attributions.items())
        print(f"  group {g}: channels {main}; attribution {attrs}")
    print(f"wrote {page}")
    if args.to_layer:
        a = first.attributions
        target, vs = a[0].target, (a[1].target if len(a) > 1 else None)
        flow = layer_flow(model, images[0][1], args.layer, args.to_layer, target, vs=vs, mode=args.flow,
                          groups=args.groups)  # fmt: skip
        render_features(flow, model, steps=args.fv_steps)
        path = write_text(out / "flow.html", flow.to_html(title=f"{model.name}: {images[0][0]} {flow.layer_a} → {flow.layer_b} → {flow.label}"))
        print(f"{flow}")
        for name, gap in flow.completeness.items():
            print(f"  completeness, {name}: {gap:.2e} (tolerance {flow.tolerance:.0e})")
        print(f"wrote {path}")
    return 0
