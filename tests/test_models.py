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


def test_heads_say_where_batchnorm_goes_and_dino_normalises_its_last_layer():
    moco = models.ProjectionHead(16, 8, layers=2, hidden_bn=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in moco.modules())
    assert moco.net[0].bias is not None  # no BatchNorm after it: the Linear keeps its bias
    simsiam = models.ProjectionHead(16, 8, layers=3, out_bn=True)
    last = simsiam.net[-1]
    assert isinstance(last, torch.nn.BatchNorm1d) and not last.affine
    out = simsiam.train()(torch.randn(32, 16))
    torch.testing.assert_close(out.mean(0), torch.zeros(8), atol=1e-5, rtol=0)  # BN on the output: centred
    dino = models.ProjectionHead(16, 8, layers=2, weight_norm_last=True)
    x = torch.randn(5, 16)
    hidden = dino.net[:-1](x)
    v = dino.net[-1].linear.parametrizations.weight.original1
    expected = torch.nn.functional.normalize(hidden, dim=1) @ (v / v.norm(dim=1, keepdim=True)).T  # g fixed at 1
    torch.testing.assert_close(dino(x), expected)
    assert not dino.net[-1].linear.parametrizations.weight.original0.requires_grad
    with pytest.raises(ValueError, match="need a last layer"):
        models.ProjectionHead(16, 8, layers=0, out_bn=True)


def test_the_default_head_keeps_simclrs_layer_order():
    head = models.ProjectionHead(16, 8)
    kinds = [type(m).__name__ for m in head.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear"] and head.net[0].bias is None


def test_ema_update_is_the_formula_and_the_copy_is_frozen():
    torch.manual_seed(0)
    online = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    target = models.momentum_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    before = [p.clone() for p in target.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
        online[1].running_mean.fill_(0.5)
    models.ema_update_(target, online, momentum=0.9)
    for old, new, theta in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * theta)
    assert torch.equal(target[1].running_mean, online[1].running_mean)  # buffers are copied
    with pytest.raises(ValueError, match="momentum must be in"):
        models.ema_update_(target, online, 1.5)


def test_cosine_momentum_runs_from_base_to_final():
    assert models.cosine_momentum(0.0, base=0.996) == pytest.approx(0.996)
    assert models.cosine_momentum(1.0, base=0.996) == pytest.approx(1.0)
    assert models.cosine_momentum(0.5, base=0.99, final=1.0) == pytest.approx(0.995)


def test_the_queue_is_a_ring_buffer_of_unit_keys():
    torch.manual_seed(0)
    queue = models.NegativeQueue(size=5, dim=3)
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(5))
    first, second = torch.randn(3, 3), torch.randn(3, 3)
    queue.push(first)
    queue.push(second)  # rows 3, 4, then wraps to 0
    unit = torch.nn.functional.normalize
    torch.testing.assert_close(queue.keys[[1, 2]], unit(first[1:], dim=1))
    torch.testing.assert_close(queue.keys[[3, 4, 0]], unit(second, dim=1))
    assert int(queue.pointer) == 1 and "keys" in queue.state_dict()
    with pytest.raises(ValueError, match="at least one batch long"):
        queue.push(torch.randn(6, 3))


def test_prototypes_score_by_cosine_and_return_to_the_sphere():
    torch.manual_seed(0)
    protos = models.Prototypes(dim=4, count=6)
    z = torch.randn(5, 4)
    torch.testing.assert_close(protos(z), torch.nn.functional.cosine_similarity(z[:, None], protos.weight[None], dim=2))
    with torch.no_grad():
        protos.weight.mul_(3.0)
    protos.normalize_()
    torch.testing.assert_close(protos.weight.norm(dim=1), torch.ones(6))
