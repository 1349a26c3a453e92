"""Zeiler & Fergus projections beside dataset examples: CLI, library and a gallery channel page in Chromium."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import NeuronDeconvolution

from vizcnn.examples import top_examples

from .conftest import run_cli
from .test_browser import _chromium, browser  # noqa: F401  (fixture)


def test_projection_is_the_peak_unit_projected_and_cropped(mnist_cnn):
    from vizcnn.data import load_image

    result = top_examples(mnist_cnn, "relu3", 5, k=4, progress=False, projection="deconvnet")
    assert result.projection == "deconvnet" and len(result.projections) == 4
    for name, box, picture in zip(result.names, result.boxes, result.projections):
        x = mnist_cnn.preprocess(load_image(name))
        seen: dict[str, torch.Tensor] = {}
        handle = mnist_cnn.net.relu3.register_forward_hook(lambda _m, _i, out, seen=seen: seen.setdefault("a", out.detach()))
        try:
            with torch.no_grad():
                mnist_cnn.net(x)
        finally:
            handle.remove()
        a = seen["a"][0, 5]
        y, xx = divmod(int(a.argmax()), a.shape[1])
        # the unit at the peak, projected by captum's deconvnet: nothing outside its receptive field
        full = NeuronDeconvolution(mnist_cnn.net, mnist_cnn.net.relu3).attribute(x.requires_grad_(True), (5, y, xx))[0, 0]
        rows, cols = (full.abs() > 0).nonzero(as_tuple=True)
        left, top, right, bottom = box
        assert left <= int(cols.min()) and int(cols.max()) < right and top <= int(rows.min()) and int(rows.max()) < bottom
        assert picture.size == (right - left, bottom - top)
        # grey is zero, brighter is positive: the sign of each pixel survives the drawing
        crop = full[top:bottom, left:right]
        drawn = torch.from_numpy(np.asarray(picture, dtype=np.float32)) - 127.5
        strong = crop.abs() > 0.2 * crop.abs().max()
        assert (torch.sign(drawn[strong]) == torch.sign(crop[strong])).all()


def test_deconvnet_below_the_first_pooling_ignores_the_image(mnist_cnn):
    """Without max-pooling switches a deconvnet's path is the same for every image (Zeiler & Fergus)."""
    result = top_examples(mnist_cnn, "conv2", 3, k=3, progress=False, projection="deconvnet")
    interior = [p for p, b in zip(result.projections, result.boxes) if b[2] - b[0] == 7 and b[3] - b[1] == 7]
    assert len(interior) >= 2
    assert all((np.asarray(p) == np.asarray(interior[0])).all() for p in interior)
    guided = top_examples(mnist_cnn, "conv2", 3, k=3, progress=False, projection="guided-backprop")
    assert guided.as_dict()["projection"] == "guided-backprop"


def test_cli_projection(tmp_path):
    out = tmp_path / "ex.png"
    code, _, stderr = run_cli("examples", "mnist-cnn", "relu3:5", "--top", "3", "--projection", "guided-backprop",
                                   "-o", str(out))  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = run_cli("examples", "mnist-cnn", "relu3:5", "--top", "3", "-o", str(tmp_path / "plain.png"))
    from PIL import Image

    with Image.open(out) as with_rows, Image.open(tmp_path / "plain.png") as plain:
        assert with_rows.width == plain.width and with_rows.height > plain.height * 1.3  # the projection row
    code, _, stderr = run_cli("examples", "mnist-cnn", "relu3:5", "--projection", "deconv", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "deconvnet, guided-backprop" in " ".join(stderr.split()) and "Traceback" not in stderr
    assert not (tmp_path / "x.png").exists()


def test_gallery_channel_page_shows_projections(tmp_path, browser):
    from vizcnn.errors import VizcnnError
    from vizcnn.gallery import build_gallery
    from vizcnn.gallery.spec import parse_spec

    spec = tmp_path / "g.toml"
    spec.write_text('[render]\nsteps = 2\nexamples = 3\n[[models]]\nname = "mnist-cnn"\n'
                    'views = ["examples", "projections"]\nlayers = [{ name = "conv3", channels = "0" }]\n')  # fmt: skip
    build_gallery(spec, tmp_path / "site", progress=False)
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((tmp_path / "site" / "models" / "mnist-cnn" / "conv3" / "0.html").as_uri())
    assert "projected back to pixels (deconvnet" in page.inner_text("body")
    assert page.eval_on_selector("img[alt^='dataset examples']", "e => e.naturalHeight") > 0 and errors == []
    page.close()
    with pytest.raises(VizcnnError, match='add "examples" to views'):
        parse_spec('[[models]]\nname = "mnist-cnn"\nviews = ["projections"]\nlayers = ["conv1"]\n')
