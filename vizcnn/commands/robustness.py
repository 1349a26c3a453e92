"""Accuracy of template matching vs the CNNs as digits are rotated, sheared, zoomed and shifted.

  vizcnn robustness
  vizcnn robustness --limit 200 --json
  vizcnn robustness --data ../shared/data/mnist --train-data ../shared/data/mnist --limit 2000 -o robustness.png

The test digits come from --data DIR (default: the bundled 500-digit sample).
The templates are the class means of --train-data DIR's training digits; without
it they are the means of the bundled sample, i.e. of the test digits themselves,
which flatters template matching a little. The plot goes to -o (default
vizcnn-out/robustness.png); --json prints, per deformation, the parameter
values and every method's accuracy.
"""

from __future__ import annotations

from ._common import add_output_flags, add_parser, default_output, output_file, print_json


def register(sub) -> None:
    p = add_parser(sub, "robustness", __doc__)
    p.add_argument("--data", metavar="DIR", default="sample", help="MNIST folder with the test digits (default: the bundled sample)")
    p.add_argument("--train-data", metavar="DIR", help="MNIST folder whose training digits make the templates (default: the bundled sample)")
    p.add_argument("--models", default="mnist-cnn,lenet", help="CNNs to compare, comma-separated (default mnist-cnn,lenet)")
    p.add_argument("--deformations", default="rotation,shear,zoom,translation", help="which deformations (default: all four)")
    p.add_argument("--limit", type=int, metavar="N", help="use the first N test digits")
    p.add_argument("--examples", metavar="PNG", help="also draw the first test digit under every deformation")
    add_output_flags(p, "the plot (default vizcnn-out/robustness.png)", metavar="PNG", json="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:

    from ..data import Digits, mnist
    from ..errors import VizcnnError, unknown_name
    from ..lesson.robustness import DEFORMATIONS, deformation_examples, robustness
    from ..lesson.templates import TemplateClassifier
    from ..models import load_model

    deformations = [d.strip() for d in args.deformations.split(",") if d.strip()]
    if not deformations:
        raise VizcnnError("--deformations is empty; name at least one of rotation, shear, zoom, translation.")
    for name in deformations:
        if name not in DEFORMATIONS:
            raise unknown_name("deformation", name, list(DEFORMATIONS))
    out = output_file(args.output, default_output("robustness"))
    if args.examples:
        output_file(args.examples, None, option="--examples")
    digits = mnist(args.data)
    if args.limit is not None:
        if args.limit < 1:
            raise VizcnnError(f"--limit must be at least 1, got {args.limit}.")
        digits = Digits(digits.images[: args.limit], digits.labels[: args.limit], f"first {min(args.limit, len(digits))} of {digits.source}")
    clf = TemplateClassifier.fit(mnist(args.train_data, "train") if args.train_data else mnist("sample"))
    methods = {"template matching": clf}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        methods[name] = load_model(name)
    result = robustness(digits, methods, deformations, progress=not (args.quiet or args.json))
    result.save(out)
    if args.examples:
        deformation_examples(digits.images[0], deformations).save(args.examples)
    if args.json:
        print_json({**result.as_dict(), "templates": clf.source, "image": str(out)})
        return 0
    print(f"templates: {clf.source}")
    print(result.table())
    print(f"plot: {out}")
    return 0
