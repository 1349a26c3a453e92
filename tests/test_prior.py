"""The learned MNIST prior: its weights file, what it draws, its errors, and renders through it."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import vizcnn
from vizcnn import optvis
from vizcnn.cache import ResultCache
from vizcnn.data import mnist
from vizcnn.errors import VizcnnError, WeightsNotFoundError
from vizcnn.models import InputSpec, Model
from vizcnn.optvis import prior

from .conftest import run_cli

WEIGHTS = Path(vizcnn.__file__).parent / "models" / "weights"


@pytest.fixture(scope="module")
def lenet():
    return vizcnn.load_model("lenet", device="cpu")


def test_recipe_describes_the_shipped_file():
    blob = (WEIGHTS / "mnist-prior.safetensors").read_bytes()
    recipe = json.loads((WEIGHTS / "mnist-prior.json").read_text())
    assert recipe["sha256"] == hashlib.sha256(blob).hexdigest()
    assert recipe["bytes"] == len(blob) < 1_000_000
    assert recipe["latent_dims"] == prior.ZDIM
    assert recipe["seed"] == 0 and recipe["command"].startswith("python scripts/train_prior.py")
    assert prior.load_decoder().radius.item() == pytest.approx(recipe["radius"], abs=1e-4)


def test_decoder_draws_digits(shared_mnist, lenet):
    dec = prior.load_decoder()
    assert not any(p.requires_grad for p in dec.parameters())
    z = torch.randn((200, prior.ZDIM), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = dec(z)
        probs = lenet(lenet.input.normalize(images)).softmax(1)
    assert images.shape == (200, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1
    digits, _ = mnist(shared_mnist, "test").tensors()
    # as much ink as real digits, and, like them, almost none in the outer 3 pixels
    assert images.mean().item() == pytest.approx(digits.mean().item(), abs=0.03)
    border = torch.ones(28, 28, dtype=torch.bool)
    border[3:-3, 3:-3] = False
    assert images[..., border].mean() < 0.02
    # another network reads most of them as one digit, and all ten digits occur
    assert (probs.amax(1) > 0.5).float().mean() > 0.5
    assert len(set(probs.argmax(1).tolist())) == 10


def test_codes_are_kept_on_the_shell():
    dec = prior.Decoder()
    dec.radius.fill_(2.0)
    w = torch.zeros(2, prior.ZDIM)
    w[0, :2] = torch.tensor([3.0, 4.0])
    w[1, :2] = torch.tensor([0.003, -0.004])
    z = dec.to_shell(w)
    # norm 5 and norm 0.005 both -> norm 2, in the same direction
    assert torch.allclose(z[0, :2], torch.tensor([1.2, 1.6])) and torch.allclose(z[1, :2], torch.tensor([1.2, -1.6]))
    assert torch.all(z[:, 2:] == 0)


def test_class_render_through_the_prior_raises_the_logit(mnist_cnn):
    obj = optvis.class_logit(3)
    kw = dict(seed=1, param="prior", progress=False)
    start = optvis.render(mnist_cnn, obj, steps=0, **kw)
    after = optvis.render(mnist_cnn, obj, steps=24, **kw)
    assert after.images.shape == (1, 1, 28, 28)
    assert 0 <= after.images.min() and after.images.max() <= 1
    assert after.values[0] > start.values[0] + 2.0
    with torch.no_grad():  # the values are the logit of the final, untransformed image
        logit = mnist_cnn(mnist_cnn.input.normalize(after.images))[0, 3].item()
    assert after.values[0] == pytest.approx(logit, abs=1e-4)


def test_cache_keys_tell_parameterizations_apart(mnist_cnn, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    kw = dict(steps=2, progress=False, cache=cache)
    pixel = optvis.render_channels(mnist_cnn, "conv2", [1], param="pixel", **kw)
    learned = optvis.render_channels(mnist_cnn, "conv2", [1], param="prior", **kw)
    assert not torch.equal(pixel.images, learned.images)
    again = optvis.render_channels(mnist_cnn, "conv2", [1], param="prior", **kw)
    assert torch.equal(again.images, learned.images)
    assert optvis.param.fingerprint("prior").startswith("prior@")
    assert optvis.param.fingerprint("pixel") == "pixel"


def _rgb_model() -> Model:
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 26 * 26, 2))
    return Model("rgb28", net, InputSpec(channels=3, size=28, mean=(0.5,) * 3, std=(0.5,) * 3), ["a", "b"])


def test_a_model_the_prior_does_not_fit_is_refused():
    with pytest.raises(VizcnnError, match=r"1x28x28.*3x28x28"):
        optvis.render(_rgb_model(), optvis.channel("0", 0), steps=1, param="prior", progress=False)


def test_cli_refuses_a_size_the_prior_cannot_draw(tmp_path):
    out = tmp_path / "x.png"
    code, _, err = run_cli("render", "mnist-cnn", "conv1:0", "--param", "prior", "--size", "32", "--steps", "1",
                           "-o", str(out), "--quiet")  # fmt: skip
    assert code == 2 and "Traceback" not in err
    err = " ".join(err.split())
    assert "1x28x28" in err and "1x32x32" in err and not out.exists()


def test_cli_refuses_an_unknown_parameterization(tmp_path):
    code, _, err = run_cli("render", "mnist-cnn", "conv1:0", "--param", "priors", "--steps", "1",
                           "-o", str(tmp_path / "x.png"), "--quiet")  # fmt: skip
    assert code == 2 and "Traceback" not in err
    err = " ".join(err.split())
    assert "'prior'" in err and "fourier" in err


def _wrong_shapes(path: Path) -> None:
    save_file({k: v for k, v in prior.Decoder(zdim=8).state_dict().items()}, str(path))


def _no_radius(path: Path) -> None:
    state = prior.Decoder().state_dict()
    state["radius"] = torch.tensor(float("nan"))
    save_file(state, str(path))


@pytest.mark.parametrize(
    "write, says",
    [
        (None, "does not exist"),
        (lambda p: p.write_bytes(b"not a safetensors file at all"), "cannot read"),
        (_wrong_shapes, "do not match"),
        (_no_radius, "not a positive number"),
    ],
    ids=["missing", "corrupt", "mismatched", "nan-radius"],
)
def test_bad_prior_weights_give_a_clear_error(tmp_path, monkeypatch, write, says):
    weights = tmp_path / "prior.safetensors"
    if write is not None:
        write(weights)
    monkeypatch.setenv(prior.ENV, str(weights))
    with pytest.raises(WeightsNotFoundError if write is None else VizcnnError, match=says):
        prior.load_decoder()
    out = tmp_path / "x.png"
    code, _, err = run_cli("render", "mnist-cnn", "fc2:3", "--param", "prior", "--steps", "1", "-o", str(out), "--quiet")
    assert code == 2 and "Traceback" not in err
    err = " ".join(err.split())  # the CLI wraps its message
    assert "prior" in err and str(weights) in err and "train_prior.py" in err and says in err
    assert not out.exists()


def test_mnist_class_renders_default_to_the_prior(mnist_cnn):
    assert mnist_cnn.default_param(["fc2"]) == mnist_cnn.default_param([optvis.OUTPUT]) == "prior"
    assert mnist_cnn.default_param(["conv3"]) == mnist_cnn.default_param(["fc2", "conv3"]) == "fourier"
    assert vizcnn.load_model("lenet", device="cpu").default_param(["fc3"]) == "prior"
    kw = dict(steps=3, seed=5, progress=False)
    default = optvis.render_channels(mnist_cnn, "fc2", [4], **kw)
    assert torch.equal(default.images, optvis.render_channels(mnist_cnn, "fc2", [4], param="prior", **kw).images)
    default = optvis.render(mnist_cnn, optvis.class_logit(4), **kw)
    assert torch.equal(default.images, optvis.render(mnist_cnn, optvis.class_logit(4), param="prior", **kw).images)
    hidden = optvis.render_channels(mnist_cnn, "conv3", [4], **kw)
    assert torch.equal(hidden.images, optvis.render_channels(mnist_cnn, "conv3", [4], param="fourier", **kw).images)


@pytest.mark.parametrize("name", ["mnist-cnn", "lenet"])
def test_default_params_name_real_layers_and_kinds(name):
    model = vizcnn.load_model(name, device="cpu")
    assert model.default_params
    for layer, kind in model.default_params.items():
        assert kind in optvis.param.KINDS
        if layer != optvis.OUTPUT:  # the class logits: the model's last layer
            assert model.layer(layer).module is list(model.net.modules())[-1]


def test_prior_renders_must_beat_the_priors_random_digits(mnist_cnn, shared_mnist):
    """A flat grey square scores higher on mnist-cnn's "8" logit than any test digit, and no digit the prior
    draws can beat it: a render through the prior must beat the best of the prior's random digits instead."""
    digits, labels = mnist(shared_mnist, "test").tensors()
    with torch.no_grad():
        best_eight = mnist_cnn(mnist_cnn.input.normalize(digits[labels == 8]))[:, 8].max().item()
        grey = mnist_cnn(mnist_cnn.input.normalize(torch.full((1, 1, 28, 28), 0.5)))[0, 8].item()
        flat = mnist_cnn(mnist_cnn.input.normalize(torch.full((1, 1, 28, 28), mnist_cnn.input.mean[0])))[0, 8].item()
    assert grey > 1.5 * best_eight
    drawn = prior.random_digits()
    assert drawn.shape == (256, 1, 28, 28) and torch.equal(drawn, prior.random_digits())  # a fixed draw
    with torch.no_grad():
        best_drawn = mnist_cnn(mnist_cnn.input.normalize(drawn)).amax(0).tolist()
    res = optvis.render_channels(mnist_cnn, "fc2", range(10), steps=256, progress=False)  # `vizcnn render mnist-cnn fc2:0-9`
    assert res.baselines == pytest.approx(best_drawn, abs=1e-4) and best_drawn[8] < best_eight < grey
    assert min(v - b for v, b in zip(res.values, res.baselines)) > 0.3 and not any(res.failed)
    assert res.baseline == "the best of 256 random digits the prior draws"
    pixels = optvis.render_channels(mnist_cnn, "fc2", [8], steps=0, param="fourier", progress=False)
    assert pixels.baselines[0] == pytest.approx(max(grey, flat), abs=1e-4)  # the flat squares, for Fourier renders
    assert pixels.baseline == "a plain image"
