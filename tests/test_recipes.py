"""Recipes: the one place for defaults, the one way methods are built, and checkpoints that rebuild them."""

import pytest
import torch

import clkit
from clkit import methods, recipes, train


def test_the_layers_compose_base_dataset_method_scale_then_overrides():
    laptop = recipes.recipe("simclr", "shapes", "laptop")
    assert (laptop.encoder, laptop.temperature, laptop.crop_min, laptop.epochs) == ("small_cnn", 0.2, 0.4, 20)
    assert (laptop.jitter_strength, laptop.grayscale_p) == (0.5, 0.5)
    ci = recipes.recipe("simclr", "shapes", "ci")
    assert ci.epochs == 1 and ci.n_train == 1024 and ci.lr == laptop.lr
    cifar = recipes.recipe("simclr", "cifar10", "full")
    assert (cifar.encoder, cifar.optimizer, cifar.temperature, cifar.crop_min, cifar.epochs) == (
        "resnet18", "sgd", 0.5, 0.08, 200)
    assert recipes.recipe("simclr", "shapes", "laptop", temperature=0.5).temperature == 0.5


def test_the_active_scale_is_the_default(monkeypatch):
    monkeypatch.setenv("CLKIT_SCALE", "laptop")
    assert recipes.recipe("simclr").epochs == 20
    monkeypatch.setenv("CLKIT_SCALE", "ci")
    assert recipes.recipe("simclr").epochs == 1


def test_bad_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid methods are simclr, supervised"):
        recipes.recipe("mocov9")
    with pytest.raises(ValueError, match="valid settings are .*temperature"):
        recipes.recipe("simclr", tau=0.1)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        recipes.recipe("simclr", temperature=0.0)
    with pytest.raises(ValueError, match="valid scales are ci, laptop, full"):
        recipes.recipe("simclr", scale_name="huge")


def test_build_makes_each_registered_method_with_the_recipes_settings():
    for name in methods.METHODS:
        r = recipes.recipe(name, "shapes", "ci", projection_dim=16)
        method = recipes.build(r, (3, 32, 32), num_classes=10)
        assert isinstance(method, methods.METHODS[name]) and method.spec["recipe"]["method"] == name
    simclr = recipes.build(recipes.recipe("simclr", "shapes", "ci", temperature=0.3), (3, 32, 32), 10)
    assert simclr.temperature.item() == pytest.approx(0.3) and simclr.augment.scale == (0.4, 1.0)


def test_build_is_the_same_model_as_building_by_hand():
    from clkit import augment, models

    r = recipes.recipe("simclr", "shapes", "laptop")
    train.seed_everything(0)
    built = recipes.build(r, (3, 32, 32), 10)
    train.seed_everything(0)
    views = augment.simclr(32, scale=(0.4, 1.0), jitter_strength=0.5, grayscale_p=0.5, blur_p=0.0)
    by_hand = methods.SimCLR(models.encoder("small_cnn"), views, temperature=0.2)
    for (name, a), (_, b) in zip(built.state_dict().items(), by_hand.state_dict().items()):
        assert torch.equal(a, b), name
    assert built.augment == by_hand.augment


def test_a_checkpoint_rebuilds_its_model(small_shapes, tmp_path):
    r = recipes.recipe("simclr", "shapes", "ci", projection_dim=16)
    train.seed_everything(0)
    method = recipes.build(r, small_shapes.shape, len(small_shapes.classes))
    train.fit(method, small_shapes, epochs=1, batch_size=64, out=tmp_path, progress=False)
    loaded = clkit.load(tmp_path)
    assert type(loaded) is methods.SimCLR and not loaded.training
    images = small_shapes.images[:8]
    torch.testing.assert_close(loaded.embed(images), method.eval().embed(images))
    assert clkit.load(tmp_path / "checkpoint.pt").spec == method.spec


def test_a_checkpoint_without_a_recipe_says_how_to_load_it(small_shapes, tmp_path):
    from clkit import augment, models

    method = methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8)
    train.fit(method, small_shapes, epochs=1, batch_size=64, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="built by hand.*load_state_dict"):
        clkit.load(tmp_path)
