"""Channel maps of one layer for one image, overlaid on the input, with the top predicted classes.

  vizcnn activations mnist-cnn conv2 --image mnist:17
  vizcnn activations mnist-cnn conv3 --image mnist:3 --channels 0-3,10 --json
  vizcnn activations alexnet conv5 --image photo.jpg --top 12      # needs the ImageNet weights
  vizcnn activations alexnet conv2 --weights random --image photo.jpg

The image goes through the model's own preprocessing (any size; RGBA and
greyscale are converted). Channels are ranked by mean activation unless
--channels picks them. --json prints channel, mean and max for each shown
channel and the top classes (the PNG is written as well). --top-classes 0 skips
the predictions, and the forward pass then stops right after LAYER.
"""

from __future__ import annotations

from ..errors import parse_channels
from ._common import add_model_args, add_output_flags, add_parser, at_least, default_output, model_from_args, output_file, print_json


def register(sub) -> None:
    p = add_parser(sub, "activations", __doc__)
    add_model_args(p)
    p.add_argument("layer", metavar="LAYER", help="friendly name (conv2) or module path (features.3)")
    p.add_argument("--image", required=True, metavar="PATH", help="JPEG/PNG file, or mnist:K for a bundled digit")
    p.add_argument("--top", type=int, default=8, metavar="K", help="the K channels with the highest mean (default 8)")
    p.add_argument("--channels", metavar="LIST", help="channels to show instead: 5, 0-15, 1,4,9 or all")
    p.add_argument("--top-classes", type=int, default=5, metavar="N", help="predicted classes to show (default 5; 0: none)")
    add_output_flags(p, "default: vizcnn-out/MODEL-LAYER-activations-IMAGE.png", metavar="PNG", json="print the summary as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from ..activations import activations, channel_count
    from ..data import load_image

    at_least(args, 1, "--top")
    at_least(args, 0, "--top-classes")
    model = model_from_args(args)
    out = output_file(args.output, default_output(model.name, args.layer, "activations", Path(args.image).stem))
    image = load_image(args.image)
    channels = parse_channels(args.channels, channel_count(model, args.layer)) if args.channels else None
    maps = activations(model, args.layer, image, top=args.top, channels=channels, classes=args.top_classes)
    maps.save(out)
    if args.json:
        print_json({**maps.as_dict(), "image": args.image, "output": str(out)})
        return 0
    print(f"wrote {out}")
    for s in maps.summary:
        print(f"  channel {s['channel']:>4}  mean {s['mean']:9.4f}  max {s['max']:9.4f}")
    if maps.classes:
        print("  top classes: " + ", ".join(f"{c['class']} {100 * c['probability']:.1f}%" for c in maps.classes))
    return 0
