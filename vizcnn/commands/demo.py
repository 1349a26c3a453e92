"""The building blocks step by step: convolution, pooling, channels, padding and stride.

  vizcnn demo conv                                   the lecture's 5x5 image * 3x3 kernel, every step
  vizcnn demo conv --padding 1 --stride 2 --json
  vizcnn demo conv --image "1,2,3;4,5,6;7,8,9" --kernel "1,0;0,-1" --gif
  vizcnn demo pool --size 2 --stride 2 --mode avg
  vizcnn demo multichannel --frames
  vizcnn demo padding --size 5 --kernel-size 3

Every demo prints its steps (the window, the products, the sum) and the
output; --json prints {"output": [[...]], ...} instead. The finished picture
goes to vizcnn-out/demo-DEMO.png (or -o PNG); --gif [PATH] also writes the
sliding window as an animated GIF (default vizcnn-out/demo-DEMO.gif), --frames
[DIR] one PNG per step (default vizcnn-out/demo-DEMO-frames/). Matrices are
written as rows separated by ';', values by ','.
"""

from __future__ import annotations

from ._common import PICTURES, add_output_flags, add_parser, check_output, default_output, print_json

LECTURE_IMAGE = "3,3,2,1,0;0,0,1,3,1;3,1,2,2,3;2,0,0,2,2;2,0,0,0,1"
LECTURE_KERNEL = "0,1,2;2,2,0;0,1,2"


def _outputs(p) -> None:
    name = p.prog.split()[-1]
    add_output_flags(p, f"the finished picture (default vizcnn-out/demo-{name}.png)", metavar="PNG",
                     json='print JSON: {"output": [[...]], "steps": [...], ...}')
    p.add_argument("--gif", metavar="PATH", nargs="?", const=str(default_output("demo", name, suffix=".gif")),
                   help=f"also write the steps as an animated GIF (PATH default vizcnn-out/demo-{name}.gif)")
    p.add_argument("--frames", metavar="DIR", nargs="?", const=str(default_output("demo", name, "frames", suffix="")),
                   help=f"also write the steps as frame-000.png, ... (DIR default vizcnn-out/demo-{name}-frames)")


def register(sub) -> None:
    p = add_parser(sub, "demo", __doc__)
    modes = p.add_subparsers(dest="demo", metavar="DEMO", required=True)

    conv = modes.add_parser("conv", help="2D convolution (cross-correlation) step by step")
    conv.add_argument("--image", dest="matrix", default=LECTURE_IMAGE, help="input matrix (default: the lecture's 5x5 image)")
    conv.add_argument("--kernel", default=LECTURE_KERNEL, help="kernel matrix (default: 0,1,2;2,2,0;0,1,2)")
    conv.add_argument("--padding", type=int, default=0, help="zero padding P (default 0)")
    conv.add_argument("--stride", type=int, default=1, help="stride S (default 1)")
    conv.add_argument("--bias", type=float, default=0.0, help="added to every output (default 0)")
    _outputs(conv)

    pool = modes.add_parser("pool", help="max or average pooling step by step")
    pool.add_argument("--image", dest="matrix", default=LECTURE_IMAGE, help="input matrix (default: the lecture's 5x5 image)")
    pool.add_argument("--size", type=int, default=3, help="window size (default 3)")
    pool.add_argument("--stride", type=int, default=1, help="stride (default 1)")
    pool.add_argument("--padding", type=int, default=0, help="padding, at most half the window (default 0)")
    pool.add_argument("--mode", choices=["max", "avg"], default="max", help="max or avg (default max)")
    _outputs(pool)

    multi = modes.add_parser("multichannel", help="a 3-channel input and a 3-channel kernel summed to one map")
    multi.add_argument("--size", type=int, default=5, help="input width = height (default 5)")
    multi.add_argument("--padding", type=int, default=0, help="zero padding (default 0)")
    multi.add_argument("--stride", type=int, default=1, help="stride (default 1)")
    multi.add_argument("--bias", type=float, default=1.0, help="the filter's bias (default 1)")
    multi.add_argument("--seed", type=int, default=0, help="seed for the random input and kernel (default 0)")
    _outputs(multi)

    pad = modes.add_parser("padding", help="how zero padding and stride change the output size")
    pad.add_argument("--size", type=int, default=5, help="input width W (default 5)")
    pad.add_argument("--kernel-size", type=int, default=3, help="kernel width K (default 3)")
    pad.add_argument("--paddings", default="0,1,2", help="paddings to show (default 0,1,2)")
    pad.add_argument("--strides", default="1,2", help="strides to show (default 1,2)")
    _outputs(pad)
    p.set_defaults(run=run)


def _ints(text: str, option: str) -> list[int]:
    from ..errors import VizcnnError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise VizcnnError(f"{option} {text!r}: give whole numbers separated by commas, e.g. 0,1,2.")
    return values


def run(args) -> int:
    from ..lesson import demos

    for path, suffixes, option in ((args.output, PICTURES, "-o"), (args.gif, (".gif",), "--gif")):
        if path:
            check_output(path, suffixes, option=option)
    if args.frames:
        check_output(args.frames, folder=True, option="--frames")

    if args.demo == "conv":
        image, kernel = demos.parse_matrix(args.matrix, "image"), demos.parse_matrix(args.kernel, "kernel")
        result = demos.conv_demo(image, kernel, stride=args.stride, padding=args.padding, bias=args.bias)
    elif args.demo == "pool":
        image = demos.parse_matrix(args.matrix, "image")
        result = demos.pool_demo(image, size=args.size, stride=args.stride, mode=args.mode, padding=args.padding)
    elif args.demo == "multichannel":
        result = demos.multichannel_demo(seed=args.seed, size=args.size, stride=args.stride, padding=args.padding, bias=args.bias)
    else:
        result = demos.padding_demo(args.size, args.kernel_size, _ints(args.paddings, "--paddings"), _ints(args.strides, "--strides"))
    written = [str(result.save(args.output or default_output("demo", args.demo)))]
    if args.gif:
        written.append(str(result.save_gif(args.gif)))
    if args.frames:
        frames = result.save_frames(args.frames)
        written.append(f"{args.frames} ({len(frames)} frames)")
    if args.json:
        print_json(result.as_dict())
        return 0
    print(result.explain())
    for w in written:
        print(f"wrote {w}")
    return 0
