"""Table of a model's layers: type, kernel/stride/padding, output shape, parameters, receptive field.

  vizcnn layers mnist-cnn
  vizcnn layers alexnet --weights random --json

The receptive field is in input pixels; jump is the input distance between
neighbouring units of the layer. Friendly names (conv1, fc6) and module paths
(features.0) both work wherever a LAYER is asked for.
"""

from __future__ import annotations

from ._common import (
    add_model_args,
    add_output_flags,
    add_parser,
    model_from_args,
    print_json,
)


def register(sub) -> None:
    p = add_parser(sub, "layers", __doc__)
    add_model_args(p)
    add_output_flags(p, "write the table (or the JSON) to FILE instead of printing it", json="print JSON", stdout=True)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..models import layer_table

    model = model_from_args(args)
    rows = layer_table(model.net, model.input.shape, dict(model.aliases))
    if args.json:
        print_json({"model": model.name, "input": list(model.input.shape), "layers": [r.as_dict() for r in rows]})
        return 0
    nw = max(4, *(len(r.name) for r in rows))
    pw = max(4, *(len(r.path) for r in rows))
    head = f"{'name':<{nw}} {'path':<{pw}} {'type':<18} {'k/s/p':<9} {'output':<14} {'weights':>9} {'biases':>7} {'RF':>5} {'jump':>5}"
    print(f"{model.name}: input {'x'.join(map(str, model.input.shape))}, weights: {model.weights}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ksp = f"{r.kernel}/{r.stride}/{r.padding}" if r.kernel else ""
        print(
            f"{r.name:<{nw}} {r.path:<{pw}} {r.type:<18} {ksp:<9} {'x'.join(map(str, r.output)):<14} "
            f"{r.weights:>9} {r.biases:>7} {r.receptive_field:>5} {r.jump:>5}"
        )
    total = sum(r.weights + r.biases for r in rows)
    print(f"total parameters: {total:,}")
    return 0
