"""Figures a reader can trust: no text cut or overlapping, one colour convention, colour bars, legends."""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from PIL import Image

from vizcnn.activations import ActivationMaps, activations
from vizcnn.attribution import Attribution
from vizcnn.data import load_image
from vizcnn.dictionary import (
    MOSAIC_COLOURS,
    OTHER,
    attribution_dictionary,
    semantic_dictionary,
)
from vizcnn.draw.figure import (
    DIVERGING,
    NEGATIVE,
    POSITIVE,
    SEQUENTIAL,
    colorize,
    image_grid,
    recording_text,
)
from vizcnn.draw.html import stylesheet
from vizcnn.filters import plot


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def assert_laid_out(boxes) -> None:
    """Every string lies inside its canvas, and no two strings on one canvas overlap."""
    assert boxes, "nothing was drawn"
    clipped = [(b.text, b.box, b.canvas) for b in boxes if b.clipped]
    assert clipped == []
    for a, b in combinations(boxes, 2):
        if a.canvas_id != b.canvas_id or not a.text.strip() or not b.text.strip():
            continue
        ax0, ay0, ax1, ay1 = a.box
        bx0, by0, bx1, by1 = b.box
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a.text!r} {a.box} overlaps {b.text!r} {b.box}"


def _joined(boxes) -> str:
    return " ".join(b.text for b in boxes)


@pytest.mark.parametrize(("model", "sort"), [("mnist-cnn", "norm"), ("lenet", "frequency")])
def test_filter_titles_and_legends_are_whole(model, sort):
    import vizcnn

    grid = plot(vizcnn.load_model(model, device="cpu"), "conv1", sort=sort)
    with recording_text() as boxes:
        image = grid.to_image()
    assert_laid_out(boxes)
    text = _joined(boxes)
    assert f"by {sort}" in text  # the title's end was cut to "by nor" / "by" before
    assert "L2 norm" in text and "Mid-grey is zero" in text  # what the numbers and the greys mean
    if sort == "frequency":
        assert "cycles/pixel" in text and re.search(r"#\d+ \d\.\d\d \d\.\d\d", text)  # index, norm, key
    assert {"-1", "0", "1"} <= {b.text for b in boxes}  # the grey scale's ticks
    assert all(b.canvas[1] <= image.height for b in boxes)


def test_long_class_names_wrap_inside_the_input_panel():
    maps = ActivationMaps(
        "alexnet", "conv5", Image.new("RGB", (224, 224), (120, 90, 60)), torch.rand(256, 13, 13), list(range(12)),
        [{"channel": c, "mean": 0.5, "max": 1.0} for c in range(12)],
        [{"class": name, "index": i, "probability": 0.001} for i, name in
         enumerate(["butternut squash", "American Staffordshire terrier", "Granny Smith", "spaghetti squash"])],
    )  # fmt: skip
    with recording_text() as boxes:
        maps.to_image()
    assert_laid_out(boxes)
    assert "squash" in _joined(boxes) and "Staffordshire" in _joined(boxes)


def test_alexnet_conv5_with_a_photo_lays_out(alexnet, tmp_path):
    y, x = np.mgrid[0:180, 0:240]
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(photo)
    maps = activations(alexnet, "conv5", str(photo), top=12)
    with recording_text() as boxes:
        maps.to_image()
    assert_laid_out(boxes)


def test_a_title_wider_than_its_grid_wraps_and_grows_the_canvas():
    title = "a very long title that is much wider than one small tile, " * 3
    with recording_text() as boxes:
        image = image_grid([np.zeros((8, 8), np.uint8)], ["a label longer than its tile"], tile_size=16, title=title)
    assert_laid_out(boxes)
    assert len([b for b in boxes if b.text.startswith(("a very", "much", "one", "tile"))]) >= 3  # several lines
    assert image.height > 3 * 16


def test_one_diverging_convention_blue_supports_red_opposes():
    cmap = colormaps[DIVERGING]
    top, bottom, middle = (np.array(cmap(v)[:3]) for v in (1.0, 0.0, 0.5))
    assert top[2] > top[0] and bottom[0] > bottom[2] and middle.min() > 0.9  # blue high, red low, white zero
    r, _, b = _rgb(POSITIVE)
    assert b > r + 80
    r, _, b = _rgb(NEGATIVE)
    assert r > b + 80
    css = stylesheet()
    assert f"--pos: {POSITIVE}" in css and f"--neg: {NEGATIVE}" in css


def test_heat_map_and_bars_use_the_convention():
    tensor = torch.zeros(2, 4, 4)
    tensor[0, 0, 0] = 1.0  # channel 0 supports, top left
    tensor[1, 3, 3] = -1.0  # channel 1 opposes, bottom right
    a = Attribution("m", "conv", "LayerGradientXActivation", 0, "A", None, None, tensor, torch.zeros(2), 1.0,
                    image=Image.new("RGB", (4, 4), (128, 128, 128)))  # fmt: skip
    heat = np.asarray(a.heatmap()).astype(int)
    assert heat[0, 0, 2] > heat[0, 0, 0] + 30  # support is blue
    assert heat[3, 3, 0] > heat[3, 3, 2] + 30  # opposition is red
    figure = np.asarray(a.to_image()).reshape(-1, 3)
    counts = {name: int((figure == _rgb(colour)).all(axis=1).sum()) for name, colour in (("pos", POSITIVE), ("neg", NEGATIVE))}
    assert counts["pos"] > 50 and counts["neg"] > 50  # one blue bar (channel 0), one red bar (channel 1)


