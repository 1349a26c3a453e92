"""Feature visualization by optimization (Olah et al., Distill 2017), faster than lucent.

    >>> from vizcnn import optvis
    >>> obj = optvis.channel("conv3", 5) - 0.5 * optvis.channel("conv3", 9)
    >>> res = optvis.render(model, obj, steps=128)            # doctest: +SKIP
    >>> res = optvis.render_channels(model, "conv2", range(8))  # doctest: +SKIP

Three independent parts, as in lucid: objectives (:mod:`.objectives`),
parameterizations (:mod:`.param`) and robustness transforms
(:mod:`.transforms`), glued by the render loop (:mod:`.render`).
"""

from .objectives import OUTPUT, Objective, channel, channels_per_image, class_logit, direction, diversity, neuron
from .render import RenderResult, render, render_channels
from .transforms import Transforms, standard

__all__ = [
    "OUTPUT", "Objective", "RenderResult", "Transforms", "channel", "channels_per_image", "class_logit",
    "direction", "diversity", "neuron", "render", "render_channels", "standard",
]  # fmt: skip
