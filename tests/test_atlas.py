"""Activation atlas: cells are the means of the points binned into them, the page zooms and explains cells in Chromium."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vizcnn.atlas import activation_atlas

from .conftest import run_cli
from .test_browser import XSS, _chromium, browser  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """scikit-learn's t-SNE spins OpenMP threads; on a shared 2-core machine one thread is 7x faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _relu5(model) -> tuple[torch.Tensor, np.ndarray]:
    """relu5 of the 500 bundled digits with a plain forward hook, and their labels."""
    from vizcnn.data import mnist

    digits = mnist("sample")
    pixels, labels = digits.tensors()
    seen = []
    handle = model.net.relu5.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        with torch.no_grad():
            model.net(model.input.normalize(pixels))
    finally:
        handle.remove()
    return seen[0], labels.numpy()


def test_cells_are_means_of_their_points(mnist_cnn):
    atlas = activation_atlas(mnist_cnn, "relu5", "sample", method="tsne", grid=4, min_count=3, fv_steps=0,
                             progress=False)  # fmt: skip
    acts, labels = _relu5(mnist_cnn)
    assert atlas.points.shape == (500, 2) and (atlas.points >= 0).all() and (atlas.points < 1).all()
    assert (atlas.labels == labels).all()  # one point per image, in data-set order
    rows, cols = (atlas.points[:, 1] * 4).astype(int), (atlas.points[:, 0] * 4).astype(int)
    expected = {}
    for r in range(4):
        for c in range(4):
            inside = (rows == r) & (cols == c)
            if inside.sum() >= 3:
                expected[(r, c)] = (int(inside.sum()), acts[torch.from_numpy(inside)].mean(0),
                                    str(np.bincount(labels[inside]).argmax()))  # fmt: skip
    assert {(cell.row, cell.col) for cell in atlas.cells} == set(expected)
    for cell in atlas.cells:
        count, mean, label = expected[(cell.row, cell.col)]
        assert cell.count == count and cell.label == label
        assert torch.allclose(cell.vector, mean, atol=1e-5)
    # a classifier's penultimate layer separates the digits: most cells are dominated by one class
    assert np.mean([cell.share for cell in atlas.cells]) > 0.6
    assert repr(atlas).startswith("Atlas(mnist-cnn relu5: 500 points from bundled sample, tsne")


def test_conv_layer_uses_positions_sampled_to_max_points(mnist_cnn):
    atlas = activation_atlas(mnist_cnn, "relu3", "sample", method="tsne", grid=3, min_count=1, max_points=300,
                             fv_steps=0, progress=False)  # fmt: skip
    assert len(atlas.points) == 300 and set(np.unique(atlas.labels)) <= set(range(10))
    assert sum(c.count for c in atlas.cells) == 300 and all(c.vector.shape == (64,) for c in atlas.cells)
    per_image = activation_atlas(mnist_cnn, "relu3", "sample", method="tsne", grid=3, fv_steps=0, per_image=True,
                                 progress=False)  # fmt: skip
    assert len(per_image.points) == 500


def test_umap_atlas_page_zooms_and_explains_cells(tmp_path, browser):
    import vizcnn

    model = vizcnn.load_model("mnist-cnn", device="cpu", categories=[f"{XSS}{d}" for d in range(10)])
    atlas = activation_atlas(model, "relu5", "sample", grid=5, min_count=4, fv_steps=4, progress=False)
    assert atlas.method == "umap" and all(c.image is not None for c in atlas.cells)
    path = atlas.save_html(tmp_path / "atlas.html")
    png = atlas.save(tmp_path / "atlas.png")
    assert png.stat().st_size > 0
    page = browser.new_page()
    errors, requests, dialogs = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri(), wait_until="load")
    cells = page.locator(".at-cell")
    assert cells.count() == len(atlas.cells)
    before = cells.first.bounding_box()["width"]
    page.click("#at-in")
    page.keyboard.press("+")
    assert cells.first.bounding_box()["width"] > before * 1.5
    page.keyboard.press("-")
    page.click("#at-out")
    assert cells.first.bounding_box()["width"] == pytest.approx(before, abs=1)
    cells.nth(1).focus()
    second = atlas.cells[1]
    assert page.get_attribute("#at-info", "data-row") == str(second.row)
    info = page.inner_text("#at-info")
    assert f"{second.count} points, mostly class {second.label}" in info and XSS in info  # the name stays text
    cells.nth(0).hover()
    assert page.get_attribute("#at-info", "data-col") == str(atlas.cells[0].col)
    assert errors == [] and dialogs == [] and all(u.startswith(("file:", "data:")) for u in requests)
    page.close()


def test_cli_atlas_errors(tmp_path):
    code, _, stderr = run_cli("atlas", "mnist-cnn", "relu5", "--embedding", "pca", "-o", str(tmp_path / "a"))
    assert code == 2 and "umap, tsne" in stderr and not (tmp_path / "a").exists()
    code, _, stderr = run_cli("atlas", "mnist-cnn", "relu5", "--grid", "0")
    assert code == 2 and "grid" in stderr
    code, _, stderr = run_cli("atlas", "mnist-cnn", "relu9")
    assert code == 2 and "relu5" in stderr
