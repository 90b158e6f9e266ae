import math

import pytest
import torch

from clkit import augment, losses, methods, models


def simclr(**kwargs):
    return methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8, **kwargs)


def test_simclr_loss_is_nt_xent_of_its_own_projections():
    torch.manual_seed(0)
    method = simclr(temperature=0.2)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    torch.manual_seed(1)
    loss, logs = method(methods.Batch(images))
    torch.manual_seed(1)
    v1, v2 = augment.two_views(images, method.augment)
    z1, z2 = method.head(method.backbone(torch.cat([v1, v2]))).chunk(2)
    torch.testing.assert_close(loss, losses.nt_xent(z1, z2, 0.2))
    assert set(logs) == {"contrastive_acc", "temperature"}
    assert logs["temperature"].item() == pytest.approx(0.2)


def test_embed_gives_backbone_features_and_project_gives_z():
    method = simclr().eval()
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    assert method.embed(images).shape == (5, 32)
    assert method.project(images).shape == (5, 8)


def test_learned_temperature_is_a_parameter_clamped_at_the_max_logit_scale():
    method = simclr(temperature=0.07, learn_temperature=True)
    assert any(p is method.log_logit_scale for p in method.parameters())
    with torch.no_grad():
        method.log_logit_scale.fill_(math.log(1000))
    assert method.temperature.item() == pytest.approx(0.01)
    assert "log_logit_scale" not in dict(simclr().named_parameters())


def test_supervised_needs_labels():
    method = methods.Supervised(models.encoder("small_cnn", width=4), augment.simclr(32), num_classes=3)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    loss, logs = method(methods.Batch(images, torch.tensor([0, 1, 2, 0])))
    assert loss.item() == pytest.approx(math.log(3), abs=0.5) and "train_acc" in logs
    with pytest.raises(ValueError, match="needs labels"):
        method(methods.Batch(images))


def test_forward_is_the_step_and_returns_a_step_output():
    torch.manual_seed(0)
    method = simclr(temperature=0.2)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    out = method(methods.Batch(images))
    assert isinstance(out, methods.StepOutput) and out.loss.requires_grad
    assert all(not v.requires_grad and v.ndim == 0 for v in out.logs.values())


def test_encode_runs_the_network_once_per_resolution_and_keeps_the_views_order():
    torch.manual_seed(0)
    method = simclr().eval()
    calls = []

    def network(x):
        calls.append(tuple(x.shape))
        return method.head(method.backbone(x))

    views = [torch.rand(4, 3, 32, 32), torch.rand(4, 3, 16, 16), torch.rand(4, 3, 32, 32), torch.rand(4, 3, 16, 16)]
    out = method.encode(views, network)
    assert calls == [(8, 3, 32, 32), (8, 3, 16, 16)]  # two passes for four views
    with torch.no_grad():
        for view, z in zip(views, out):
            torch.testing.assert_close(z, network(view))


def test_a_list_of_recipes_gives_one_view_each():
    from clkit import augment as aug

    method = methods.SimCLR(models.encoder("small_cnn", width=4), aug.byol(32), projection_dim=8)
    assert len(method.recipes) == 2 and method.recipes[0] != method.recipes[1]
    views = method.views(methods.Batch(torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)))
    assert [v.shape for v in views] == [(3, 3, 32, 32)] * 2
    with pytest.raises(ValueError, match="at least two views"):
        methods.SimCLR(models.encoder("small_cnn", width=4), [aug.simclr(32)])


def test_a_method_says_which_field_it_reads():
    method = simclr()
    with pytest.raises(ValueError, match="reads images"):
        method.input_of(methods.Batch(tokens=torch.zeros(2, 3, dtype=torch.long)))


def test_the_learned_temperature_gets_its_own_learning_rate_and_moves_further_with_it(small_shapes):
    from clkit import train

    ends = {}
    for factor in (1.0, 50.0):
        torch.manual_seed(0)
        method = simclr(temperature=0.5, learn_temperature=True, temperature_lr_scale=factor)
        opt = train.optim.make_optimizer(method, "adamw", 1e-3, 1e-4)
        (group,) = [g for g in opt.param_groups if any(p is method.log_logit_scale for p in g["params"])]
        assert group["lr"] == pytest.approx(1e-3 * factor) and group["weight_decay"] == 0.0
        train.fit(method, small_shapes, epochs=1, batch_size=32, lr=1e-3, warmup_epochs=0, progress=False)
        ends[factor] = abs(math.log(method.temperature.item() / 0.5))
    assert ends[50.0] > 5 * ends[1.0]
    with pytest.raises(ValueError, match="temperature_lr_scale"):
        simclr(learn_temperature=True, temperature_lr_scale=0.0)


def test_lr_scales_must_name_trainable_parameters():
    from clkit import train

    method = simclr()
    method.lr_scales = {"no_such_weight": 2.0}
    with pytest.raises(ValueError, match="not trainable parameters"):
        train.optim.make_optimizer(method, "adamw", 1e-3, 0.0)


@pytest.mark.parametrize("name, loss, logged", [
    ("barlow_twins", losses.barlow_twins, {"invariance", "redundancy"}),
    ("vicreg", losses.vicreg, {"invariance", "variance", "covariance"}),
])
def test_redundancy_methods_train_on_their_loss_of_their_own_projections(name, loss, logged):
    torch.manual_seed(0)
    method = methods.METHODS[name](models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    torch.manual_seed(1)
    out = method(methods.Batch(images))
    torch.manual_seed(1)
    v1, v2 = augment.two_views(images, method.augment)
    z1, z2 = method.head(method.backbone(torch.cat([v1, v2]))).chunk(2)
    torch.testing.assert_close(out.loss, loss(z1, z2).loss)
    assert set(out.logs) == logged and all(not v.requires_grad for v in out.logs.values())


@pytest.mark.parametrize("name", ["barlow_twins", "vicreg"])
def test_redundancy_methods_train_a_few_steps_from_their_recipe(name, small_shapes):
    from clkit import recipes, train

    r = recipes.recipe(name, "shapes", "ci")
    train.seed_everything(0)
    method = recipes.build(r, tuple(small_shapes.images.shape[1:]), 10)
    history = train.fit(method, small_shapes, epochs=1, batch_size=32, lr=1e-3, progress=False)
    assert math.isfinite(history["loss"][-1]) and "invariance" in history.epochs[-1]
