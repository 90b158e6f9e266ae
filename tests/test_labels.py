"""Label efficiency and the lessons' stored sweeps."""

import pytest
import torch

from clkit import scale
from clkit.sweep import labels, lessons


def test_labelled_subsets_are_balanced_and_nested():
    y = torch.arange(300) % 3
    two, five = labels.labelled_subset(y, 2, seed=4), labels.labelled_subset(y, 5, seed=4)
    assert torch.bincount(y[five]).tolist() == [5, 5, 5]
    assert set(two.tolist()) <= set(five.tolist())
    assert not torch.equal(two, labels.labelled_subset(y, 2, seed=5))
    with pytest.raises(ValueError, match="class 0 has 100"):
        labels.labelled_subset(y, 101)


def test_one_seed_of_label_efficiency_at_the_ci_scale(monkeypatch):
    monkeypatch.setenv(scale.ENV_VAR, "ci")
    results = labels.label_efficiency(**labels.preset(), progress=False)
    assert results["per_class"] == [1, 2, 5]
    for name in labels.CLASSIFIERS:
        assert len(results["accuracy"][name]) == 3
        assert all(0 <= a <= 1 for a in results["accuracy"][name])
    two = labels.summary([results, {**results, "settings": {**results["settings"], "seed": 1}}])
    assert two["mean"]["simclr"] == results["accuracy"]["simclr"] and two["std"]["simclr"] == [0.0] * 3
    with pytest.raises(ValueError, match="more than the seed"):
        labels.summary([results, {**results, "settings": {**results["settings"], "n_test": 7}}])


@pytest.mark.parametrize("bad, match", [({"per_class": (5, 2)}, "ascending"), ({"scratch_steps": 0}, "at least 1"),
                                        ({"labels": 3}, "valid settings")])
def test_bad_label_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        labels.label_efficiency(progress=False, **bad)


def test_lesson_sweeps_take_the_scale_sizes_without_the_swept_setting(monkeypatch):
    monkeypatch.setenv(scale.ENV_VAR, "ci")
    param, values, settings = lessons.arguments("batch_size", seed=2)
    assert param == "batch_size" and "batch_size" not in settings and settings["seed"] == 2
    assert max(values) < settings["n_train"] and lessons.seeds_now() == [0]
    param, values, settings = lessons.arguments("augment_colour_off", seed=0)
    assert settings["jitter_strength"] == 0.0 and values == [1.0, 0.4]
    with pytest.raises(ValueError, match="the stored sweeps are"):
        lessons.arguments("nope", 0)
