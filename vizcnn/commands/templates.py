"""Template matching: one template per digit (the class mean), the best-correlated template wins.

  vizcnn templates
  vizcnn templates --image mnist:7 -o templates.png
  vizcnn templates --train-data ../shared/data/mnist --data ../shared/data/mnist --json

Prints one digit's score against every template (the lecture's table of
responses) and the accuracy on --data DIR (default: the bundled sample); the
picture of the digit beside the ten templates, with its scores, goes to -o
(default vizcnn-out/templates.png). The templates are the class means of
--train-data DIR's training digits; without it, of the bundled sample (the
same digits the accuracy is measured on, which flatters it a little).
--score dot uses the plain dot product instead of normalized correlation.
An image file is scaled to 28x28 greyscale; like MNIST, the digit should be
light on a dark background.
"""

from __future__ import annotations

from ._common import add_output_flags, add_parser, default_output, output_file, print_json


def register(sub) -> None:
    p = add_parser(sub, "templates", __doc__)
    p.add_argument("--data", metavar="DIR", default="sample", help="MNIST folder to measure accuracy on (default: the bundled sample)")
    p.add_argument("--train-data", metavar="DIR", help="MNIST folder whose training digits make the templates (default: the bundled sample)")
    p.add_argument("--image", default="mnist:0", help="the digit to score: mnist:K (bundled sample) or an image file (default mnist:0)")
    p.add_argument("--score", choices=["correlation", "dot"], default="correlation", help="how to compare (default correlation)")
    add_output_flags(p, "the digit, templates and scores (default vizcnn-out/templates.png)", metavar="PNG", json="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:

    from ..data import load_image, mnist, sample_index
    from ..lesson.templates import TemplateClassifier
    from ..models.zoo import MNIST_INPUT

    out = output_file(args.output, default_output("templates"))
    clf = TemplateClassifier.fit(mnist(args.train_data, "train") if args.train_data else mnist("sample"), args.score)
    pixels = MNIST_INPUT.to_tensor(load_image(args.image))[0]
    # a bundled digit's label is known (load_image has checked K)
    label = int(mnist("sample").labels[sample_index(args.image)]) if args.image.startswith("mnist:") else None
    scores = clf.explain(pixels, label)
    test = mnist(args.data)
    accuracy = clf.accuracy(test)
    scores.save(out)
    if args.json:
        print_json({**scores.as_dict(), "image": args.image, "templates": clf.source, "accuracy": accuracy,
                    "n": len(test), "data": test.source, "output": str(out)})  # fmt: skip
        return 0
    print(f"templates: {clf.source}")
    print(f"{args.image}: " + scores.table())
    print(f"accuracy on {len(test)} digits ({test.source}): {accuracy:.2%}")
    print(f"picture: {out}")
    return 0
