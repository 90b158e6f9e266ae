import json

import pytest

from clkit import cli


def test_train_writes_checkpoint_history_and_a_summary(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--epochs", "1", "--limit", "512", "--batch-size", "128", "--out", str(out)])
    assert code == 0
    assert {"checkpoint.pt", "history.json", "summary.json"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"trained", "random_init", "raw_pixels", "images_per_s"}
    printed = capsys.readouterr().out
    assert "raw pixels" in printed and "random-init encoder" in printed


def test_bad_choices_are_refused_with_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--dataset", "imagenet", "--out", "x"])
    assert "shapes" in capsys.readouterr().err


def test_every_registered_method_is_a_valid_name_and_an_unknown_one_lists_them(capsys):
    from clkit import methods

    for name in methods.METHODS:
        assert cli.parser().parse_args(["train", "--method", name, "--out", "x"]).method == name
    with pytest.raises(SystemExit):
        cli.main(["train", "--method", "mocov9", "--out", "x"])
    assert "valid methods are " + ", ".join(methods.METHODS) in capsys.readouterr().err


def test_train_runs_on_a_real_dataset_layout(tmp_path, monkeypatch, capsys):
    """The torchvision path end to end: CIFAR-10 files written in their on-disk format, then `clkit train`."""
    import torchvision.datasets as tvd
    from test_data import accept_written_files, write_cifar10

    write_cifar10(tmp_path, per_batch=64)
    accept_written_files(monkeypatch, tvd.CIFAR10, tmp_path / "cifar-10-batches-py", ("train_list", "test_list", "meta"))
    code = cli.main(["train", "--dataset", "cifar10", "--epochs", "1", "--batch-size", "64", "--root", str(tmp_path),
                     "--out", str(tmp_path / "run")])
    assert code == 0
    assert json.loads((tmp_path / "run" / "history.json").read_text())["config"]["n_train"] == 5 * 64
    assert "on cifar10 test, 64 images" in capsys.readouterr().out


def test_a_missing_real_dataset_is_an_error_with_advice(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "cifar10", "--root", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "download=True" in err and "shapes" in err
