"""The small ViT: shapes at the native and a smaller resolution, its position interpolation, gradients, size."""

from __future__ import annotations

import inspect

import pytest
import torch

from clkit import models
from clkit.models.vit import VisionTransformer, interpolate_positions


def vit(**options) -> models.Encoder:
    """A tiny ViT with 4 × 4 patches, so inputs of 8 to 32 pixels have several (the kit's default is 8 × 8)."""
    return models.encoder("small_vit", **{"dim": 16, "depth": 2, "heads": 2, "patch": 4, **options})


@pytest.mark.parametrize("size", [32, 16, 8])
def test_features_have_the_width_of_the_tokens_at_any_multiple_of_the_patch(size):
    torch.manual_seed(0)
    encoder = vit()
    h = encoder(torch.rand(3, 3, size, size))
    assert h.shape == (3, encoder.dim) == (3, 16) and torch.isfinite(h).all()
    assert vit(in_channels=1, image_size=28)(torch.rand(2, 1, 28, 28)).shape == (2, 16)


def test_position_interpolation_is_the_identity_at_the_native_grid():
    positions = torch.randn(1, 1 + 8 * 8, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(interpolate_positions(positions, (8, 8)), positions)


def test_position_interpolation_keeps_the_class_token_and_a_constant_grid():
    grid = torch.randn(1, 1, 5).expand(1, 64, 5)  # every patch at the same position vector
    positions = torch.cat([torch.randn(1, 1, 5), grid], dim=1)
    for shape in ((4, 4), (2, 6), (12, 12)):
        out = interpolate_positions(positions, shape)
        assert out.shape == (1, 1 + shape[0] * shape[1], 5)
        assert torch.equal(out[:, 0], positions[:, 0])
        torch.testing.assert_close(out[:, 1:], grid[:, :1].expand_as(out[:, 1:]))  # bicubic weights sum to 1


def test_a_smaller_input_reads_the_interpolated_positions(monkeypatch):
    import clkit.models.vit as vit_module

    calls = []
    monkeypatch.setattr(vit_module, "interpolate_positions",
                        lambda positions, grid: calls.append(grid) or interpolate_positions(positions, grid))
    torch.manual_seed(0)
    net = VisionTransformer(dim=16, depth=1, heads=2)
    net(torch.rand(2, 3, 16, 16))
    net(torch.rand(2, 3, 32, 32))
    assert calls == [(4, 4)]  # the 16 × 16 input only: the native size uses the embedding as it is


@pytest.mark.parametrize("size", [32, 16])
def test_gradients_reach_every_parameter(size):
    torch.manual_seed(0)
    encoder = vit()
    encoder(torch.rand(4, 3, size, size)).pow(2).sum().backward()
    for name, p in encoder.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_parameter_count_of_the_default():
    """The kit's default: patch 8, width 96, depth 4, 3 heads, MLP ratio 2 → 319,584 parameters."""
    d, c, p, grid, hidden, depth = 96, 3, 8, 4, 192, 4
    block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d)
    expected = (c * p * p * d + d) + d + (1 + grid * grid) * d + depth * block + 2 * d
    encoder = models.encoder("small_vit")
    assert models.count_parameters(encoder) == expected == 319_584
    assert encoder.dim == 96 and encoder.name == "small_vit"


def test_the_builder_names_its_image_size_so_recipes_pass_it():
    assert "image_size" in inspect.signature(models.ENCODERS["small_vit"]).parameters


def test_bad_sizes_are_refused_clearly():
    with pytest.raises(ValueError, match="image_size must be a multiple of patch"):
        vit(image_size=30)
    with pytest.raises(ValueError, match="dim must be a multiple of heads"):
        vit(dim=10, heads=4)
    with pytest.raises(ValueError, match="multiples of the patch size 4, got 18×18"):
        vit()(torch.rand(1, 3, 18, 18))
