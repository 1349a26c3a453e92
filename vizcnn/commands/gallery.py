"""Build a static HTML gallery (index, layer and channel pages) from a TOML spec.

  vizcnn gallery galleries/mnist.toml -o site          then open site/index.html
  vizcnn gallery galleries/mnist.toml -o site --jobs 2
  vizcnn gallery galleries/mnist.toml -o site --executor ray --jobs 2
  vizcnn gallery galleries/mnist.toml -o site --executor ray --address auto
  vizcnn gallery my.toml -o out --cache ~/.cache/vizcnn-gallery
  vizcnn gallery my.toml -o out --allow-code     a spec naming module.path:callable models

The spec is checked before anything is rendered. A spec that names a
module.path:callable model (Python code to import and run) is refused unless
--allow-code is given. DIR must be new, empty, or a site vizcnn built (it keeps
a list of what it wrote in DIR/.vizcnn-manifest.json and deletes only files
from that list); --force builds into another folder. Results are cached in
DIR/.cache (or --cache DIR) by model, weights, layer, channel and settings, so
an interrupted build continues where it stopped and a rebuild renders only
what changed. The site opens from disk: no server, no network.
"""

from __future__ import annotations

from ._common import add_output_flags, add_parser, print_json


def register(sub) -> None:
    p = add_parser(sub, "gallery", __doc__)
    p.add_argument("spec", metavar="SPEC", help="gallery spec (TOML), e.g. galleries/mnist.toml")
    add_output_flags(p, "output folder (default: site)", metavar="DIR", default="site",
                     json="print what the build did (pages, images, channels rendered and reused) as JSON")
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes; 1 runs in-process (default: one per core when the build has enough work, else in-process)",
    )
    p.add_argument(
        "--executor", default="local", metavar="NAME", help="where work units run: local or ray (default: local)"
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="with --executor ray: the cluster to join (auto or HOST:PORT; default: a local Ray runtime with --jobs CPUs)",
    )
    p.add_argument("--cache", metavar="DIR", help="result cache (default: DIR/.cache inside the output folder)")
    p.add_argument(
        "--allow-code",
        action="store_true",
        help="let the spec name module.path:callable models, which are imported and run (read the spec first)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="build into a folder that is not empty and not a vizcnn site (its other files are kept)",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    from ..gallery import build_gallery, get_executor
    from ._common import check_output

    check_output(args.output, folder=True, option="-o")
    if args.cache:
        check_output(args.cache, folder=True, option="--cache")

    if args.address and args.executor != "ray":
        from ..errors import VizcnnError

        raise VizcnnError("--address is for --executor ray (a Ray cluster to join); drop it or add --executor ray.")
    executor = get_executor(args.executor, args.jobs, **({"address": args.address} if args.address else {}))
    try:
        report = build_gallery(
            args.spec, args.output, cache=args.cache, executor=executor, progress=not (args.quiet or args.json),
            allow_code=args.allow_code, force=args.force,
        )  # fmt: skip
    finally:
        executor.close()
    if args.json:
        print_json({"output": str(report.out), "index": str(report.out / "index.html"), "pages": report.pages,
                    "images": report.images, "rendered": report.rendered, "reused": report.reused,
                    "seconds": report.seconds})  # fmt: skip
        return 0
    print(report)
    print(f"open {report.out / 'index.html'}")
    return 0
