"""Property-based fuzzing of the command line and of gallery specs (hypothesis).

Every command is run in-process on arguments drawn from wrong and right values
(huge, negative and non-finite numbers, malformed channel lists, output paths
that cannot be written, the malformed files of ``tests/malformed.py``), and
every gallery spec field on values of the wrong type. The invariant, for every
example:

- the exit status is 0 or 2, and no exception escapes (no traceback);
- with ``--json`` and status 0, stdout is strict JSON (no NaN or Infinity);
- with status 2 nothing was written; with status 0 no partial (``.part``)
  file is left; the input files are never changed.

The default run is small (25 examples per test, derandomized, well under a
minute). The long run is marked ``slow`` and left out by default:
``pytest -m slow tests/test_fuzz.py`` (500 examples per test, random), or
``VIZCNN_FUZZ_EXAMPLES=N`` for N examples in either run.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import run_cli
from .malformed import BAD_MNIST, build

EXAMPLES = int(os.environ.get("VIZCNN_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 25, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("fuzz-corpus"))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def check(argv: list[str], corpus: Path) -> None:
    """Run ``argv`` in a fresh empty folder and assert the invariant."""
    before = snapshot(corpus)
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        try:
            code, out, err = run_cli(*argv)
            written = sorted(str(p.relative_to(work)) for p in Path(work).rglob("*") if p.is_file())
        finally:
            os.chdir(old)
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert written == [], (argv, written, err)
    else:
        assert not [w for w in written if ".part" in w], (argv, written)
        if "--json" in argv:
            json.loads(out, parse_constant=lambda c: pytest.fail(f"{argv}: non-standard JSON constant {c}"))
    assert snapshot(corpus) == before, argv


# -- values ----------------------------------------------------------------------

INTS = st.one_of(st.integers(-3, 12), st.sampled_from([0, -1, 2**31, 2**63, 2**64, 2**64 - 1, 10**12, 10**30]))
SMALL_INTS = st.one_of(st.integers(-2, 6), st.sampled_from([10**8, 2**64]))
FLOATS = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "0", "1e-320", "x"]),
                   st.floats(-1e7, 1e7, allow_nan=False).map(repr))  # fmt: skip
CHANNELS = st.sampled_from(["0", "0-3", "all", "-1", "3-1", "0-999999999999", "a,b", "1,,2", "5-", "99", "0,0,1", " 2 "])
LAYERS = st.sampled_from(["conv1", "conv2", "relu2", "fc1", "fc2", "nope", "", "conv1.weight", "features_0"])
MATRICES = st.one_of(
    st.sampled_from(["1,2;3,4", "nan", "1,2;3", "", ";", "1e308,1", "inf", "1," * 40 + "1"]),
    st.lists(st.lists(st.integers(-9, 9), min_size=1, max_size=6), min_size=1, max_size=6).map(
        lambda rows: ";".join(",".join(map(str, r)) for r in rows)),
)  # fmt: skip


def paths(corpus: Path, *extra: str) -> st.SearchStrategy[str]:
    """Corpus files and folders, plus ``extra`` literal values."""
    names = ["bomb.png", "empty.pth", "junk.pth", "text.pth", "latin1.txt", "a-file", "images", "truncated.pt",
             "images/ok.png", "missing.png", *BAD_MNIST]  # fmt: skip
    return st.sampled_from([str(corpus / n) for n in names] + list(extra))


def outputs(corpus: Path, *good: str) -> st.SearchStrategy[str]:
    return st.sampled_from([*good, "out.xyz", ".", str(corpus / "a-file" / "x.png"), "/proc/x.png", "d/e/f.png", "out"])


def commands(c: Path) -> st.SearchStrategy[list[str]]:
    images = paths(c, "mnist:3", "mnist:500", "mnist:-1", "mnist:x")
    data = paths(c, "sample")
    return st.one_of(
        st.tuples(st.just("arithmetic"), st.just("--size"), INTS, st.just("--kernel"), INTS, st.just("--stride"), INTS,
                  st.just("--padding"), INTS, st.just("--json")),
        st.tuples(st.just("demo"), st.just("conv"), st.just("--image"), MATRICES, st.just("--kernel"), MATRICES,
                  st.just("--padding"), SMALL_INTS, st.just("--stride"), SMALL_INTS, st.just("--bias"), FLOATS,
                  st.just("--json"), st.just("-o"), outputs(c, "conv.png")),
        st.tuples(st.just("demo"), st.just("pool"), st.just("--image"), MATRICES, st.just("--size"), SMALL_INTS,
                  st.just("--padding"), SMALL_INTS, st.just("--json"), st.just("--gif"), outputs(c, "pool.gif")),
        st.tuples(st.just("demo"), st.just("multichannel"), st.just("--size"), SMALL_INTS, st.just("--seed"), INTS,
                  st.just("--bias"), FLOATS, st.just("--json"), st.just("--frames"), outputs(c, "frames")),
        st.tuples(st.just("demo"), st.just("padding"), st.just("--size"), SMALL_INTS, st.just("--kernel-size"), SMALL_INTS,
                  st.just("--paddings"), st.sampled_from(["0,1,2", "", "x", "100000", "0,1,2,3,4,5,6,7"]), st.just("--json")),
        st.tuples(st.just("filters"), st.just("mnist-cnn"), LAYERS, st.just("--ncols"), INTS, st.just("-o"), outputs(c, "f.png")),
        st.tuples(st.just("activations"), st.just("lenet"), LAYERS, st.just("--image"), images, st.just("--channels"),
                  CHANNELS, st.just("--top-classes"), SMALL_INTS, st.just("--json"), st.just("-o"), outputs(c, "a.png")),
        st.tuples(st.just("layers"), st.just("lenet"), st.just("--weights"), paths(c, "random"), st.just("--json")),
        st.tuples(st.just("layers"), st.just("mnist-cnn"), st.just("--classes"), paths(c), st.just("--mean"), FLOATS,
                  st.just("--std"), FLOATS, st.just("--input-size"),
                  st.sampled_from(["1x28x28", "0x0x0", "1x100000x100000", "3x32", "x", "1x28x29"]), st.just("--json")),
        st.tuples(st.just("evaluate"), st.just("lenet"), st.just("--data"), data, st.just("--batch-size"), SMALL_INTS,
                  st.just("--json"), st.just("-o"), outputs(c, "e.png")),
        st.tuples(st.just("templates"), st.just("--data"), data, st.just("--image"), images, st.just("--json"),
                  st.just("-o"), outputs(c, "t.png")),
        st.tuples(st.just("examples"), st.just("lenet"), st.tuples(LAYERS, CHANNELS).map(":".join), st.just("--data"),
                  data, st.just("--top"), SMALL_INTS, st.just("--json"), st.just("-o"), outputs(c, "x.png")),
        st.tuples(st.just("render"), st.just("lenet"), st.tuples(LAYERS, CHANNELS).map(":".join), st.just("--steps"),
                  st.sampled_from(["1", "0", "-1"]), st.just("--size"), st.sampled_from(["-1", "0", "7", "8", "100000"]),
                  st.just("--seed"), INTS, st.just("--diversity"), st.sampled_from(["0", "1", "-1", "100000000"]),
                  st.just("--json"), st.just("-o"), outputs(c, "r.png")),
        st.tuples(st.just("attribute"), st.just("lenet"), st.just("--image"), images, st.just("--layer"), LAYERS,
                  st.just("--target"), st.sampled_from(["3", "-1", "10", "cat", ""]), st.just("--method"),
                  st.sampled_from(["ig", "deeplift", "grad-cam", "x"]), st.just("--steps"),
                  st.sampled_from(["0", "5", "100000000"]), st.just("--json"), st.just("-o"),
                  outputs(c, "a.html")),
    ).map(lambda t: [str(v) for v in t])


@given(data=st.data())
@FUZZ
def test_cli_arguments(corpus, data):
    check(data.draw(commands(corpus)), corpus)


# -- gallery specs ---------------------------------------------------------------

def toml(value) -> str:
    """A TOML literal for ``value`` (nan and infinities included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"


WRONG = st.sampled_from([5, -1, 2**64, 1.5, float("nan"), float("inf"), True, "", "x", [], ["x"], [1, 2], {"a": 1}, [["features"]]])


def spec_texts(c: Path) -> st.SearchStrategy[str]:
    """A small valid spec (one layer, one channel, filters only: it builds in a second) with fields replaced."""
    fields = {
        ("render", "steps"): st.one_of(WRONG, st.just(1)),
        ("render", "size"): st.one_of(WRONG, st.sampled_from([0, 7, 100000])),
        ("render", "seed"): st.one_of(WRONG, st.sampled_from([0, 2**64 - 1])),
        ("render", "data"): st.one_of(WRONG, st.sampled_from(["sample", "missing", str(c / "images"), str(c / "a-file")])),
        ("models", "name"): st.one_of(WRONG, st.sampled_from(["mnist-cnn", "lenet", str(c / "truncated.pt"), str(c / "junk.pth")])),
        ("models", "views"): st.one_of(WRONG, st.sampled_from([["filters"], ["nope"], ["filters", "connections"]])),
        ("models", "weights"): st.one_of(WRONG, st.sampled_from(["random", str(c / "empty.pth"), str(c / "junk.pth")])),
        ("models", "classes"): st.one_of(WRONG, st.sampled_from([str(c / "latin1.txt"), [str(i) for i in range(10)]])),
        ("models", "mean"): st.one_of(WRONG, st.sampled_from([[0.5], "nan", [float("nan")]])),
        ("models", "layers"): st.one_of(WRONG, st.sampled_from([["conv1"], [{"name": "conv1", "channels": "0-999999999999"}],
                                                                [{"name": "conv1", "channels": [0, "x"]}], [{"name": 5}]])),
        ("models", "images"): st.one_of(WRONG, st.sampled_from([[str(c / "bomb.png")], [str(c / "images")], ["mnist:1"]])),
        ("reports", "kind"): st.one_of(WRONG, st.just("attribution-dictionary")),
        ("reports", "target"): st.one_of(WRONG, st.sampled_from(["7", 7, 11, "cat"])),
        ("reports", "vs"): st.one_of(WRONG, st.sampled_from(["7", 1, None])),
        ("reports", "top"): st.one_of(WRONG, st.just(2)),
        ("reports", "image"): st.one_of(WRONG, st.sampled_from([str(c / "bomb.png"), "mnist:9999"])),
    }

    def text(changes: dict) -> str:
        render = {"steps": 1, "diversity": 0, "examples": 1}
        model = {"name": "mnist-cnn", "views": ["filters"], "layers": [{"name": "conv1", "channels": "0"}]}
        report = {"kind": "attribution-dictionary", "model": "mnist-cnn", "layer": "conv2", "image": "mnist:1", "target": "7", "top": 2}
        tables = {"render": render, "models": model, "reports": report}
        for (table, key), value in changes.items():
            if value is None:
                tables[table].pop(key, None)
            else:
                tables[table][key] = value
        lines = ["[render]", *(f"{k} = {toml(v)}" for k, v in render.items()), "[[models]]",
                 *(f"{k} = {toml(v)}" for k, v in model.items())]  # fmt: skip
        if any(t == "reports" for t, _ in changes):
            lines += ["[[reports]]", *(f"{k} = {toml(v)}" for k, v in report.items())]
        return "\n".join(lines) + "\n"

    return st.dictionaries(st.sampled_from(list(fields)), st.none(), min_size=1, max_size=2).flatmap(
        lambda keys: st.fixed_dictionaries({k: fields[k] for k in keys})).map(text)  # fmt: skip


@given(data=st.data())
@FUZZ
def test_gallery_spec_fields(corpus, data, tmp_path_factory):
    spec = tmp_path_factory.mktemp("spec") / "fuzz.toml"
    spec.write_text(data.draw(spec_texts(corpus)))
    check(["gallery", str(spec), "-o", "site", "--jobs", "1", "-q"], corpus)


# -- the long run (left out by default: pytest -m slow) -----------------------------

LONG = settings(FUZZ, max_examples=int(os.environ.get("VIZCNN_FUZZ_EXAMPLES", "500")), derandomize=False)


@pytest.mark.slow
@given(data=st.data())
@LONG
def test_cli_arguments_long(corpus, data):
    check(data.draw(commands(corpus)), corpus)


@pytest.mark.slow
@given(data=st.data())
@LONG
def test_gallery_spec_fields_long(corpus, data, tmp_path_factory):
    spec = tmp_path_factory.mktemp("spec") / "fuzz.toml"
    spec.write_text(data.draw(spec_texts(corpus)))
    check(["gallery", str(spec), "-o", "site", "--jobs", "1", "-q"], corpus)
