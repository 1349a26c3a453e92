"""Feature visualization by optimization (Olah et al., Distill 2017), faster than lucent.

    >>> from vizcnn import optvis
    >>> obj = optvis.channel("conv3", 5) - 0.5 * optvis.channel("conv3", 9)
    >>> smooth = -0.1 * optvis.total_variation()                  # a regularizer on the image
    >>> res = optvis.render(model, obj, steps=128)            # doctest: +SKIP
    >>> res = optvis.render_channels(model, "conv2", range(8))  # doctest: +SKIP

Three independent parts, as in lucid: objectives (:mod:`.objectives`),
parameterizations (:mod:`.param`) and robustness transforms
(:mod:`.transforms`), glued by the render loop (:mod:`.render`); the
defaults that fit each layer and image size are in :mod:`.recipe`.
"""

from . import param, recipe
from .objectives import (
    IMAGE, OUTPUT, Objective, blur, channel, channels_per_image, class_logit, direction, diversity, l1, l2, neuron,
    total_variation,
)  # fmt: skip
from .recipe import Recipe, recipe_for
from .render import RenderResult, render, render_channels, render_size
from .transforms import Transforms, light, standard

__all__ = [
    "IMAGE", "OUTPUT", "Objective", "Recipe", "RenderResult", "Transforms", "blur", "channel", "channels_per_image",
    "class_logit", "direction", "diversity", "l1", "l2", "light", "neuron", "param", "recipe", "recipe_for", "render",
    "render_channels", "render_size", "standard", "total_variation",
]  # fmt: skip
