"""The networks and their parts.

- :mod:`~clkit.models.encoders`: backbones with a known output width ``.dim`` (``small_cnn``, ``resnet18``);
- :mod:`~clkit.models.heads`: projection and prediction heads built from one block;
- :mod:`~clkit.models.momentum`: a momentum (EMA) copy and its cosine schedule;
- :mod:`~clkit.models.queue`: MoCo's queue of negatives;
- :mod:`~clkit.models.prototypes`: SwAV's prototypes;
- :mod:`~clkit.models.vit`: a small Vision Transformer whose position embedding follows the input's size;
- :mod:`~clkit.models.text`: a small transformer over token ids, for captions and sentences.

An encoder maps float images in [0, 1], (N, C, H, W), to features ``h`` (N, dim); a head maps
``h`` to the embeddings ``z`` the loss sees. After training the head is thrown away and ``h``
is what we evaluate.
"""

from clkit.models.encoders import ENCODERS, Encoder, count_parameters, encoder, resnet18, small_cnn, small_vit
from clkit.models.heads import NormalizedLinear, ProjectionHead, hidden_block
from clkit.models.momentum import cosine_momentum, ema_update_, momentum_copy
from clkit.models.prototypes import Prototypes
from clkit.models.queue import NegativeQueue
from clkit.models.text import TextTransformer, text_transformer
from clkit.models.tokens import TokenPredictor, grid_tokens
from clkit.models.vit import VisionTransformer, interpolate_positions

__all__ = [
    "ENCODERS", "Encoder", "NegativeQueue", "NormalizedLinear", "ProjectionHead", "Prototypes", "TextTransformer", "VisionTransformer",
    "count_parameters", "interpolate_positions", "small_vit", "text_transformer",
    "cosine_momentum", "ema_update_", "encoder", "hidden_block", "momentum_copy", "resnet18", "small_cnn",
    "TokenPredictor", "grid_tokens",
]
