"""Table of a model's layers: type, kernel/stride/padding, output shape, parameters, receptive field.

  vizcnn layers mnist-cnn
  vizcnn layers alexnet --weights random --json

The receptive field is in input pixels, computed from the traced graph (exact
on ResNets, Inceptions and DenseNets: parallel paths are aligned, not added
up); jump is the input distance between neighbouring units of the layer. A
network torch.fx cannot trace gets the chain rule, marked "approximate". Friendly names (conv1, fc6) and module paths
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
    exact = all(r.exact for r in rows)
    if args.json:
        print_json({"model": model.name, "input": list(model.input.shape), "receptive_fields": "exact" if exact else "approximate",
                    "layers": [r.as_dict() for r in rows]})  # fmt: skip
        return 0
    nw = max(4, *(len(r.name) for r in rows))
    pw = max(4, *(len(r.path) for r in rows))
    head = f"{'name':<{nw}} {'path':<{pw}} {'type':<18} {'k/s/p':<9} {'output':<14} {'weights':>9} {'biases':>7} {'RF':>9} {'jump':>5}"
    print(f"{model.name}: input {'x'.join(map(str, model.input.shape))}, weights: {model.weights}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ksp = f"{r.kernel}/{r.stride}/{r.padding}" if r.kernel else ""
        print(
            f"{r.name:<{nw}} {r.path:<{pw}} {r.type:<18} {ksp:<9} {'x'.join(map(str, r.output)):<14} "
            f"{r.weights:>9} {r.biases:>7} {_rf(r):>9} {'' if r.jump is None else r.jump:>5}"
        )
    total = sum(p.numel() for p in model.net.parameters())  # also those of no listed layer (a ViT's attention)
    print(f"total parameters: {total:,}")
    if not exact:
        print("receptive fields: approximate (torch.fx could not trace this network; the chain rule adds up every "
              "window in forward order, which overstates them on branching networks)")  # fmt: skip
    return 0


def _rf(row) -> str:
    """``435``, or ``23x11`` for a field that is not square (Inception's 1x7 convs)."""
    h, w = row.receptive_field_hw
    return str(h) if h == w else f"{h}x{w}"
