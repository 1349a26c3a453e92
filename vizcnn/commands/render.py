"""Feature visualization: optimize images that excite channels or classes.

  vizcnn render mnist-cnn conv3:0-15
  vizcnn render mnist-cnn fc2:3 --steps 128 -o three.png
  vizcnn render alexnet conv3:1,4,9 --diversity 3 --size 96
  vizcnn render alexnet fc8:"Labrador retriever"
  vizcnn render mnist-cnn fc2:0-9 --param fourier
  vizcnn render mnist-cnn conv3:0-15 --param prior
  vizcnn render mnist-cnn conv3:5 --tv 0.5 --jitter 2 --objective centre

CHANNELS is 5, 0-15, 1,4,9 or all. For the output layer a class name (or
index) works too. All channels are rendered together, one image per channel
(times --diversity), and the picture is saved as a labelled grid with the
final activation of each image. The progress bar shows the mean objective and
the time left. The same --seed gives the same picture.

Defaults fit the layer: a layer that is an affine function of the image (a
first conv layer, with its BatchNorm) maximizes its centre neuron without
transforms (its channel mean would only depend on the image's brightness and
end as a flat square); other layers maximize the channel mean (for a linear
layer, the unit itself). Images below 64 px (MNIST) get light transforms
(pad 1, jitter 4, scale 0.95-1.05, rotate -5..5) and lucid's learning rate
0.05, larger ones lucid's standard transforms and a learning rate of 0.2,
which reaches the same objective in fewer steps. No regularizer is on by default. The grid's title names the
objective. A render that ends at or below its baseline, the objective of a
plain image (grey or the mean input; with --param prior, which draws no plain
image, the best of 256 random digits the prior draws), is marked FAILED in its
caption and in the output.
"""

from __future__ import annotations

import dataclasses
import sys

from ..errors import parse_channels
from ._common import add_model_args, add_output_flags, add_parser, at_least, default_output, model_from_args, output_file, print_json


def register(sub) -> None:
    p = add_parser(sub, "render", __doc__)
    add_model_args(p)
    p.add_argument("target", metavar="LAYER:CHANNELS", help="e.g. conv3:5, conv2:0-15, fc8:'Labrador retriever'")
    p.add_argument("--steps", type=int, default=256, help="optimization steps (default 256)")
    p.add_argument("--size", type=int, help="image side in pixels (default: 28 for MNIST models, 128 for RGB ones)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--diversity", type=int, default=0, metavar="D", help="D diverse images per channel")
    p.add_argument(
        "--param", metavar="KIND", default=None,
        help="image parameterization: fourier, pixel, or prior (latent codes of a generator trained on MNIST "
        "digits, for 1x28x28 models); default: prior for the class logits of mnist-cnn and lenet, else fourier",
    )  # fmt: skip
    p.add_argument(
        "--objective", choices=["auto", "mean", "centre"], default="auto",
        help="auto (default: centre for a layer affine in the image, else mean), mean (channel mean), centre (centre neuron)",
    )  # fmt: skip
    p.add_argument(
        "--transforms", choices=["auto", "standard", "light", "none"], default="auto",
        help="robustness transforms: auto (default: none for a layer affine in the image, light below 64 px, else standard)",
    )  # fmt: skip
    p.add_argument("--jitter", type=int, metavar="PX", help="jitter as in lucid: a random shift drawn from PX values, -(PX-1)//2..PX//2 (replaces the transforms' own; 1: none)")
    p.add_argument("--tv", type=float, metavar="W", help="weight of the total-variation penalty (default 0)")
    p.add_argument("--l1", type=float, metavar="W", help="weight of the L1 penalty on the image (distance to the mean input; default 0)")
    p.add_argument("--l2", type=float, metavar="W", help="weight of the L2 penalty on the image (default 0)")
    p.add_argument("--blur", type=float, metavar="W", help="weight of lucid's blur-each-step term (default 0)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 0.05 below 64 px, as lucid; 0.2 from 64 px up, which reaches the same objective in fewer steps)")
    p.add_argument("--start", choices=["best", "mean", "grey"], help="start near the better plain image for each channel (default), the mean input, or grey")
    p.add_argument(
        "--precision", choices=["float32", "bfloat16"], default="float32",
        help="bfloat16: network passes in bfloat16, faster on recent CPUs and GPUs (default float32)",
    )  # fmt: skip
    add_output_flags(p, "output image (default vizcnn-out/MODEL-LAYER-CHANNELS.png)", json="print the values as JSON")
    p.set_defaults(run=run)


