"""Gallery specs and builds: validation before rendering, escaping, cache reuse, atomic pages."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from vizcnn.cache import ResultCache
from vizcnn.errors import VizcnnError
from vizcnn.circuits import connections
from vizcnn.gallery import LocalExecutor, build_gallery, get_executor
from vizcnn.gallery.executors import UNITS_PER_WORKER
from vizcnn.gallery.spec import load_spec

from .conftest import run_cli

XSS = "<script>alert(1)</script>"

TINY = f"""
title = "{XSS}"

[render]
steps = 4
diversity = 0
batch = 2

[[models]]
name = "mnist-cnn"
views = ["features", "connections"]
layers = [
  {{ name = "conv1", channels = "0-2" }},
  {{ name = "conv2", channels = [4, 7] }},
]
"""


def _spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(VizcnnError) as info:
        load_spec(path)
    return str(info.value)


# -- validation ----------------------------------------------------------------------------


def test_unknown_layer_names_file_key_line_and_close_matches(tmp_path):
    path = _spec(tmp_path, '[[models]]\nname = "mnist-cnn"\nlayers = [\n  "conv1",\n  "conv9",\n]\n')
    msg = _error(path)
    assert msg.startswith(f"{path}, line 5: models[0].layers[1]: unknown layer 'conv9'")
    assert "'conv4'" in msg and "Valid layers:" in msg


def test_unknown_key_and_unknown_view_list_what_is_allowed(tmp_path):
    msg = _error(_spec(tmp_path, '[[models]]\nname = "mnist-cnn"\nlayers = ["conv1"]\n\n[models.render]\nstepz = 3\n'))
    assert "line 6: models[0].render.stepz: unknown key 'stepz'. Did you mean: 'steps'?" in msg
    assert "Valid keys: batch, data, diversity, examples, seed, size, steps." in msg
    msg = _error(_spec(tmp_path, 'titel = "x"\n[[models]]\nname = "mnist-cnn"\nlayers = ["conv1"]\n', "b.toml"))
    assert "b.toml, line 1: titel: unknown key 'titel'. Did you mean: 'title'?" in msg
    msg = _error(
        _spec(
            tmp_path, '[[models]]\nname = "mnist-cnn"\nlayers = ["conv1"]\nviews = ["features", "dreams"]\n', "c.toml"
        )
    )
    assert "c.toml, line 4: models[0].views[1]: unknown view 'dreams'." in msg
    assert "Valid views: connections, examples, features, filters, projections." in msg


def test_channel_out_of_range_says_how_many_there_are(tmp_path):
    text = '[[models]]\nname = "mnist-cnn"\nlayers = ["conv1", { name = "conv2", channels = "30-40" }]\n'
    msg = _error(_spec(tmp_path, text))
    assert "line 3: models[0].layers[1].channels: channel 32 is out of range: this layer has 32 channels (0-31)." in msg
    second_model = '[[models]]\nname = "mnist-cnn"\nlayers = ["conv1"]\n\n[[models]]\nname = "mnist-cnn"\nchannels = "16"\nlayers = ["conv1"]\n'
    msg = _error(_spec(tmp_path, second_model, "two.toml"))
    assert "two.toml, line 7: models[1].channels: channel 16 is out of range" in msg


def test_unknown_model_report_kind_and_bad_toml(tmp_path):
    msg = _error(_spec(tmp_path, '[[models]]\nname = "mnist-cnm"\nlayers = ["conv1"]\n'))
    assert "line 2: models[0].name: unknown model 'mnist-cnm'. Did you mean: 'mnist-cnn'" in msg
    bad = '[[models]]\nname = "mnist-cnn"\nlayers = ["conv1"]\n[[reports]]\nkind = "poster"\nmodel = "mnist-cnn"\n'
    msg = _error(_spec(tmp_path, bad, "r.toml"))
    assert (
        "r.toml, line 5: reports[0].kind: unknown report kind 'poster'. Valid report kinds: atlas, attribution-dictionary, dictionary, flow, lesson."
        in msg
    )
    msg = _error(_spec(tmp_path, "title = \n", "broken.toml"))
    assert "broken.toml: not valid TOML" in msg and "line 1" in msg


def test_missing_weights_error_comes_from_the_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    msg = _error(_spec(tmp_path, '[[models]]\nname = "alexnet"\nlayers = ["conv1"]\n'))
    assert "line 2: models[0].name: no weights for alexnet" in msg and "--weights random" in msg


def test_cli_reports_spec_errors_before_rendering(tmp_path):
    out = tmp_path / "site"
    code, _, err = run_cli(
        "gallery", str(_spec(tmp_path, '[[models]]\nname = "mnist-cnn"\nlayers = ["conv7"]\n')), "-o", str(out)
    )
    assert code == 2 and "models[0].layers[0]" in err and "Traceback" not in err
    assert not out.exists()
    code, _, err = run_cli("gallery", str(tmp_path / "spec.toml"), "-o", str(out), "--executor", "slurm")
    assert code == 2 and "unknown executor 'slurm'. Valid executors: local" in err


# -- building ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    spec = _spec(folder, TINY)
    return spec, build_gallery(spec, folder / "site", progress=False)


def test_page_count_is_index_model_layers_and_channels(tiny):
    _spec_path, report = tiny
    site = report.out
    assert report.pages == 1 + 1 + 2 + (3 + 2)
    assert report.rendered == 5 and report.reused == 0 and report.units == 2 + 1  # batches of 2
    assert sorted(p.name for p in (site / "models/mnist-cnn/conv1").glob("*.html")) == [
        "0.html",
        "1.html",
        "2.html",
        "index.html",
    ]
    assert sorted(p.name for p in (site / "models/mnist-cnn/conv2").glob("*.html")) == [
        "4.html",
        "7.html",
        "index.html",
    ]
    assert (site / "style.css").is_file()
    assert not list(site.rglob("*.part*"))


def test_input_is_escaped_everywhere(tiny):
    _spec_path, report = tiny
    for page in report.page_paths:
        html = page.read_text(encoding="utf-8")
        assert XSS not in html, page
    index = (report.out / "index.html").read_text(encoding="utf-8")
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in index


def test_links_are_relative_and_pages_link_the_rendered_thumbnails(tiny):
    _spec_path, report = tiny
    layer = (report.out / "models/mnist-cnn/conv2/index.html").read_text(encoding="utf-8")
    assert 'href="4.html"' in layer and 'src="img/4.png"' in layer
    for page in report.page_paths:
        html = page.read_text(encoding="utf-8")
        assert "http://" not in html and "https://" not in html and 'href="/' not in html and 'src="/' not in html


def test_connections_are_the_strongest_kernel_slices(mnist_cnn):
    w2 = mnist_cnn.layer("conv2").module.weight.detach()
    w3 = mnist_cnn.layer("conv3").module.weight.detach()
    incoming, outgoing = connections(mnist_cnn, "conv2", 7, top=3)
    norms_in = w2[7].flatten(1).norm(dim=1)
    assert [lk.channel for lk in incoming] == norms_in.argsort(descending=True)[:3].tolist()
    assert incoming[0].layer == "conv1" and incoming[0].strength == pytest.approx(float(norms_in.max()))
    norms_out = w3[:, 7].flatten(1).norm(dim=1)
    assert [lk.channel for lk in outgoing] == norms_out.argsort(descending=True)[:3].tolist()
    assert outgoing[0].layer == "conv3"
    assert outgoing[0].sign == (1 if float(w3[outgoing[0].channel, 7].sum()) >= 0 else -1)
    first_in, _ = connections(mnist_cnn, "conv1", 0)
    assert first_in == []  # nothing before the first conv layer


def test_interrupted_build_resumes_from_the_cache(tmp_path):
    spec = _spec(tmp_path, TINY)
    out = tmp_path / "site"
    done = []

    def interrupt(unit):
        done.append(unit)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_gallery(spec, out, progress=False, on_unit=interrupt)
    assert not (out / "index.html").exists()
    assert not list(out.rglob("*.part*"))
    cached = list((out / ".cache" / "gallery-features").glob("*.json"))
    first_two = sum(len(u.channels) for u in done)
    assert len(cached) == first_two == 3  # conv1's two units: channels 0-1, then 2

    resumed = build_gallery(spec, out, progress=False)
    assert (resumed.rendered, resumed.reused) == (5 - first_two, first_two)
    assert (out / "index.html").is_file()

    # a deleted page comes back with nothing rendered; a deleted cache entry is rendered again, alone
    (out / "models/mnist-cnn/conv1/1.html").unlink()
    entry = min((out / ".cache" / "gallery-features").glob("*.json"))
    entry.unlink()
    again = build_gallery(spec, out, progress=False)
    assert (again.rendered, again.reused, again.units) == (1, 4, 1)
    assert (out / "models/mnist-cnn/conv1/1.html").is_file()


def test_cached_render_matches_the_page_image(tiny):
    _spec_path, report = tiny
    cache = ResultCache(report.out / ".cache")
    entries = [json.loads(cache.load(p)) for p in (report.out / ".cache" / "gallery-features").glob("*.json")]
    images = {base64.b64decode(e["main"]) for e in entries}
    assert (report.out / "models/mnist-cnn/conv2/img/7.png").read_bytes() in images


def test_changed_settings_render_again(tmp_path, tiny):
    spec_path, report = tiny
    changed = _spec(tmp_path, TINY.replace("steps = 4", "steps = 5"))
    again = build_gallery(changed, tmp_path / "site", cache=report.out / ".cache", progress=False)
    assert (again.rendered, again.reused) == (5, 0)
    same = build_gallery(spec_path, tmp_path / "site2", cache=report.out / ".cache", progress=False)
    assert (same.rendered, same.reused) == (0, 5)


def test_a_failed_page_leaves_the_old_one(tiny):
    from vizcnn.gallery.site import BuildReport, _Site

    _spec_path, report = tiny
    page = report.out / "index.html"
    before = page.read_bytes()
    site = _Site(report.out, BuildReport(report.out), lambda: None)
    with pytest.raises(Exception, match="undefined"):
        site.page("index.html", "gallery_index.html", title="half")  # the template needs more than a title
    assert page.read_bytes() == before
    assert not list(report.out.glob(".index.html.*"))


def test_process_pool_builds_the_same_pages(tmp_path):
    spec = _spec(tmp_path, TINY.replace('channels = "0-2"', 'channels = "0-1"'))
    executor = get_executor("local", 2)
    assert isinstance(executor, LocalExecutor) and executor.jobs == 2
    try:
        report = build_gallery(spec, tmp_path / "site", executor=executor, progress=False)
    finally:
        executor.close()
    assert report.rendered == 4 and report.pages == 1 + 1 + 2 + 4
    reference = build_gallery(spec, tmp_path / "in-process", executor=LocalExecutor(1), progress=False)
    pool, local = _site_files(report.out), _site_files(reference.out)
    assert sorted(pool) == sorted(local) and "models/mnist-cnn/conv2/img/7.png" in pool
    assert [name for name in pool if pool[name] != local[name]] == []  # byte for byte, pages and images
    with pytest.raises(VizcnnError, match="at least 1"):
        LocalExecutor(0)


def _site_files(out: Path) -> dict[str, bytes]:
    """Every page and image of a site (the cache aside), by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".cache" not in p.relative_to(out).parts}  # fmt: skip


