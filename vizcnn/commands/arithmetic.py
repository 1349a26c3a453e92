"""Conv/pool arithmetic: output size floor((W + 2P - K) / S) + 1, weight and bias counts.

  vizcnn arithmetic --size 6 --kernel 3 --padding 1 --stride 2
  vizcnn arithmetic --input 32x32x3 --filters 64 --kernel 3 --stride 2 --padding 1
  vizcnn arithmetic --size 32 --kernel 2 --stride 2 --pool --json
"""

from __future__ import annotations

from ._common import add_output_flags, add_parser, print_json


def register(sub) -> None:
    p = add_parser(sub, "arithmetic", __doc__)
    p.add_argument("--size", type=int, help="input width = height W")
    p.add_argument("--input", metavar="HxWxC", help="input shape, e.g. 32x32x3 (instead of --size/--channels)")
    p.add_argument("--kernel", "-k", type=int, default=3, help="kernel size K (default 3)")
    p.add_argument("--stride", "-s", type=int, default=1, help="stride S (default 1)")
    p.add_argument("--padding", "-p", type=int, default=0, help="zero padding P (default 0)")
    p.add_argument("--channels", "-c", type=int, default=1, help="input channels C (default 1)")
    p.add_argument("--filters", "-f", type=int, default=1, help="number of filters F (default 1)")
    p.add_argument("--pool", action="store_true", help="a pooling layer: no parameters, channels kept")
    add_output_flags(p, "write the explanation (or the JSON) to FILE instead of printing it", json="print JSON", stdout=True)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..arithmetic import conv_layer, pool_layer
    from ..errors import VizcnnError

    if args.input:
        try:
            h, w, c = (int(v) for v in args.input.lower().split("x"))
        except ValueError:
            raise VizcnnError(f"--input {args.input!r}: write it as HxWxC, e.g. 32x32x3.") from None
    elif args.size is not None:
        h = w = args.size
        c = args.channels
    else:
        raise VizcnnError("give the input size with --size W (and --channels C) or --input HxWxC.")
    if args.pool:
        layer = pool_layer(h, w, c, kernel=args.kernel, stride=args.stride, padding=args.padding)
    else:
        layer = conv_layer(h, w, c, filters=args.filters, kernel=args.kernel, stride=args.stride, padding=args.padding)
    if args.json:
        print_json(layer.as_dict())
    else:
        print(layer.explain())
    return 0
