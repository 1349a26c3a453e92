"""The MNIST lesson: template matching vs CNNs, robustness to deformations, conv/pool step by step."""

from .demos import (
    ConvDemo,
    PaddingDemo,
    PoolDemo,
    conv_demo,
    multichannel_demo,
    padding_demo,
    parse_matrix,
    pool_demo,
)
from .robustness import (
    DEFORMATIONS,
    Robustness,
    deform,
    deformation_examples,
    robustness,
)
from .templates import TemplateClassifier, TemplateScores

__all__ = [
    "DEFORMATIONS", "ConvDemo", "PaddingDemo", "PoolDemo", "Robustness", "TemplateClassifier", "TemplateScores",
    "conv_demo", "deform", "deformation_examples", "multichannel_demo", "padding_demo", "parse_matrix", "pool_demo",
    "robustness",
]  # fmt: skip
