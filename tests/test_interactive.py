"""The interactive dictionary in a real browser: pointer, keyboard, picker and heat-map toggles in Chromium.

The expected channels at a position come from a forward hook on the
network's own module (not from the page's data), and every interaction is a
real event (mouse move, Tab, arrow keys, select, click) sent by Playwright.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .test_browser import ARTIFACTS, XSS, _chromium, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

NAMES = ["mnist:7", "mnist:76"]


@pytest.fixture(scope="module")
def xss_model():
    """mnist-cnn whose class 0 is named like a script tag."""
    import vizcnn

    return vizcnn.load_model("mnist-cnn", device="cpu", categories=[f"{XSS}0", *map(str, range(1, 10))])


@pytest.fixture(scope="module")
def page_file(tmp_path_factory, xss_model) -> tuple[Path, object]:
    from vizcnn.data import load_image
    from vizcnn.dictionary import interactive_dictionary

    result = interactive_dictionary(
        xss_model, [(n, load_image(n)) for n in NAMES], "relu3", top=4, groups=3, targets=[0, 1],
        fv_steps=3, hrefs={5: "channels/5.html"},
    )  # fmt: skip
    path = tmp_path_factory.mktemp("dx") / "index.html"
    path.write_text(result.to_html(title=f"{XSS} dictionary"), encoding="utf-8")
    return path, result


_RELU3: dict[tuple[int, str], torch.Tensor] = {}


def _relu3(model, name: str) -> torch.Tensor:
    """relu3's ``(C, H, W)`` output for a bundled digit, read with a plain forward hook (once per digit)."""
    from vizcnn.data import load_image

    if (id(model), name) in _RELU3:
        return _RELU3[(id(model), name)]
    seen = {}
    handle = model.net.relu3.register_forward_hook(lambda _m, _i, out: seen.setdefault("a", out.detach()))
    try:
        with torch.no_grad():
            model.net(model.preprocess(load_image(name)))
    finally:
        handle.remove()
    return _RELU3.setdefault((id(model), name), seen["a"][0])


