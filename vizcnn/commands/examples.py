"""The real images that excite one channel most, with crops around the peak (dataset examples).

  vizcnn examples mnist-cnn conv3:5                      # the bundled 500 digits
  vizcnn examples mnist-cnn fc1:17 --top 16 --json
  vizcnn examples mnist-cnn conv4:0 --data /path/to/mnist   # an MNIST IDX folder (test split)
  vizcnn examples alexnet conv5:42 --data photos/           # any folder of images; needs the ImageNet weights
  vizcnn examples mnist-cnn relu3:5 --projection deconvnet  # Zeiler & Fergus: each peak projected to pixels

The data set is streamed in batches (progress bar on stderr); only the top K
are kept in memory. A conv channel is scored by its maximum over positions,
and each example shows the input crop that position sees (its receptive
field). MNIST models default to the bundled sample; ImageNet models need
--data. Unreadable files in a folder are skipped and counted.

With --projection deconvnet (Zeiler & Fergus 2014) or guided-backprop, a third
row shows, for each example, the unit at its peak projected back to pixels
(captum's NeuronDeconvolution / NeuronGuidedBackprop), cropped to the same
receptive field; grey is zero. A deconvnet projection depends on the image
only through ReLUs and max-pooling switches, so below the first pooling layer
every example gets the same pattern.
"""

from __future__ import annotations

from ._common import (
    add_model_args,
    add_parser,
    default_output,
    model_from_args,
    print_json,
)


def register(sub) -> None:
    p = add_parser(sub, "examples", __doc__)
    add_model_args(p)
    p.add_argument("target", metavar="LAYER:CHANNEL", help="e.g. conv3:5 or fc1:17")
    p.add_argument("--data", metavar="DIR_OR_DATASET",
                   help="'sample' (bundled digits), an MNIST IDX folder or a folder of images "
                        "(default: sample for MNIST models)")  # fmt: skip
    p.add_argument("--top", type=int, default=9, metavar="K", help="how many examples (default 9)")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per forward pass (default 64)")
    p.add_argument("--projection", metavar="METHOD",
                   help="also project each example's peak back to pixels: deconvnet or guided-backprop")  # fmt: skip
    p.add_argument("-o", "--output", metavar="PNG", help="default: vizcnn-out/MODEL-LAYER-CHANNEL-examples.png")
    p.add_argument("--json", action="store_true", help="print the examples as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..errors import VizcnnError
    from ..examples import top_examples

    layer, sep, channel = args.target.rpartition(":")
    if not sep or not layer or not channel.strip().isdigit():
        raise VizcnnError(f"cannot read {args.target!r}: give LAYER:CHANNEL, e.g. conv3:5.")
    model = model_from_args(args)
    result = top_examples(model, layer, int(channel), args.data, k=args.top, batch_size=args.batch_size,
                          projection=args.projection)  # fmt: skip
    out = args.output or default_output(model.name, layer, channel, "examples")
    result.save(out)
    if args.json:
        print_json({**result.as_dict(), "output": str(out)})
        return 0
    print(f"wrote {out}: top {len(result.indices)} of {result.seen} images ({result.source})")
    for name, value in zip(result.names, result.values.tolist()):
        print(f"  {value:10.4f}  {name}")
    if result.skipped:
        print(f"  skipped {result.skipped} unreadable file(s)")
    return 0
