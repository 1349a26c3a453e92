"""Every torchvision classification model (and a few timm CNNs) through vizcnn's commands, end to end.

    PYTHONPATH=. python benchmarks/zoo_sweep.py                       # all of them (long)
    PYTHONPATH=. python benchmarks/zoo_sweep.py --models 'resnet*' --timeout 300
    PYTHONPATH=. python benchmarks/zoo_sweep.py --markdown sweep.md  # the README's table

Each model runs in its own forked process (torch imported once, before the
fork) with a time limit, so one slow or crashing model cannot stall the sweep. With random weights (``--weights
random``, ``VIZCNN_OFFLINE=1``: nothing is downloaded) it runs ``layers``,
``filters`` on the first conv, ``activations`` and ``examples`` (on the
bundled photos) on the middle conv, ``render`` (2 steps at the model's own
input size) and ``attribute`` on the last conv. A command works (exit 0), is
refused (exit 2 with one paragraph, no traceback) or fails (anything else).

Each process builds the model once (the first command, ``layers``, goes
through the whole loading path; the others reuse the network). Baseline:
``vizcnn layers`` on the same model (build + forward passes); the table gives
each model's total time as a ratio to it.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

TIMM = ["timm:resnet18", "timm:efficientnet_b0", "timm:convnext_tiny", "timm:regnety_002"]


def _cli(*argv: str) -> tuple[int, str, str, float]:
    from vizcnn.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # noqa: BLE001 - a traceback is exactly what the sweep looks for
            import traceback

            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - start


def _load_once() -> None:
    """Build each model once per process: random initialisation of a large model is slow on a CPU.

    The first command (``layers``) goes through the whole loading path; the
    others get the same network back.
    """
    import vizcnn.models

    load, built = vizcnn.models.load_model, {}

    def cached(name, weights=None, **kwargs):
        key = (name, str(weights), repr(sorted(kwargs.items())))
        if key not in built:
            built[key] = load(name, weights, **kwargs)
        return built[key]

    vizcnn.models.load_model = cached


def _one(name: str, folder: Path) -> None:
    """Run every command on ``name``; print one JSON line per command."""
    from vizcnn.data.images import PHOTOS, photo_path

    _load_once()

    images = folder / "images"
    images.mkdir()
    for photo in PHOTOS:
        shutil.copy(photo_path(photo), images / f"{photo}.jpg")

    def report(command: str, result) -> bool:
        code, _out, err, seconds = result
        lines = [line for line in err.strip().splitlines() if line.strip() and "\r" not in line]
        message = " ".join(err.split()) if code == 2 else (lines[-1] if lines else "")
        print(json.dumps({"command": command, "code": code, "seconds": round(seconds, 2), "message": message[:400]}), flush=True)
        return code == 0

    w = ("--weights", "random")
    result = _cli("layers", name, *w, "--json")
    if not report("layers", result):
        return
    table = json.loads(result[1])
    size = table["input"][-1]
    convs = [r["name"] for r in table["layers"] if r["type"] == "Conv2d"]
    if not convs:
        print(json.dumps({"command": "(all)", "code": 2, "seconds": 0, "message": "no Conv2d layer"}), flush=True)
        return
    first, middle, last = convs[0], convs[len(convs) // 2], convs[-1]
    o = lambda f: ("-o", str(folder / f))
    report(f"filters {first}", _cli("filters", name, first, *w, *o("filters.png")))
    report(f"activations {middle}", _cli("activations", name, middle, *w, "--image", "photo:cat", *o("act.png")))
    report(f"examples {middle}", _cli("examples", name, f"{middle}:0", *w, "--data", str(images), "--top", "2", *o("ex.png")))
    report(f"render {last}", _cli("render", name, f"{last}:0", *w, "--steps", "2", "--size", str(size), "--quiet", *o("r.png")))
    report(f"attribute {last}", _cli("attribute", name, *w, "--image", "photo:cat", "--layer", last, "--target", "0", *o("a.html")))


def _child(name: str, tmp: str, results: str) -> None:
    """In the forked process: run the commands, their JSON lines into ``results``."""
    with open(results, "w") as f, contextlib.redirect_stdout(f):
        _one(name, Path(tmp))


def _sweep(names: list[str], timeout: float, log: Path | None) -> list[dict]:
    import multiprocessing

    # imported once here: each forked child starts with torch and vizcnn loaded
    import vizcnn.cli
    import vizcnn.models  # noqa: F401

    os.environ["VIZCNN_OFFLINE"] = "1"
    fork = multiprocessing.get_context("fork")
    rows = []
    for name in names:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="zoo_sweep_") as tmp:
            results = os.path.join(tmp, "results.jsonl")
            proc = fork.Process(target=_child, args=(name, tmp, results))
            proc.start()
            proc.join(timeout)
            crashed: str | bool = False
            if proc.is_alive():
                proc.kill()
                proc.join()
                crashed = f"timed out after {timeout:.0f} s"
            elif proc.exitcode != 0:
                crashed = f"the process died (exit {proc.exitcode})"
            lines = Path(results).read_text() if os.path.exists(results) else ""
        results_ = [json.loads(line) for line in lines.splitlines() if line.startswith("{")]
        seconds = time.perf_counter() - start
        layers = next((r["seconds"] for r in results_ if r["command"] == "layers"), None)
        failed = [r for r in results_ if r["code"] not in (0, 2)]
        refused = [r for r in results_ if r["code"] == 2]
        if crashed or failed or len(results_) < 6:
            why = failed[0] if failed else None
            status = "FAILS: " + (f"{why['command']}: {why['message']}" if why else (crashed or "stopped early"))
        elif refused:
            status = "refused: " + "; ".join(f"{r['command'].split()[0]}: {r['message']}" for r in refused)
        else:
            status = "works"
        row = {"model": name, "status": status, "seconds": round(seconds, 1),
               "ratio": round(seconds / layers, 1) if layers else None, "commands": results_}  # fmt: skip
        rows.append(row)
        if log:
            with open(log, "a") as f:
                f.write(json.dumps(row) + "\n")
        print(f"{name:<28} {seconds:7.1f} s  {status[:160]}", flush=True)
    return rows


def _markdown(rows: list[dict]) -> str:
    out = ["| model | result | seconds | x `layers` |", "|---|---|---:|---:|"]
    for r in rows:
        status = r["status"].replace("|", "\\|")
        out.append(f"| {r['model']} | {status} | {r['seconds']:.0f} | {r['ratio'] if r['ratio'] is not None else '-'} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="*", help="globs over the model names, comma-separated (default: all)")
    parser.add_argument("--source", choices=["all", "torchvision", "timm"], default="all", help="which models (default all)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per model (default 600)")
    parser.add_argument("--json", metavar="FILE", help="append every model's results to FILE as JSON lines, as they come")
    parser.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    args = parser.parse_args()
    import torchvision.models as tvm

    # smallest first (torchvision's weights metadata counts the parameters), so a short run covers the most families
    arches = sorted(tvm.list_models(module=tvm), key=lambda a: tvm.get_model_weights(a).DEFAULT.meta["num_params"])
    names = ([f"torchvision:{n}" for n in arches] if args.source != "timm" else []) + (TIMM if args.source != "torchvision" else [])
    names = [n for n in names if any(fnmatch.fnmatch(n.split(":", 1)[1], g) for g in args.models.split(","))]
    rows = _sweep(names, args.timeout, Path(args.json) if args.json else None)
    works = sum(r["status"] == "works" for r in rows)
    refused = sum(r["status"].startswith("refused") for r in rows)
    print(f"\n{works} work, {refused} refused cleanly, {len(rows) - works - refused} fail, of {len(rows)} models")
    ratios = [r["ratio"] for r in rows if r["ratio"]]
    if ratios:
        ratios.sort()
        print(f"median total time: {ratios[len(ratios) // 2]}x the baseline (`vizcnn layers` on the same model)")
    if args.markdown:
        Path(args.markdown).write_text(_markdown(rows))


if __name__ == "__main__":
    main()