def _expected(model, name: str, y: int, x: int, k: int) -> list[str]:
    """The top ``k`` channels of relu3 at (y, x)."""
    return [str(c) for c in _relu3(model, name)[:, y, x].topk(k).indices.tolist()]


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    seen = {"errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(path.as_uri(), wait_until="load")
    return page, seen


def _shown(page) -> list[str]:
    return page.eval_on_selector_all("#dx-channels [data-channel]", "els => els.map(e => e.dataset.channel)")


def _point(page, y: int, x: int, h: int = 14, w: int = 14) -> None:
    box = page.locator("#dx-grid").bounding_box()
    page.mouse.move(box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h)


def test_pointer_shows_the_top_channels_of_the_position(page_file, browser, xss_model):
    path, _ = page_file
    page, seen = _open(browser, path)
    for y, x in [(7, 7), (3, 9), (10, 4)]:
        _point(page, y, x)
        assert page.get_attribute("#dx-channels", "data-position") == f"{y},{x}"
        assert _shown(page) == _expected(xss_model, NAMES[0], y, x, 4)
    # each channel is drawn as its feature visualization, larger for a larger activation
    sizes = page.eval_on_selector_all("#dx-channels img", "els => els.map(e => e.naturalWidth && e.width)")
    assert len(sizes) == 4 and all(sizes) and sizes == sorted(sizes, reverse=True)
    # groups at the position, strongest first
    values = page.eval_on_selector_all("#dx-groups [data-group]", "els => els.map(e => Number(e.dataset.value))")
    assert values == sorted(values, reverse=True) and all(v > 0 for v in values)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dictionary-interactive.png"), full_page=True)
    assert seen["errors"] == [] and seen["dialogs"] == []
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
    page.close()


def test_keyboard_moves_over_the_grid(page_file, browser, xss_model):
    path, _ = page_file
    page, seen = _open(browser, path)
    page.keyboard.press("Tab")  # the image picker
    page.keyboard.press("Tab")  # the grid of positions
    assert page.evaluate("document.activeElement.id") == "dx-grid"
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    for _ in range(6):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("#dx-channels", "data-position") == "6,2"
    assert _shown(page) == _expected(xss_model, NAMES[0], 6, 2, 4)
    page.keyboard.press("ArrowUp")
    assert _shown(page) == _expected(xss_model, NAMES[0], 5, 2, 4)
    assert seen["errors"] == []
    page.close()


def test_picker_heat_maps_links_and_escaping(page_file, browser, xss_model):
    path, _ = page_file
    page, seen = _open(browser, path)
    _point(page, 8, 6)
    first = _shown(page)
    page.select_option("#dx-pick", "1")
    assert _shown(page) == _expected(xss_model, NAMES[1], 8, 6, 4) != first
    plain = page.get_attribute("#dx-image", "src")
    labels = page.eval_on_selector_all("#dx-heats label", "els => els.map(e => e.textContent.trim())")
    assert labels == ["none (the image)", "activation (all channels)", f"attribution to {XSS}0",
                      "attribution to 1", f"attribution to {XSS}0 - 1"]  # fmt: skip
    assert page.is_hidden("#dx-bar")  # no heat map, no colour bar
    page.check("#dx-heats input[value=attr2]")
    assert page.get_attribute("#dx-image", "data-heat") == "attr2"
    assert page.get_attribute("#dx-image", "src") not in (plain, None)
    # every heat map comes with its colour bar (values and units), the one of the map shown
    heats = page_file[1].data()["images"][1]["heats"]
    assert page.is_visible("#dx-bar") and page.get_attribute("#dx-bar", "src") == heats[3]["bar"] != heats[1]["bar"]
    page.focus("#dx-heats input[value=attr0]")
    page.keyboard.press("ArrowDown")  # radio buttons: the keyboard picks the next heat map
    assert page.get_attribute("#dx-image", "data-heat") == "attr1"
    text = page.inner_text("#dx-where")
    assert f"attribution to {XSS}0 - 1:" in text  # the class name is text, not markup
    # channel 5 links to its page wherever it is listed
    y, x = next((y, x) for y in range(14) for x in range(14) if "5" in _expected(xss_model, NAMES[1], y, x, 4))
    _point(page, y, x)
    assert page.get_attribute("#dx-channels [data-channel='5']", "href") == "channels/5.html"
    assert page.get_attribute("#dx-channels [data-channel]:not([data-channel='5'])", "href") is None
    assert page.title() == f"{XSS} dictionary"
    assert seen["dialogs"] == [] and seen["errors"] == []
    assert page.locator("script").count() == 2  # the JSON block and the page's own script; the names added none
    page.close()


def test_jupyter_repr_and_short_repr(page_file):
    _, result = page_file
    assert repr(result).startswith("InteractiveDictionary(mnist-cnn relu3: 2 image(s) [mnist:7, mnist:76], top 4")
    frame = result._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "dx-data" in frame


GALLERY = f"""
title = "{XSS} gallery"

[render]
steps = 2
diversity = 0
examples = 2

[[models]]
name = "mnist-cnn"
views = ["features"]
layers = [{{ name = "conv3", channels = "0-63" }}]

[[reports]]
kind = "dictionary"
title = "{XSS} picker"
model = "mnist-cnn"
layer = "conv3"
images = ["mnist:7", "mnist:42"]
top = 3
groups = 2
fv_steps = 2

[[reports]]
kind = "dictionary"
title = "one image"
model = "mnist-cnn"
layer = "relu3"
image = "mnist:3"
target = "3"
top = 2
groups = 2
fv_steps = 0

[[reports]]
kind = "flow"
title = "{XSS} flow"
model = "mnist-cnn"
layer = "relu3"
to_layer = "relu5"
image = "mnist:7"
target = "7"
vs = "1"
top = 3
fv_steps = 2

[[reports]]
kind = "atlas"
title = "{XSS} atlas"
model = "mnist-cnn"
layer = "relu5"
embedding = "tsne"
grid = 4
min_count = 2
fv_steps = 2
"""


def test_gallery_reports_in_chromium(tmp_path, browser):
    from urllib.parse import unquote, urlparse

    from threadpoolctl import threadpool_limits

    from vizcnn.gallery import build_gallery

    spec = tmp_path / "spec.toml"
    spec.write_text(GALLERY, encoding="utf-8")
    with threadpool_limits(1):  # t-SNE's OpenMP threads on a shared machine
        build_gallery(spec, tmp_path / "site", progress=False)
    reports = sorted((tmp_path / "site" / "reports").glob("*.html"))
    assert [p.name.split("-", 1)[0] for p in reports] == ["0", "1", "2", "3"]
    for path in reports:
        page, seen = _open(browser, path)
        assert XSS in page.title() or page.title() == "one image"
        assert seen["errors"] == [] and seen["dialogs"] == [], (path.name, seen["errors"])
        assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
        if path.name.startswith("0-"):
            assert page.eval_on_selector_all("#dx-pick option", "els => els.map(e => e.textContent)") == NAMES[:1] + ["mnist:42"]
            # the dictionary's channels link to the gallery's own conv3 pages, which exist
            hrefs = page.eval_on_selector_all("#dx-channels a", "els => els.map(e => e.href)")
            assert len(hrefs) == 3
            for href in hrefs:
                assert Path(unquote(urlparse(href).path)).is_file(), href
        if path.name.startswith("1-"):
            assert page.locator("#dx-pick option").count() == 1 and page.locator("#dx-channels a").count() == 0
        page.close()
