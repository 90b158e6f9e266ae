import pytest

from clkit import scale


def test_pick_follows_the_environment(monkeypatch):
    for name, expected in [("ci", 1), ("laptop", 2), ("FULL", 3)]:
        monkeypatch.setenv("CLKIT_SCALE", name)
        assert scale.pick(ci=1, laptop=2, full=3) == expected


def test_default_is_laptop_without_a_gpu(monkeypatch):
    monkeypatch.delenv("CLKIT_SCALE", raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert scale.current() == "laptop"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert scale.current() == "full"


def test_a_bad_scale_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("CLKIT_SCALE", "huge")
    with pytest.raises(ValueError, match="ci, laptop, full"):
        scale.current()