def test_changed_weights_invalidate_the_cache(tmp_path, mnist_cnn):
    """Weights are part of every cache key: other weights in the same file name render everything again."""
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "w.safetensors"
    state = {k: v.detach().clone().contiguous() for k, v in mnist_cnn.net.state_dict().items()}
    save_file(state, str(weights))
    text = TINY.replace('name = "mnist-cnn"', f'name = "mnist-cnn"\nweights = "{weights}"')
    spec = _spec(tmp_path, text)
    first = build_gallery(spec, tmp_path / "site", progress=False)
    assert (first.rendered, first.reused) == (5, 0)
    image = (tmp_path / "site/models/mnist-cnn/conv1/img/0.png").read_bytes()
    same = build_gallery(spec, tmp_path / "site", progress=False)
    assert (same.rendered, same.reused) == (0, 5)
    state["conv1.weight"] = state["conv1.weight"] * -1.0  # one layer changed, in place, same file name
    save_file(state, str(weights))
    again = build_gallery(spec, tmp_path / "site", progress=False)
    assert (again.rendered, again.reused) == (5, 0)
    assert (tmp_path / "site/models/mnist-cnn/conv1/img/0.png").read_bytes() != image


def test_process_pool_uses_the_drivers_random_weights(tmp_path):
    """Worker processes cannot redraw random weights: they get the driver's, so the build succeeds."""
    text = TINY.replace('name = "mnist-cnn"', 'name = "mnist-cnn"\nweights = "random"').replace('channels = "0-2"', 'channels = "0-1"')
    spec = _spec(tmp_path, text)
    executor = LocalExecutor(2)
    try:
        report = build_gallery(spec, tmp_path / "site", executor=executor, progress=False)
    finally:
        executor.close()
    assert report.rendered == 4 and report.pages == 1 + 1 + 2 + 4


