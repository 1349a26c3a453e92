"""List the models in the zoo.

  vizcnn models
  vizcnn models --json
"""

from __future__ import annotations

from ._common import add_output_flags, add_parser, print_json


def register(sub) -> None:
    p = add_parser(sub, "models", __doc__)
    add_output_flags(p, "write the list (or the JSON) to FILE instead of printing it", json="print JSON", stdout=True)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..models import get_spec, list_models

    rows = []
    for name in list_models():
        spec = get_spec(name)
        path = spec.default_weights_path()
        rows.append(
            {
                "name": name,
                "input": list(spec.input.shape),
                "classes": len(spec.categories),
                "weights": str(path) if path else None,
                "weights_present": bool(path and path.is_file()),
                "description": spec.description,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        status = "ready" if r["weights_present"] else "downloads on use"
        print(f"{r['name']:<12} {'x'.join(map(str, r['input'])):<10} {status:<16} {r['description']}")
    print("\nAny torchvision classification model works as torchvision:NAME (e.g. torchvision:resnet18).")
    print("Your own model works as module.path:callable, a TorchScript .pt or exported .pt2 file, or timm:NAME.")
    return 0
