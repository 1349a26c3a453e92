"""The generated gallery in a real browser: headless Chromium driven by Playwright.

Every page loads from file:// with no console error and no failed request,
every image has decoded, every link between pages resolves, and a spec title
holding a script tag shows as text without running. Chromium is Debian's
``chromium`` package (``.ci/run`` installs it); without it these tests skip
locally and fail under CI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
XSS = "<script>alert(1)</script>"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip

SPEC = f"""
title = "{XSS} gallery"
description = "file names & <b>labels</b> stay text"

[render]
steps = 8
diversity = 2
examples = 4
batch = 4

[[models]]
name = "mnist-cnn"
title = "{XSS} model"
images = ["mnist:3"]
views = ["features", "examples", "filters", "connections"]
layers = [{{ name = "conv1", channels = "0-2" }}, {{ name = "conv2", channels = "0-1", title = "<i>conv2</i>" }}]

[[reports]]
kind = "lesson"
title = "{XSS} lesson"
model = "mnist-cnn"
data = "digits"

[[reports]]
kind = "attribution-dictionary"
title = "{XSS} 7 vs 1"
model = "mnist-cnn"
layer = "relu3"
image = "mnist:7"
target = "7"
vs = "1"
top = 3
"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the browser tests")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from vizcnn.gallery import build_gallery

    from vizcnn.data import sample, write_idx

    folder = tmp_path_factory.mktemp("browser")
    # a small test set for the lesson's robustness study (the page is what is tested, not the study):
    # the first 30 digits of the bundled sample, written as IDX
    digits = sample()
    write_idx(folder / "digits" / "t10k-images-idx3-ubyte.gz", digits.images[:30])
    write_idx(folder / "digits" / "t10k-labels-idx1-ubyte.gz", digits.labels[:30].astype("uint8"))
    spec = folder / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    build_gallery(spec, folder / "site", progress=False)
    return folder / "site"


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _visit(browser, url: str) -> dict:
    """Open ``url``; return console errors, failed requests, dialogs, broken images and the links."""
    page = browser.new_page()
    seen = {"errors": [], "failed": [], "dialogs": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.on("response", lambda r: seen["failed"].append(r.url) if r.status >= 400 else None)
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(url, wait_until="load")
    seen["images"] = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth])"
    )
    seen["links"] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    seen["text"] = page.inner_text("body")
    seen["title"] = page.title()
    seen["page"] = page
    return seen


def test_every_page_loads_cleanly_with_images_and_links(site, browser):
    pages = sorted(p for p in site.rglob("*.html") if ".cache" not in p.parts)
    assert len(pages) == 1 + 1 + 2 + 5 + 2  # index, model, 2 layers, 3 + 2 channels, 2 reports
    linked: set[Path] = set()
    for path in pages:
        seen = _visit(browser, path.as_uri())
        rel = path.relative_to(site)
        assert seen["errors"] == [], (rel, seen["errors"])
        assert seen["failed"] == [], (rel, seen["failed"])
        assert seen["dialogs"] == [], (rel, seen["dialogs"])
        assert seen["images"], f"{rel} shows no image"
        broken = [src for src, width in seen["images"] if not width]
        assert broken == [], (rel, broken)
        for href in seen["links"]:
            url = urlparse(href)
            assert url.scheme == "file", f"{rel} links outside the site: {href}"
            target = Path(unquote(url.path))
            assert target.is_file(), f"{rel} links to a missing page {href}"
            linked.add(target.resolve())
        seen["page"].close()
    # every page, the start page included (breadcrumbs), is reachable by a link
    assert {p.resolve() for p in pages} <= linked


def test_script_in_spec_shows_as_text_and_never_runs(site, browser):
    seen = _visit(browser, (site / "index.html").as_uri())
    assert seen["dialogs"] == []
    assert f"{XSS} gallery" in seen["text"]
    assert f"{XSS} gallery" == seen["title"]
    assert "<b>labels</b>" in seen["text"]
    assert seen["page"].locator("script").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    seen["page"].screenshot(path=str(ARTIFACTS / "gallery-index.png"), full_page=True)
    seen["page"].close()
    layer = _visit(browser, (site / "models" / "mnist-cnn" / "conv2" / "index.html").as_uri())
    assert "<i>conv2</i>" in layer["text"] and layer["dialogs"] == []
    layer["page"].screenshot(path=str(ARTIFACTS / "gallery-layer.png"), full_page=True)
    channel = _visit(browser, (site / "models" / "mnist-cnn" / "conv1" / "0.html").as_uri())
    channel["page"].screenshot(path=str(ARTIFACTS / "gallery-channel.png"), full_page=True)
    channel["page"].close()
    from PIL import Image

    with Image.open(ARTIFACTS / "gallery-index.png") as shot:  # a full-page screenshot: the viewport's width
        assert shot.format == "PNG" and shot.width == 1280 and shot.height >= 720
