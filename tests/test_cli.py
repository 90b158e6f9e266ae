import errno
import json
import types

import pytest

from clkit import cli, data
from clkit.train import files, loop


def test_train_writes_checkpoint_history_and_a_summary(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--epochs", "1", "--limit", "512", "--batch-size", "128", "--out", str(out)])
    assert code == 0
    assert {"checkpoint.pt", "history.json", "summary.json"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"trained", "random_init", "raw_pixels", "images_per_s"}
    printed = capsys.readouterr().out
    assert "raw pixels" in printed and "random-init encoder" in printed


@pytest.mark.parametrize("method", ["moco", "swav"])
def test_train_trains_a_zoo_method_by_name_and_a_checkpoint_rebuilds_it(method, tmp_path, capsys):
    import clkit

    out = tmp_path / method
    code = cli.main(["train", "--method", method, "--scale", "ci", "--limit", "128", "--batch-size", "32",
                     "--out", str(out)])
    assert code == 0 and f"{method} encoder" in capsys.readouterr().out
    assert type(clkit.load(out)).__name__ == {"moco": "MoCo", "swav": "SwAV"}[method]


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


# --------------------------------------------------------------------------- bad input: one error line, the command's own words


@pytest.fixture
def small_data(monkeypatch, small_shapes, small_shapes_test):
    """`clkit train` on the session's few hundred shapes instead of rendering the full 12,000."""
    monkeypatch.setattr(data, "load", lambda name, split, **_: small_shapes if split == "train" else small_shapes_test)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("clkit: error: "), err
    return err.strip()


def read_only_file_system(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files, "tempfile", types.SimpleNamespace(TemporaryFile=refuse))


@pytest.mark.parametrize("options, message", [
    (["--device", "tpu"], "unknown device 'tpu'; valid devices are auto, cpu, cuda, cuda:N (the N-th GPU) and mps"),
    (["--temperature", "inf"], "temperature must be > 0 and finite, got inf: logits are divided by τ"),
    (["--out", "{tmp}/notes.txt"], "notes.txt is a file, not a folder: give the folder for the run's files"),
    (["--out", "{tmp}/read-only/run"], "read-only/run (Read-only file system): give a folder you can write to"),
])
def test_bad_train_input_is_one_error_line_before_any_data_is_loaded(tmp_path, capsys, monkeypatch, options, message):
    (tmp_path / "notes.txt").write_text("not a run folder")
    if "read-only" in str(options):
        read_only_file_system(monkeypatch)
    monkeypatch.setattr(data, "load", lambda *args, **kwargs: pytest.fail("data was loaded before the input was checked"))
    args = ["train", "--out", str(tmp_path / "run")] + [o.format(tmp=tmp_path) for o in options]
    assert cli.main(args) == 2
    assert message in one_error_line(capsys)


def test_a_run_is_resumed_refused_and_restarted_in_the_commands_own_words(tmp_path, capsys, monkeypatch, small_data):
    out = tmp_path / "run"
    command = ["train", "--limit", "128", "--batch-size", "64", "--knn-k", "5", "--out", str(out)]
    real_epoch = loop._train_epoch

    def ctrl_c_in_epoch_2(step, records, batch_size, seed, epoch, *rest):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(step, records, batch_size, seed, epoch, *rest)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "_train_epoch", ctrl_c_in_epoch_2)
        assert cli.main(command + ["--epochs", "2"]) == 130
    lines = capsys.readouterr().out.splitlines()
    assert f"Interrupted during epoch 2: the checkpoint of epoch 1 is in {out}; run the same command again to " \
           "resume" in lines

    assert cli.main(command + ["--epochs", "3"]) == 2
    assert "(epochs: 2 → 3, recipe epochs: 2 → 3); use a new out folder, or pass --restart to start over in this " \
           "one" in one_error_line(capsys)

    checkpoint = out / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    assert cli.main(command + ["--epochs", "2"]) == 2
    assert f"{checkpoint} is damaged (torch.load failed: PytorchStreamReader failed reading zip archive: failed " \
           f"finding central directory); delete it, or pass --restart to start over in {out}" in one_error_line(capsys)

    assert cli.main(command + ["--epochs", "1", "--restart"]) == 0
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())["epochs"]] == [0, 1]
    capsys.readouterr()
    (out / "history.json").write_text("garbage")
    assert cli.main(command + ["--epochs", "1"]) == 0
    printed = capsys.readouterr()
    assert f"Nothing to train: {out} holds this run, finished (epoch 1: loss " in printed.out
    assert "pass --restart to train it again" in printed.out and "kNN accuracy (k=5)" in printed.out
    assert printed.err.startswith(f"clkit: warning: {out / 'history.json'} was damaged (not valid JSON: ")
    assert json.loads((out / "history.json").read_text())["epochs"][-1]["epoch"] == 1


def test_a_damaged_or_misplaced_sweep_output_is_one_error_line_naming_it(tmp_path, capsys):
    sweep = ["sweep", "--param", "temperature", "--values", "0.2", "--scale", "ci", "--out"]
    damaged = tmp_path / "results.json"
    damaged.write_text('{"format": "clkit.sweep/1", "runs": [')
    assert cli.main(sweep + [str(damaged)]) == 2
    assert f"{damaged} is damaged (not valid JSON: " in one_error_line(capsys)
    assert cli.main(sweep + [str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder: out names the JSON file for the results" in one_error_line(capsys)


@pytest.mark.parametrize("options, amp, compiled", [([], False, False), (["--precision", "bf16"], True, False),
                                                     (["--precision", "fp32", "--compile", "off"], False, False),
                                                     (["--compile", "graphs"], False, "reduce-overhead")])
def test_train_takes_the_precision_and_compile_switches_to_fit(tmp_path, capsys, options, amp, compiled):
    out = tmp_path / "run"
    code = cli.main(["train", "--epochs", "1", "--limit", "128", "--batch-size", "64", "--device", "cpu",
                     "--out", str(out), *options])
    assert code == 0
    config = json.loads((out / "history.json").read_text())["config"]
    assert (config["amp"], config["compile"]) == (amp, compiled)


def test_an_unknown_precision_is_refused_with_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--precision", "fp16", "--out", "x"])
    err = capsys.readouterr().err
    assert "--precision" in err and "'fp16'" in err and all(c in err for c in ("auto", "fp32", "bf16"))