def test_auto_jobs_keeps_small_builds_in_process():
    executor = LocalExecutor(None)
    assert executor.auto and executor.jobs == (os.cpu_count() or 1)
    ran = list(executor.map(lambda unit: os.getpid(), ["unit"] * (UNITS_PER_WORKER * executor.jobs - 1)))
    assert executor._pool is None and {pid for _, pid in ran} == {os.getpid()}


def test_cli_builds_and_prints_the_page_count(tmp_path, tiny):
    spec_path, report = tiny
    code, out, err = run_cli(
        "gallery", str(spec_path), "-o", str(tmp_path / "cli-site"), "--cache", str(report.out / ".cache"), "-q"
    )
    assert code == 0, err
    assert out.startswith("9 pages, ") and "0 channels rendered, 5 from the cache" in out
    assert f"open {tmp_path / 'cli-site' / 'index.html'}" in out


def test_shipped_specs_validate(torch_home):
    root = Path(__file__).resolve().parents[1] / "galleries"
    spec, _models = load_spec(root / "mnist.toml")
    assert [sum(len(l.channels) for l in m.layers) for m in spec.models] == [16 + 32 + 64 + 64, 6 + 16]
    assert [r.kind for r in spec.reports] == ["lesson", "attribution-dictionary", "dictionary", "flow", "atlas"]
    assert spec.reports[2].images == ("mnist:label=7", "mnist:label=1", "mnist:label=7#1", "mnist:label=1#1")
    assert "projections" in spec.models[0].views
    # AlexNet's layers, classes and bundled photo check out (random weights from the test cache)
    spec, _models = load_spec(root / "alexnet.toml")
    assert [(r.image, r.target, r.vs) for r in spec.reports] == [("photo:cat", 282, 208)]  # tiger cat vs Labrador retriever


