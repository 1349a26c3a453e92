"""Conv arithmetic: the lecture's examples, edge cases, and agreement with torch."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vizcnn.arithmetic import conv_layer, output_size, pool_layer
from vizcnn.errors import VizcnnError

from .conftest import run_cli


def test_lecture_examples():
    assert output_size(6, 3, stride=2, padding=1) == 3  # floor((6 + 2 - 3) / 2) + 1
    layer = conv_layer(32, 32, 3, filters=64, kernel=3, stride=2, padding=1)
    assert layer.output == (16, 16, 64) and layer.weights == 1728 and layer.biases == 64
    pool = pool_layer(32, 32, 3, kernel=2, stride=2)
    assert pool.output == (16, 16, 3) and pool.weights == 0 and pool.biases == 0


@pytest.mark.parametrize("w,k,s,p", [(5, 3, 1, 0), (7, 3, 2, 1), (224, 11, 4, 2), (28, 5, 1, 2), (13, 3, 1, 1), (10, 10, 3, 0), (9, 4, 3, 2)])
def test_matches_torch(w, k, s, p):
    conv = nn.Conv2d(2, 4, k, stride=s, padding=p)
    out = conv(torch.zeros(1, 2, w, w))
    layer = conv_layer(w, w, 2, filters=4, kernel=k, stride=s, padding=p)
    assert layer.output == (out.shape[2], out.shape[3], 4)
    assert layer.weights == conv.weight.numel() and layer.biases == conv.bias.numel()


@pytest.mark.parametrize("kwargs", [dict(size=2, kernel=3), dict(size=-1, kernel=1), dict(size=5, kernel=3, stride=0), dict(size=5, kernel=3, padding=-1)])
def test_invalid(kwargs):
    with pytest.raises(VizcnnError):
        output_size(**kwargs)


def test_cli_json_lecture_examples():
    code, out, _ = run_cli("arithmetic", "--input", "32x32x3", "--filters", "64", "--kernel", "3", "--stride", "2", "--padding", "1", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["output"] == [16, 16, 64] and d["weights"] == 1728 and d["biases"] == 64
    code, out, _ = run_cli("arithmetic", "--size", "6", "--kernel", "3", "--stride", "2", "--padding", "1", "--json")
    assert json.loads(out)["output"] == [3, 3, 1]
    code, out, _ = run_cli("arithmetic", "--size", "32", "--kernel", "2", "--stride", "2", "--pool", "--json")
    d = json.loads(out)
    assert d["output"] == [16, 16, 1] and d["weights"] == 0 and d["biases"] == 0


def test_cli_errors():
    code, _, err = run_cli("arithmetic", "--size", "2", "--kernel", "5")
    assert code == 2 and "empty" in err and "Traceback" not in err
    code, _, err = run_cli("arithmetic", "--input", "32x32")
    assert code == 2 and "HxWxC" in err