def test_attribution_page_colours_and_colour_bars(mnist_cnn):
    result = attribution_dictionary(mnist_cnn, load_image("mnist:label=4"), "conv2", "4", vs="9", top=4)
    page = result.to_html()
    assert "Blue supports</span>" in page and "red opposes</span>" in page
    values = re.findall(r'<div class="value (pos|neg)">(-?[\d.]+)</div>', page)
    assert values and all((cls == "pos") == (float(v) >= 0) for cls, v in values)
    opposing = re.findall(r'\(<span class="(pos|neg)">(-?[\d.]+)</span>\)', page)
    assert opposing and all(cls == "neg" and float(v) < 0 for cls, v in opposing)
    assert page.count('alt="colour bar: attribution per position') == 3  # one per section: 4, 9, 4 - 9


def test_activation_maps_are_viridis_with_a_colour_bar(mnist_cnn):
    values = np.linspace(0, 1, 11, dtype=np.float32).reshape(1, 11)
    expected = (colormaps["viridis"](values)[..., :3] * 255).astype(np.uint8)
    assert SEQUENTIAL == "viridis" and np.abs(colorize(values, vmin=0, vmax=1).astype(int) - expected).max() <= 3
    maps = activations(mnist_cnn, "relu2", "mnist:label=3", top=4)
    with recording_text() as boxes:
        image = maps.to_image()
    assert_laid_out(boxes)
    text = _joined(boxes)
    assert "mean and maximum activation" in text and re.search(r"mean \d\.\d\d, max \d\.\d\d", text)
    assert any(b.text.startswith("activation") for b in boxes)  # the colour bar's label
    assert all(b.canvas[0] <= image.width for b in boxes)


def test_semantic_mosaic_has_a_handful_of_colours_and_a_key(mnist_cnn):
    sem = semantic_dictionary(mnist_cnn, load_image("mnist:label=3"), "relu2")
    with recording_text() as boxes:
        image = sem.to_image()
    assert_laid_out(boxes)
    coloured = sem.coloured()
    assert 1 <= len(coloured) <= len(MOSAIC_COLOURS) == 5
    key = [b.text for b in boxes if b.text.startswith("channel ") or b.text == "any other channel"]
    assert key == [f"channel {c}" for c in coloured] + ["any other channel"]
    pixels = np.asarray(image).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    common = {tuple(int(v) for v in c) for c in colours[np.argsort(-counts)][:7]}
    assert common <= {(255, 255, 255), OTHER, *MOSAIC_COLOURS}  # white, grey and the five colours, nothing else
    acts = sem.activations.numpy()
    first, peak = acts.argmax(axis=0).ravel(), acts.max(axis=0).ravel()  # the strongest channel at each position
    held = {int(c): float(np.clip(peak[first == c], 0, None).sum()) for c in np.unique(first)}
    others = [v for c, v in held.items() if c not in coloured]
    assert min(held[c] for c in coloured) >= max(others, default=0)  # colours go to the channels with the most area


def test_zoomable_images_enlarge_on_click_without_a_script(tmp_path):
    from vizcnn.draw.html import _ENV, data_uri

    from .test_browser import ARGS, _chromium

    src = data_uri(Image.fromarray(np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))))
    body = _ENV.from_string('{% from "_zoom.html" import zoomable %}{{ zoomable("fv", src, "a digit", true) }}')
    page = tmp_path / "zoom.html"
    page.write_text(f"<!doctype html><style>{stylesheet()}</style><body>{body.render(src=src)}</body>")
    assert "<script" not in page.read_text()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS, headless=True)
        try:
            tab = browser.new_page(viewport={"width": 800, "height": 600})
            tab.goto(page.as_uri())
            assert tab.eval_on_selector("#fv", "e => getComputedStyle(e).display") == "none"
            small = tab.eval_on_selector("a.zoom img", "e => e.getBoundingClientRect().width")
            tab.click("a.zoom")
            assert tab.eval_on_selector("#fv", "e => getComputedStyle(e).display") == "flex"
            big = tab.eval_on_selector("#fv img", "e => e.getBoundingClientRect().height")
            assert big > 4 * small  # the enlarged copy fills most of the window
            tab.click("#fv")
            assert tab.eval_on_selector("#fv", "e => getComputedStyle(e).display") == "none"
        finally:
            browser.close()


def test_lesson_figures_lay_out(mnist_cnn):
    from vizcnn.data import mnist
    from vizcnn.lesson import TemplateClassifier, conv_demo, multichannel_demo, padding_demo, pool_demo

    digits = mnist("sample")
    templates = TemplateClassifier.fit(digits)
    scores = templates.explain(torch.from_numpy(digits.images[0]).float() / 255, int(digits.labels[0]))
    for figure in (conv_demo(), pool_demo(), multichannel_demo(), padding_demo(), templates, scores):
        with recording_text() as boxes:
            figure.to_image()
        assert_laid_out(boxes)