def test_the_same_model_twice_gets_two_folders(tmp_path):
    text = TINY.replace('views = ["features", "connections"]', 'views = ["connections"]')
    text += '\n[[models]]\nname = "mnist-cnn"\nweights = "random"\nviews = ["connections"]\nlayers = ["conv1"]\n'
    report = build_gallery(_spec(tmp_path, text), tmp_path / "site", progress=False)
    assert report.pages == 1 + (1 + 2 + 5) + (1 + 1 + 16) and report.rendered == 0
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'href="models/mnist-cnn-1/index.html"' in index and 'href="models/mnist-cnn-2/index.html"' in index
    assert "weights: random" in (tmp_path / "site/models/mnist-cnn-2/index.html").read_text(encoding="utf-8")


def test_readme_spec_example_validates(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index('```toml\ntitle = "My gallery"') + len("```toml\n")
    spec, _models = load_spec(_spec(tmp_path, readme[start : readme.index("```", start)]))
    assert [len(layer.channels) for layer in spec.models[0].layers] == [16, 8]
    assert spec.models[0].render.size == 28 and [r.kind for r in spec.reports] == ["lesson", "dictionary", "flow", "atlas"]


def test_pages_of_channels_taken_out_of_the_spec_are_removed(tmp_path):
    text = TINY.replace('views = ["features", "connections"]', 'views = ["connections"]')
    spec = _spec(tmp_path, text)
    build_gallery(spec, tmp_path / "site", progress=False)
    (tmp_path / "site" / "notes.txt").write_text("mine")
    spec.write_text(text.replace('channels = "0-2"', 'channels = "0-1"').replace("[4, 7]", "[4]"))
    report = build_gallery(spec, tmp_path / "site", progress=False)
    left = sorted(str(p.relative_to(tmp_path / "site")) for p in (tmp_path / "site" / "models").rglob("*.html"))
    assert left == sorted(str(p.relative_to(tmp_path / "site")) for p in report.page_paths if "models" in p.parts)
    assert len(left) == 1 + 2 + 3 and (tmp_path / "site" / "notes.txt").read_text() == "mine"


# -- the user's files, unique names ----------------------------------------------------------


def test_user_files_in_the_site_survive_a_rebuild(tmp_path):
    """Only files vizcnn listed in its manifest are deleted: a channel taken out, never the user's own."""
    text = TINY.replace('views = ["features", "connections"]', 'views = ["connections"]')
    spec = _spec(tmp_path, text)
    site = tmp_path / "site"
    first = build_gallery(spec, site, progress=False)
    mine = {
        "models/mine.html": "<p>my notes</p>",
        "models/mnist-cnn/conv1/sketch.png": "not really a png",
        "reports/summary.html": "<p>my summary</p>",
        "reports/old/figure.png": "figure",
    }
    for rel, content in mine.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(content)
    manifest = json.loads((site / ".vizcnn-manifest.json").read_text())["files"]
    assert sorted(manifest) == sorted(
        ["index.html", "style.css"] + [str(p.relative_to(site)) for p in first.page_paths if p.name != "index.html" or "models" in p.parts]
    )
    spec.write_text(text.replace('channels = "0-2"', 'channels = "0-1"'))
    again = build_gallery(spec, site, progress=False)
    assert not (site / "models/mnist-cnn/conv1/2.html").exists() and (site / "models/mnist-cnn/conv1/1.html").is_file()
    assert {rel: (site / rel).read_text() for rel in mine} == mine
    manifest = json.loads((site / ".vizcnn-manifest.json").read_text())["files"]
    assert len(manifest) == again.pages + 1 and "models/mnist-cnn/conv1/2.html" not in manifest


def test_a_folder_that_is_not_a_site_is_refused_unless_forced(tmp_path):
    text = TINY.replace('views = ["features", "connections"]', 'views = ["connections"]')
    spec = _spec(tmp_path, text)
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "index.html").write_text("my own start page")
    code, _out, err = run_cli("gallery", str(spec), "-o", str(out), "-q")
    assert code == 2 and "is not empty and is not a vizcnn site" in " ".join(err.split()) and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["index.html"] and (out / "index.html").read_text() == "my own start page"
    (out / "chapter1.tex").write_text("text")
    code, _out, err = run_cli("gallery", str(spec), "-o", str(out), "-q", "--force")
    assert code == 0, err
    assert (out / "chapter1.tex").read_text() == "text" and (out / ".vizcnn-manifest.json").is_file()
    code, _out, err = run_cli("gallery", str(spec), "-o", str(out), "-q")  # a site now: no --force needed
    assert code == 0, err and (out / "chapter1.tex").read_text() == "text"


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    spec = _spec(tmp_path, TINY)
    (tmp_path / "site.html").write_text("mine")
    for out in (tmp_path / "site.html", tmp_path / "site.html" / "sub"):
        code, _out, err = run_cli("gallery", str(spec), "-o", str(out), "-q")
        assert code == 2 and f"{str(tmp_path / 'site.html')!r} is a file" in " ".join(err.split())
    assert (tmp_path / "site.html").read_text() == "mine"


