import pytest
import torch

from clkit import models


@pytest.mark.parametrize("name, dim", [("small_cnn", 128), ("resnet18", 512)])
def test_encoders_map_images_to_features_of_their_declared_width(name, dim):
    enc = models.encoder(name)
    assert enc.dim == dim
    assert enc(torch.rand(2, 3, 32, 32)).shape == (2, dim)


def test_resnet18_has_the_cifar_stem():
    net = models.resnet18().net
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    assert models.count_parameters(net) == pytest.approx(11.17e6, rel=0.01)


def test_encoders_take_grayscale_and_other_widths():
    enc = models.encoder("small_cnn", in_channels=1, width=8)
    assert enc(torch.rand(3, 1, 28, 28)).shape == (3, 64)


def test_unknown_encoder_lists_the_valid_ones():
    with pytest.raises(ValueError, match="small_cnn, resnet18"):
        models.encoder("vit")


@pytest.mark.parametrize("layers, expected", [(0, 0), (1, 1), (2, 2), (3, 3)])
def test_projection_head_has_the_asked_number_of_linear_layers(layers, expected):
    head = models.ProjectionHead(16, out_dim=8, hidden_dim=32, layers=layers)
    assert sum(isinstance(m, torch.nn.Linear) for m in head.modules()) == expected
    out = head(torch.randn(4, 16))
    assert out.shape == (4, head.out_dim) and head.out_dim == (16 if layers == 0 else 8)
