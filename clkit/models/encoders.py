"""Encoders (backbones).

An encoder (the *backbone*) maps float images in [0, 1], (N, C, H, W), to features
``h`` (N, dim); a projection head maps ``h`` to the embeddings ``z`` the loss sees.
After training the head is thrown away and ``h`` is what we evaluate: features before
the head keep information (colour, orientation) that the loss taught the head to discard.

Every encoder carries its feature width as ``.dim`` so heads and probes can be sized
without running a forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torchvision
from torch import Tensor, nn

from clkit.models.vit import VisionTransformer


class Encoder(nn.Module):
    """A backbone with a known output width: ``forward(x: (N, C, H, W) float) -> (N, dim)``."""

    def __init__(self, net: nn.Module, dim: int, name: str):
        super().__init__()
        self.net = net
        self.dim = dim
        self.name = name

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, dim={self.dim}"


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def small_cnn(in_channels: int = 3, width: int = 16) -> Encoder:
    """A four-stage CNN for fast CPU runs: widths w, 2w, 4w, 8w, each conv-BN-ReLU then 2× pooling.

    With the default ``width=16``: about 0.1 M parameters and features of width 128, fast enough
    to train SimCLR on a laptop CPU in minutes (``width=32``: 0.4 M parameters, width 256, ~3× slower).
    """
    widths = [width, 2 * width, 4 * width, 8 * width]
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, c_out in enumerate(widths):
        layers.append(_conv_block(c_in, c_out))
        layers.append(nn.MaxPool2d(2) if i < len(widths) - 1 else nn.AdaptiveAvgPool2d(1))
        c_in = c_out
    layers.append(nn.Flatten())
    return Encoder(nn.Sequential(*layers), dim=widths[-1], name="small_cnn")


def resnet18(in_channels: int = 3) -> Encoder:
    """torchvision's ResNet-18 with the CIFAR stem: a 3×3 stride-1 first conv and no max-pool.

    The ImageNet stem (7×7 stride-2 conv, then max-pool) shrinks a 32×32 image to 8×8 before
    the first residual block and costs several points of accuracy on CIFAR-sized data.
    """
    net = torchvision.models.resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return Encoder(net, dim=dim, name="resnet18")


def small_vit(in_channels: int = 3, image_size: int = 32, **options: float) -> Encoder:
    """A small Vision Transformer (:class:`~clkit.models.vit.VisionTransformer`), its class token the features.

    ``image_size`` is the side its position embedding is learned for (other sides, multi-crop's local
    views, interpolate it); ``options`` (``patch``, ``dim``, ``depth``, ``heads``, ``mlp_ratio``) go to the
    transformer. The kit's default cuts 32 × 32 images into 8 × 8 patches (16 tokens and the class token; a
    16 × 16 local crop, 4): measured on one CPU thread, a training step then costs about what ``small_cnn``'s
    does, where 4 × 4 patches (64 tokens) cost 4.5× as much.
    """
    net = VisionTransformer(in_channels, image_size, **{"patch": 8, **options})
    return Encoder(net, dim=net.dim, name="small_vit")


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "small_cnn": small_cnn, "resnet18": resnet18, "small_vit": small_vit,
}


def encoder(name: str = "small_cnn", **kwargs) -> Encoder:
    """Build an encoder by name: ``"small_cnn"`` (fast on a CPU), ``"resnet18"`` (CIFAR stem), ``"small_vit"``.

    Keyword arguments go to the builder, e.g. ``encoder("small_cnn", width=16, in_channels=1)``.
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid encoders are {', '.join(ENCODERS)}")
    return ENCODERS[name](**kwargs)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