def test_layers_whose_names_share_a_file_name_get_their_own_folders(tmp_path, monkeypatch):
    (tmp_path / "twins.py").write_text(
        "import torch\nfrom torch import nn\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    net = nn.Sequential()\n"
        "    net.add_module('x<1', nn.Conv2d(1, 2, 3, padding=1))\n"
        "    net.add_module('x>1', nn.Conv2d(2, 2, 3, padding=1))\n"
        "    return net\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = (
        '[render]\nsteps = 2\ndiversity = 0\nsize = 8\n\n[[models]]\nname = "twins:build"\ninput_size = "1x8x8"\n'
        'views = ["features"]\nlayers = ["x<1", "x>1"]\n'
    )
    report = build_gallery(_spec(tmp_path, text), tmp_path / "site", progress=False, allow_code=True)
    model = tmp_path / "site/models/twins_build"
    assert sorted(p.name for p in model.iterdir()) == ["index.html", "x_1-1", "x_1-2"]
    assert report.pages == 1 + 1 + 2 * (1 + 2) and report.images == 4
    assert "x&lt;1" in (model / "x_1-1/index.html").read_text() and "x&gt;1" in (model / "x_1-2/index.html").read_text()
    assert (model / "x_1-1/img/0.png").read_bytes() != (model / "x_1-2/img/0.png").read_bytes()
    page = (model / "index.html").read_text()
    assert 'href="x_1-1/index.html"' in page and 'href="x_1-2/index.html"' in page


