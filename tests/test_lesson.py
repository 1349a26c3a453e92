"""The MNIST lesson: the demos against torch.nn.functional, template matching, deformations, robustness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vizcnn
from vizcnn.data import Digits, mnist
from vizcnn.errors import VizcnnError
from vizcnn.lesson import (
    DEFORMATIONS,
    TemplateClassifier,
    conv_demo,
    deform,
    multichannel_demo,
    padding_demo,
    parse_matrix,
    pool_demo,
    robustness,
)
from vizcnn.lesson.demos import LECTURE_IMAGE, LECTURE_KERNEL, _caption

from .conftest import run_cli

# -- the building blocks -------------------------------------------------------


def test_lecture_example_by_hand():
    # image [[3,3,2,1,0],[0,0,1,3,1],[3,1,2,2,3],[2,0,0,2,2],[2,0,0,0,1]], kernel [[0,1,2],[2,2,0],[0,1,2]]
    expected = [
        [3*0 + 3*1 + 2*2 + 0*2 + 0*2 + 1*0 + 3*0 + 1*1 + 2*2,  # 12
         3*0 + 2*1 + 1*2 + 0*2 + 1*2 + 3*0 + 1*0 + 2*1 + 2*2,  # 12
         2*0 + 1*1 + 0*2 + 1*2 + 3*2 + 1*0 + 2*0 + 2*1 + 3*2],  # 17
        [0*0 + 0*1 + 1*2 + 3*2 + 1*2 + 2*0 + 2*0 + 0*1 + 0*2,  # 10
         0*0 + 1*1 + 3*2 + 1*2 + 2*2 + 2*0 + 0*0 + 0*1 + 2*2,  # 17
         1*0 + 3*1 + 1*2 + 2*2 + 2*2 + 3*0 + 0*0 + 2*1 + 2*2],  # 19
        [3*0 + 1*1 + 2*2 + 2*2 + 0*2 + 0*0 + 2*0 + 0*1 + 0*2,  # 9
         1*0 + 2*1 + 2*2 + 0*2 + 0*2 + 2*0 + 0*0 + 0*1 + 0*2,  # 6
         2*0 + 2*1 + 3*2 + 0*2 + 2*2 + 2*0 + 0*0 + 0*1 + 1*2],  # 14
    ]  # fmt: skip
    assert expected == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    demo = conv_demo()
    assert demo.output.tolist() == expected
    first = demo.steps[0]
    assert first.window[0].tolist() == [[3, 3, 2], [0, 0, 1], [3, 1, 2]]
    assert first.products[0].tolist() == [[0, 3, 4], [0, 0, 0], [0, 1, 4]]
    assert first.equation() == "out[0,0] = 3*0 + 3*1 + 2*2 + 0*2 + 0*2 + 1*0 + 3*0 + 1*1 + 2*2 = 12"
    assert [(s.row, s.col) for s in demo.steps] == [(i, j) for i in range(3) for j in range(3)]
    # 3x3 max pooling, stride 1: the largest value of each window
    assert pool_demo().output.tolist() == [[3, 3, 3], [3, 3, 3], [3, 2, 3]]


@pytest.mark.parametrize(
    "channels, size, k, stride, padding, bias",
    [(1, 5, 3, 1, 0, 0.0), (1, 7, 3, 2, 1, 0.0), (1, 6, 4, 3, 2, 0.5), (3, 5, 3, 2, 1, 1.0), (2, 8, 5, 1, 2, -2.0)],
)
def test_conv_demo_equals_conv2d(channels, size, k, stride, padding, bias):
    gen = torch.Generator().manual_seed(size * 10 + k)
    x = torch.randn(channels, size, size, generator=gen, dtype=torch.float64)
    w = torch.randn(channels, k, k, generator=gen, dtype=torch.float64)
    demo = conv_demo(x, w, stride=stride, padding=padding, bias=bias)
    ref = F.conv2d(x[None], w[None], torch.tensor([bias], dtype=torch.float64), stride=stride, padding=padding)[0, 0]
    torch.testing.assert_close(demo.output, ref)
    assert len(demo.steps) == ref.numel()


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size, k, stride, padding", [(5, 3, 1, 0), (6, 2, 2, 0), (7, 3, 2, 1), (8, 4, 3, 2)])
def test_pool_demo_equals_torch(mode, size, k, stride, padding):
    x = torch.randn(size, size, generator=torch.Generator().manual_seed(size + k), dtype=torch.float64)
    demo = pool_demo(x, size=k, stride=stride, mode=mode, padding=padding)
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    torch.testing.assert_close(demo.output, pool(x[None, None], k, stride=stride, padding=padding)[0, 0])


def test_multichannel_sums_channels_to_one_map():
    demo = multichannel_demo(seed=3, size=6, stride=1, padding=1, bias=1.0)
    assert demo.image.shape == (3, 6, 6) and demo.kernel.shape == (3, 3, 3)
    ref = F.conv2d(demo.image[None], demo.kernel[None], torch.tensor([1.0], dtype=torch.float64), padding=1)[0, 0]
    torch.testing.assert_close(demo.output, ref)
    per_channel = sum(F.conv2d(demo.image[None, c : c + 1], demo.kernel[None, c : c + 1], padding=1)[0, 0] for c in range(3))
    torch.testing.assert_close(demo.output, per_channel + 1)
    assert "(channel 2) + 1 (bias)" in demo.steps[0].text


def test_padding_demo_sizes():
    demo = padding_demo(size=7, kernel=3, paddings=(0, 1), strides=(1, 2, 3))
    assert demo.rows == [(0, 1, 5), (0, 2, 3), (0, 3, 2), (1, 1, 7), (1, 2, 4), (1, 3, 3)]
    for p, s, o in demo.rows:
        assert F.conv2d(torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), stride=s, padding=p).shape[-2:] == (o, o)
    assert "padding 1, stride 2: floor((7 + 2*1 - 3) / 2) + 1 = 4" in demo.explain()
    with pytest.raises(VizcnnError, match="does not fit"):
        padding_demo(size=3, kernel=5, paddings=(0,), strides=(1,))


def test_parse_matrix_and_errors():
    assert parse_matrix("1,2;3,4").tolist() == [[1, 2], [3, 4]]
    assert parse_matrix(" 0.5, -1 ; 2,3; ").tolist() == [[0.5, -1], [2, 3]]
    with pytest.raises(VizcnnError, match="rows separated by ';'"):
        parse_matrix("1,x;2,3")
    with pytest.raises(VizcnnError, match="rows of different lengths"):
        parse_matrix("1,2;3")
    with pytest.raises(VizcnnError, match="kernel has 1 channel"):
        conv_demo(torch.zeros(3, 5, 5), LECTURE_KERNEL)
    with pytest.raises(VizcnnError, match="more than half"):
        pool_demo(LECTURE_IMAGE, size=2, padding=2)


def test_demo_conv_cli_json_matches_conv2d(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demos write their picture to vizcnn-out/
    code, out, err = run_cli("demo", "conv", "--json")
    assert code == 0, err
    assert json.loads(out)["output"] == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    code, out, err = run_cli("demo", "conv", "--padding", "1", "--stride", "2", "--json")
    ref = F.conv2d(torch.tensor(LECTURE_IMAGE)[None, None].double(), torch.tensor(LECTURE_KERNEL)[None, None].double(), padding=1, stride=2)
    assert json.loads(out)["output"] == ref[0, 0].tolist()
    code, out, err = run_cli("demo", "conv", "--image", "1,2,3;4,5,6;7,8,9", "--kernel", "1,0;0,-1")
    assert code == 0 and "out[1,1] = 5*1 + 6*0 + 8*0 + 9*-1 = -4" in out


def test_long_steps_get_a_short_caption():
    demo = conv_demo(torch.ones(6, 6), torch.ones(5, 5))
    assert len(demo.steps[0].equation()) > 100
    assert _caption(demo.steps[0], "sum(window * kernel)") == "out[0,0] = sum(window * kernel) = 25"
    assert _caption(conv_demo().steps[0], "unused") == conv_demo().steps[0].equation()
    pool = pool_demo(torch.arange(36.0).reshape(6, 6), size=5, mode="avg")
    assert pool.output.tolist() == [[14.0, 15.0], [20.0, 21.0]]


def test_demo_pool_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("demo", "pool", "--size", "2", "--stride", "2", "--mode", "avg", "--json")
    assert code == 0, err
    assert json.loads(out)["output"] == [[1.5, 1.75], [1.5, 1.5]]
    code, out, err = run_cli("demo", "pool")
    assert "out[2,1] = max(1, 2, 2, 0, 0, 2, 0, 0, 0) = 2" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "conv", "--kernel", "0,1,2;2,x,0"], "cannot read the kernel"),
        (["demo", "conv", "--kernel", "0,1;2"], "rows of different lengths"),
        (["demo", "conv", "--image", "1,2;3,4"], "a 3x3 kernel does not fit a 2-pixel input"),
        (["demo", "conv", "--kernel", "1,2,3"], "square kernels"),
        (["demo", "conv", "--stride", "0"], "stride must be an integer >= 1"),
        (["demo", "pool", "--size", "6"], "does not fit"),
        (["demo", "padding", "--paddings", "one"], "whole numbers"),
    ],
)
def test_demo_bad_input_exit_2_without_traceback(argv, message):
    code, out, err = run_cli(*argv)
    assert code == 2
    assert message in err and "Traceback" not in err and out == ""


def test_demo_writes_gif_frames_and_png(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gif, frames, png = tmp_path / "conv.gif", tmp_path / "frames", tmp_path / "conv.png"
    code, out, err = run_cli("demo", "conv", "--gif", str(gif), "--frames", str(frames), "-o", str(png))
    assert code == 0, err
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 10  # nine window positions and the finished output
    assert sorted(p.name for p in frames.iterdir()) == [f"frame-{i:03d}.png" for i in range(10)]
    with Image.open(frames / "frame-004.png") as a, Image.open(frames / "frame-005.png") as b:
        assert a.size == b.size and a.tobytes() != b.tobytes()  # the window moved
    with Image.open(png) as im:  # the finished picture of the lecture's convolution
        assert im.format == "PNG" and im.convert("RGB").tobytes() == conv_demo().to_image().convert("RGB").tobytes()
    code, out, err = run_cli("demo", "padding", "--gif", str(tmp_path / "pad.gif"), "--json")
    assert json.loads(out)["rows"][3] == {"padding": 1, "stride": 2, "output": 3}
    with Image.open(tmp_path / "pad.gif") as im:
        assert im.n_frames == 6
    code, out, err = run_cli("demo", "multichannel", "--frames", str(tmp_path / "mc"))
    assert code == 0 and len(list((tmp_path / "mc").iterdir())) == 10


# -- deformations ----------------------------------------------------------------


def test_deformations_move_pixels_where_they_should():
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 3:9, 5:7] = 1.0  # a bar in the top-left
    x[1, 0, 20, 10:25] = 0.5
    torch.testing.assert_close(deform(x, "rotation", 90), torch.rot90(x, 1, (-2, -1)), atol=1e-5, rtol=0)  # counter-clockwise
    shifted = torch.zeros_like(x)
    shifted[..., 3:] = x[..., :-3]
    torch.testing.assert_close(deform(x, "translation", 3), shifted, atol=1e-5, rtol=0)
    for kind, d in DEFORMATIONS.items():
        torch.testing.assert_close(deform(x, kind, d.identity), x, atol=1e-5, rtol=0)
    half = deform(x, "zoom", 0.5)
    assert half[0].sum() < 0.4 * x[0].sum()  # a quarter of the area
    with pytest.raises(VizcnnError, match="unknown deformation 'spin'"):
        deform(x, "spin", 1)


# -- template matching and robustness ---------------------------------------------


def test_templates_are_class_means_and_correlation_scores():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    labels = np.arange(40) % 10
    clf = TemplateClassifier.fit(Digits(images, labels, "random"))
    np.testing.assert_allclose(clf.templates[3].numpy(), images[labels == 3].mean(0) / 255, atol=1e-6)
    digit = images[7].astype(np.float64) / 255
    scores = clf.explain(images[7]).scores
    expected = [np.corrcoef(digit.ravel(), clf.templates[d].numpy().ravel())[0, 1] for d in range(10)]
    np.testing.assert_allclose(scores.numpy(), expected, atol=1e-5)
    dot = TemplateClassifier.fit(Digits(images, labels, "random"), "dot").explain(images[7]).scores
    np.testing.assert_allclose(dot.numpy(), clf.templates.reshape(10, -1).numpy() @ digit.ravel(), rtol=1e-5)
    with pytest.raises(VizcnnError, match="has no digits of class 9"):
        TemplateClassifier.fit(Digits(images[:9], labels[:9], "nine"))


@pytest.fixture(scope="module")
def lesson_data(shared_mnist):
    test = mnist(shared_mnist, "test")
    subset = Digits(test.images[:2000], test.labels[:2000], "first 2000 test digits")
    return TemplateClassifier.fit(mnist(shared_mnist, "train")), subset


def test_template_matching_well_above_chance(lesson_data):
    clf, digits = lesson_data
    assert clf.accuracy(digits) > 0.6
    dot = TemplateClassifier(clf.templates, clf.source, "dot")
    assert 0.3 < dot.accuracy(digits) < clf.accuracy(digits)  # normalizing matters


def test_template_matching_falls_faster_under_rotation_than_the_cnn(lesson_data):
    clf, digits = lesson_data
    few = Digits(digits.images[:1000], digits.labels[:1000], "first 1000")
    result = robustness(few, {"templates": clf, "cnn": vizcnn.load_model("mnist-cnn")}, {"rotation": [0, 30, 45]})
    t, c = result.accuracy["rotation"]["templates"], result.accuracy["rotation"]["cnn"]
    assert c[0] > 0.97 and t[0] > 0.6
    for i in (1, 2):
        assert t[0] - t[i] > c[0] - c[i]  # templates lose more accuracy
        assert t[i] / t[0] < c[i] / c[0]  # and a larger share of it


def test_robustness_cli_json(tmp_path):
    png, examples = tmp_path / "rob.png", tmp_path / "examples.png"
    code, out, err = run_cli(
        "robustness", "--limit", "40", "--models", "mnist-cnn", "--deformations", "rotation,zoom", "--json", "-o", str(png),
        "--examples", str(examples),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["n"] == 40 and data["methods"] == ["template matching", "mnist-cnn"]
    assert set(data["deformations"]) == {"rotation", "zoom"}
    for name, block in data["deformations"].items():
        assert block["values"] == list(DEFORMATIONS[name].values)
        for acc in block["accuracy"].values():
            assert len(acc) == len(block["values"]) and all(0 <= a <= 1 for a in acc)
    # at zero rotation the templates score what they score on the undeformed digits
    sample = mnist("sample")
    clf = TemplateClassifier.fit(sample)
    first = Digits(sample.images[:40], sample.labels[:40], "")
    zero = data["deformations"]["rotation"]["values"].index(0)
    assert data["deformations"]["rotation"]["accuracy"]["template matching"][zero] == pytest.approx(clf.accuracy(first))
    with Image.open(png) as im:
        assert im.format == "PNG"
    with Image.open(examples) as im:
        assert im.size[0] > im.size[1] > 0  # two rows of nine deformed digits
    code, out, err = run_cli("robustness", "--deformations", "spin")
    assert code == 2 and "unknown deformation 'spin'" in err and "Traceback" not in err


def test_templates_cli(tmp_path):
    out_png = tmp_path / "t.png"
    code, out, err = run_cli("templates", "--image", "mnist:7", "--json", "-o", str(out_png))
    assert code == 0, err
    data = json.loads(out)
    scores = data["scores"]
    assert set(scores) == {str(d) for d in range(10)}
    assert data["predicted"] == int(max(scores, key=scores.get))
    assert data["label"] == int(mnist("sample").labels[7])
    assert data["n"] == 500 and data["accuracy"] > 0.6
    assert "bundled sample" in data["templates"]
    with Image.open(out_png) as im:
        assert im.width > 500
    code, out, err = run_cli("templates", "--image", "mnist:9999")
    assert code == 2 and "mnist:0 to mnist:499" in err
