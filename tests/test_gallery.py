"""Gallery specs and builds: validation before rendering, escaping, cache reuse, atomic pages."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

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
    entries = [json.loads(p.read_text()) for p in (report.out / ".cache" / "gallery-features").glob("*.json")]
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
    assert all((tmp_path / "site/models/mnist-cnn/conv2/img" / f"{c}.png").is_file() for c in (4, 7))
    with pytest.raises(VizcnnError, match="at least 1"):
        LocalExecutor(0)


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
    assert spec.reports[2].images == ("mnist:7", "mnist:42", "mnist:76", "mnist:3") and "projections" in spec.models[0].views
    # AlexNet's layers and classes check out (random weights from the test cache); only the photo is missing here
    msg = _error(root / "alexnet.toml")
    assert "alexnet.toml, line 36: reports[0].image: image" in msg and "dog_cat.jpg' does not exist" in msg


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
