"""Which channels of a layer support a class, or one class over another (captum attribution).

  vizcnn attribute mnist-cnn --image mnist:76 --layer conv2 --target 4 --vs 9
  vizcnn attribute mnist-cnn --image mnist:76 --layer conv3 --target 4 --method ig --json
  vizcnn attribute alexnet --image dog.jpg --layer conv5 --target "Labrador retriever" --vs "tiger cat"

Attributes the logit of --target (minus the logit of --vs, as one objective)
to every channel and position of --layer, prints the top channels, and writes a
self-contained HTML page (channels supporting the target, the other class and
the contrast, with where each acts and, with --fv-steps, its feature
visualization) plus a PNG figure beside it. Methods are captum's:
LayerGradientXActivation (grad-x-act, the default), LayerIntegratedGradients
(ig), LayerGradCam (grad-cam), LayerDeepLift (deeplift).
"""

from __future__ import annotations

from ._common import PICTURES, add_model_args, add_output_flags, add_parser, check_output, default_output, model_from_args, output_file, print_json

#: Integration and feature-visualization steps beyond this add nothing but time.
MAX_STEPS = 10_000


def register(sub) -> None:
    p = add_parser(sub, "attribute", __doc__)
    add_model_args(p)
    p.add_argument("--image", required=True, metavar="PATH", help="image file, or mnist:K for a bundled digit")
    p.add_argument(
        "--layer", required=True, metavar="LAYER", help="layer whose channels are attributed (conv2, features.8)"
    )
    p.add_argument("--target", required=True, metavar="CLASS", help="class name or index")
    p.add_argument("--vs", metavar="CLASS", help="contrast class: attribute logit[target] - logit[vs]")
    p.add_argument("--method", default="LayerGradientXActivation", metavar="NAME",
                   help="captum method or alias: LayerGradientXActivation (grad-x-act), LayerIntegratedGradients (ig), "
                   "LayerGradCam (grad-cam), LayerDeepLift (deeplift)")  # fmt: skip
    p.add_argument("--top", type=int, default=8, metavar="K", help="channels to print and show (default 8)")
    p.add_argument("--steps", type=int, default=50, metavar="N", help="integration steps for ig (default 50)")
    p.add_argument("--fv-steps", type=int, default=0, metavar="N",
                   help="feature visualization steps per channel (0, the default, skips them; 256 gives clean pictures)")  # fmt: skip
    add_output_flags(p, "HTML file (default vizcnn-out/MODEL-LAYER-attribution.html)", json="print every channel's attribution as JSON, sorted")
    p.set_defaults(run=run)


def run(args) -> int:
    from .._io import write_text
    from ..cache import ResultCache
    from ..data import load_image
    from ..dictionary import attribution_dictionary
    from ..errors import VizcnnError

    if args.top < 1 or args.steps < 1 or args.fv_steps < 0:
        raise VizcnnError("--top and --steps must be at least 1 and --fv-steps at least 0.")
    if args.steps > MAX_STEPS or args.fv_steps > MAX_STEPS:
        raise VizcnnError(f"--steps and --fv-steps are limited to {MAX_STEPS}; more adds nothing but time.")
    model = model_from_args(args)
    out = output_file(args.output, default_output(model.name, model.layer(args.layer).name, "attribution", suffix=".html"), (".html", ".htm"))
    check_output(out.with_suffix(".png"), PICTURES, option="-o (the PNG beside it)")
    image = load_image(args.image)
    result = attribution_dictionary(
        model, image, args.layer, args.target, vs=args.vs, method=args.method, top=args.top,
        n_steps=args.steps, fv_steps=args.fv_steps, cache=ResultCache() if args.fv_steps else None,
        source=str(args.image),
    )  # fmt: skip
    main = result.main
    write_text(out, result.to_html())
    png = result.save(out.with_suffix(".png"))
    if args.json:
        data = main.to_dict()
        data.update(html=str(out), png=str(png))
        print_json(data)
        return 0
    probs = main.logits.softmax(0)
    print(f"{model.name} {main.layer}, {main.method}: {main.label}")
    print(
        f"p({main.target_name}) = {float(probs[main.target]):.3f}"
        + (f", p({main.vs_name}) = {float(probs[main.vs]):.3f}" if main.vs is not None else "")
    )
    line = f"objective {main.objective:.4f}"
    if main.baseline_objective is not None:
        line += f" (black baseline {main.baseline_objective:.4f}; attributions sum to the difference up to delta {main.delta:.2e})"
    print(f"{line}, sum of attributions {main.total:.4f}")
    print(f"channels supporting {main.label}:")
    for c, v in main.top(args.top):
        print(f"  {c:>5} {v:+.4f}")
    print("channels opposing it:")
    for c, v in main.top(args.top, largest=False):
        print(f"  {c:>5} {v:+.4f}")
    print(f"wrote {out} and {png}")
    return 0
