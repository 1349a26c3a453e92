"""Model zoo, layer names and the :class:`Model` wrapper."""

from .layers import LayerInfo, derive_aliases, forward_order, layer_table
from .model import InputSpec, Layer, Model
from .zoo import DIGITS, MNIST_INPUT, ModelSpec, get_spec, list_models, load_model, register_model

__all__ = [
    "DIGITS", "MNIST_INPUT", "InputSpec", "Layer", "LayerInfo", "Model", "ModelSpec",
    "derive_aliases", "forward_order", "get_spec", "layer_table", "list_models", "load_model", "register_model",
]  # fmt: skip
