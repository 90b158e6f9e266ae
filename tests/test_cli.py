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