def test_reports_with_the_same_title_keep_their_own_images(tmp_path):
    """Two lessons (mnist-cnn, lenet) with the default title: each page shows its own model's plots."""
    from vizcnn.data import mnist
    from vizcnn.data.idx import write_idx

    digits = mnist("sample")
    data = tmp_path / "mnist4"
    data.mkdir()
    write_idx(data / "t10k-images-idx3-ubyte.gz", digits.images[:4])
    write_idx(data / "t10k-labels-idx1-ubyte.gz", digits.labels[:4].astype("uint8"))
    text = '[[models]]\nname = "mnist-cnn"\nviews = ["connections"]\nlayers = [{ name = "conv1", channels = "0" }]\n'
    for model in ("mnist-cnn", "lenet"):
        text += f'\n[[reports]]\nkind = "lesson"\nmodel = "{model}"\ndata = "mnist4"\n'
    spec = _spec(tmp_path, text)
    build_gallery(spec, tmp_path / "site", progress=False)
    reports = tmp_path / "site/reports"
    pages = [(reports / f"{r}-the_MNIST_lesson.html").read_text() for r in (0, 1)]
    for r, page in enumerate(pages):
        assert f'src="{r}-the_MNIST_lesson-robustness.png"' in page and f'src="{1 - r}-the_MNIST_lesson' not in page
    assert "mnist-cnn" in pages[0] and "lenet" in pages[1]
    for page in pages:  # a way back to the gallery, above the page's own title
        nav = page[page.index('<nav class="crumbs"'):page.index("</nav>")]
        assert page.index("<body>") < page.index('<nav class="crumbs"') < page.index("<h1>")
        assert f'<a href="../index.html">{Path(spec).stem}</a> › the MNIST lesson' in nav
    plots = [(reports / f"{r}-the_MNIST_lesson-robustness.png").read_bytes() for r in (0, 1)]
    assert plots[0] != plots[1]


# -- no orphans ------------------------------------------------------------------------------

BUSY = """
[render]
steps = 400
diversity = 0
batch = 1

[[models]]
name = "mnist-cnn"
views = ["features"]
layers = [{ name = "conv2", channels = "0-15" }]
"""


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process from /proc; ``None`` when it is gone (or a zombie)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return None if fields[0] in ("Z", "X") else (fields[0], int(fields[1]))


def _descendants(pid: int) -> set[int]:
    found, frontier = set(), {pid}
    while frontier:
        children = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) and stat[1] in frontier:
                children.add(int(entry.name))
        frontier = children - found
        found |= children
    return found


def _start_busy_build(tmp_path: Path):
    """A real ``vizcnn gallery --jobs 2`` build in a subprocess, returned once its pool workers run."""
    import subprocess
    import sys
    import time

    spec = _spec(tmp_path, BUSY)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vizcnn", "gallery", str(spec), "-o", str(tmp_path / "site"), "--jobs", "2", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = [p for p in _descendants(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        if len(workers) >= 2:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the build started no pool workers within 120 s")
    time.sleep(2)  # the workers are importing torch or rendering: mid-build
    return proc, _descendants(proc.pid)


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_proc_stat(p) for p in pids):
        time.sleep(0.2)
    return {p for p in pids if _proc_stat(p)}


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process table from /proc (Linux)")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_killed_build_leaves_no_process_behind(tmp_path, how):
    """Pool workers and multiprocessing's resource tracker end soon after their build dies, and close its pipes."""
    import signal
    import subprocess

    proc, children = _start_busy_build(tmp_path)
    assert len(children) >= 3  # two workers and the resource tracker
    proc.send_signal(getattr(signal, how))
    try:
        _out, err = proc.communicate(timeout=15)  # returns once every holder of the pipes has closed them
    except subprocess.TimeoutExpired:
        left = _gone_within(children, 0)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        pytest.fail(f"stdout/stderr still open 15 s after {how}; processes left: {sorted(left)}")
    assert _gone_within(children, 15) == set()
    if how == "SIGTERM":  # Ctrl-C's path: the same message and status, no traceback
        assert proc.returncode == 130 and "Traceback" not in err.decode()
        assert err.decode().strip().endswith("vizcnn: interrupted; no output was left half-written.")
    else:
        assert proc.returncode == -signal.SIGKILL