def _targets(model, layer_name: str, text: str) -> tuple[object, list[int], bool]:
    """Resolve ``LAYER`` and ``CHANNELS``; class names are allowed for the output layer."""
    import torch

    from ..errors import VizcnnError
    from ..hooks import capture

    layer = model.layer(layer_name)
    x = torch.zeros((1, *model.input.shape), device=model.device)
    with torch.no_grad(), capture(model.net, {"layer": layer.module}, stop=False) as cap:
        out = cap.run(x)
    is_output = out is not None and cap["layer"].shape == out.shape
    count = cap["layer"].shape[1]
    spec = text.strip()
    if spec == "all" or spec.replace(",", "").replace("-", "").replace(" ", "").isdigit():
        return layer, parse_channels(spec, count), is_output
    if not is_output:
        raise VizcnnError(
            f"{spec!r} is not a channel list, and class names work only for the output layer; "
            f"give channels of {layer_name} as 5, 0-15, 1,4,9 or all."
        )
    return layer, [model.class_index(spec)], True


def run(args) -> int:
    from .. import optvis
    from ..errors import VizcnnError
    from ..limits import check_seed

    layer_name, sep, spec = args.target.partition(":")
    if not sep or not layer_name or not spec:
        raise VizcnnError(f"cannot read {args.target!r}: write LAYER:CHANNELS, e.g. conv3:5, conv2:0-15 or fc8:'tabby cat'.")
    if args.steps < 1:
        raise VizcnnError(f"--steps must be at least 1, not {args.steps}.")
    if args.diversity < 0:
        raise VizcnnError(f"--diversity must be 0 or more, not {args.diversity}.")
    at_least(args, 8, "--size")
    check_seed(args.seed, "--seed")
    for flag in ("tv", "l1", "l2", "blur"):
        if getattr(args, flag) is not None and not getattr(args, flag) >= 0:
            raise VizcnnError(f"--{flag} must be 0 or more, not {getattr(args, flag)}.")
    if args.lr is not None and not 0 < args.lr <= 10:
        raise VizcnnError(f"--lr must be above 0 and at most 10, not {args.lr}.")
    if args.param is not None and args.param not in optvis.param.KINDS:
        import difflib

        close = difflib.get_close_matches(args.param, optvis.param.KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise VizcnnError(f"unknown --param {args.param!r}.{hint} Use one of {', '.join(optvis.param.KINDS)}.")
    model = model_from_args(args)
    out = output_file(args.output, default_output(model.name, layer_name, spec))
    layer, channels, is_output = _targets(model, layer_name, spec)
    size = optvis.render_size(model, args.size)
    if args.jitter is not None and not 0 <= args.jitter <= size:
        raise VizcnnError(f"--jitter must be between 0 and the image size ({size}), not {args.jitter}.")
    if not (args.quiet or args.json):
        n = len(dict.fromkeys(channels)) * max(1, args.diversity)
        print(f"rendering {n} image(s) for {args.steps} steps; the bar shows the time left", file=sys.stderr)
    res = optvis.render_channels(
        model, layer.name, channels, diversity=args.diversity, steps=args.steps, size=args.size,
        seed=args.seed, precision=args.precision, progress=not (args.quiet or args.json),
        **_overrides(args, optvis.recipe.recipe_for(model, layer.name, size), size),
    )  # fmt: skip
    if is_output:
        res.labels = [str(model.categories[c]) for c in res.channels]
    res.save(out)
    if args.json:
        print_json(
            {
                "model": model.name, "layer": layer_name, "path": layer.path, "output": str(out),
                "steps": args.steps, "size": int(res.images.shape[-1]), "seed": args.seed, "objective": res.title,
                "baseline": res.baseline,  # what each plain_image_value measured
                "images": [
                    {"channel": c, "label": lab, "value": v, "plain_image_value": b, "failed": bad}
                    for c, lab, v, b, bad in zip(res.channels, res.labels, res.values, res.baselines, res.failed)
                ],
            }
        )  # fmt: skip
    else:
        print(res.title)
        for lab, v, b, bad in zip(res.labels, res.values, res.baselines, res.failed):
            print(f"{lab}: {v:.3f}" + (f"  FAILED: at or below its baseline, {res.baseline} ({b:.3f})" if bad else ""))
        print(f"saved {out}")
    return 0


def _overrides(args, default, size: int) -> dict:
    """The recipe fields the flags change; ``None`` keeps the layer's default."""
    from ..optvis import transforms as tf

    chosen = {
        "auto": lambda: default.transforms, "none": lambda: "none",
        "standard": lambda: tf.standard(size), "light": lambda: tf.light(size),
    }[args.transforms]()  # fmt: skip
    if args.jitter is not None:
        base = chosen if isinstance(chosen, tf.Transforms) else tf.light(size)
        chosen = dataclasses.replace(base, jitter=max(1, args.jitter))
    return {
        "position": None if args.objective == "auto" else args.objective, "transforms": chosen, "param": args.param,
        "lr": args.lr, "start": args.start, "tv": args.tv, "l1": args.l1, "l2": args.l2, "blur": args.blur,
    }  # fmt: skip
