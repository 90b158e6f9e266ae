"""The speed benchmark's scripts still run: every pipeline for a step or two on a tiny batch on the CPU.

Not a timing test (benchmarks print figures, they are not timed); it only keeps bench/bench_pipelines.py and
bench/time_to_accuracy.py from rotting as the kit changes. The MFU ceiling's arithmetic is checked against a count
by hand and the recorded H100 files.
"""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_pipeline_trains_and_reports(capsys):
    pipelines = _script("bench_pipelines")
    result = pipelines.main(["--batch", "16", "--steps", "2", "--warmup", "1", "--workers", "0", "--threads", "1",
                             "--device", "cpu"])
    rows = {row["pipeline"]: row for row in result["rows"]}
    assert list(rows) == list(pipelines.PIPELINES)
    for name, row in rows.items():
        if name == "kornia" and "skipped" in row:
            assert "kornia is not installed" in row["skipped"]
            continue
        if name in ("kit_cudnn_benchmark", "kit_cudagraphs"):  # a GPU's settings
            assert "GPU setting" in row["skipped"]
            continue
        assert row["images_per_s"] > 0, name
        assert row["mfu"] is None  # a CPU has no bf16 peak in the table
    assert rows["kit"]["kit_over_this"] == pytest.approx(1.0)
    assert result["settings"]["flop_per_image_train"] > 0
    out = capsys.readouterr().out
    assert "images/s" in out and "kit ×" in out


def test_the_pipelines_bench_saves_its_rows_as_it_goes(tmp_path):
    pipelines = _script("bench_pipelines")
    args = pipelines.parse(["--batch", "8", "--steps", "1", "--warmup", "1", "--workers", "0", "--threads", "1",
                            "--device", "cpu", "--pipelines", "kit", "torchvision"])
    saved = []
    result = pipelines.measure(args, save=lambda partial: saved.append(json.loads(json.dumps(partial))))
    assert [[row["pipeline"] for row in partial["rows"]] for partial in saved] == [["kit"], ["kit", "torchvision"]]
    assert not any(partial["finished"] for partial in saved) and result["finished"]
    pipelines.main(["--batch", "8", "--steps", "1", "--warmup", "1", "--workers", "0", "--threads", "1", "--device",
                    "cpu", "--pipelines", "kit", "--json", str(tmp_path / "rows.json")])
    assert json.loads((tmp_path / "rows.json").read_text())["finished"]


def test_known_gpu_peaks_match_the_more_specific_name_first():
    pipelines = _script("bench_pipelines")
    names = [key for key, _ in pipelines.BF16_PEAKS]
    assert names.index("H100 PCIe") < names.index("H100")
    assert names.index("A10G") < names.index("A10")


def test_time_to_accuracy_says_when_it_uses_the_stand_in(tmp_path, capsys):
    tta = _script("time_to_accuracy")
    records = tta.main(["--root", str(tmp_path), "--n-train", "64", "--epochs", "1", "--batch-size", "32",
                        "--encoder", "small_cnn", "--device", "cpu"])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("data: STAND-IN") and "CIFAR-10 files are not under" in first
    assert len(records) == 1 and 0.0 <= records[0]["knn"] <= 1.0 and records[0]["wall_s"] > 0


def test_time_to_accuracy_trains_on_cifar10s_files_where_they_are(tmp_path, monkeypatch, capsys):
    """The race where the files are: CIFAR-10's python layout (80 + 16 images written here), no stand-in."""
    import torchvision.datasets as tvd
    from test_data import accept_written_files, write_cifar10

    write_cifar10(tmp_path, per_batch=16)
    accept_written_files(monkeypatch, tvd.CIFAR10, tmp_path / "cifar-10-batches-py", ("train_list", "test_list", "meta"))
    tta = _script("time_to_accuracy")
    records = tta.main(["--root", str(tmp_path), "--epochs", "2", "--batch-size", "32", "--encoder", "small_cnn",
                        "--device", "cpu"])
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"data: CIFAR-10 from {tmp_path} (80 + 16 images)"
    assert [r["epoch"] for r in records] == [1, 2] and 0.0 <= records[-1]["knn"] <= 1.0


def test_time_to_accuracy_monitors_every_so_many_epochs_and_after_the_last(tmp_path, capsys):
    tta = _script("time_to_accuracy")
    records = tta.main(["--root", str(tmp_path), "--n-train", "64", "--epochs", "3", "--batch-size", "32",
                        "--encoder", "small_cnn", "--device", "cpu", "--monitor-every", "2"])
    assert ["knn" in r for r in records] == [False, True, True]
    out = capsys.readouterr().out
    assert "kNN ≥ 85%: " in out and "kNN ≥ 90%: " in out  # the race's marks, reached or not, said at the end


def test_time_to_accuracy_keeps_its_records_after_every_epoch(tmp_path, monkeypatch, capsys):
    tta = _script("time_to_accuracy")
    written, write = [], tta.train.atomic_write_text
    monkeypatch.setattr(tta.train, "atomic_write_text",
                        lambda path, text: (written.append(len(json.loads(text)["epochs"])), write(path, text)))
    tta.main(["--root", str(tmp_path), "--n-train", "64", "--epochs", "2", "--batch-size", "32", "--encoder",
              "small_cnn", "--device", "cpu", "--json", str(tmp_path / "race.json")])
    assert written == [1, 2]  # a run cut short keeps the epochs it finished
    stored = json.loads((tmp_path / "race.json").read_text())
    assert [r["epoch"] for r in stored["epochs"]] == [1, 2] and stored["pace"]["epoch_s"] > 0
    assert set(stored["reached"]) == {"0.85", "0.90"}
    assert "epochs in 4 min" in capsys.readouterr().out


def test_time_to_accuracy_reports_the_first_epoch_at_each_target():
    tta = _script("time_to_accuracy")
    records = [{"epoch": 1, "wall_s": 20.0}, {"epoch": 2, "wall_s": 30.0, "knn": 0.86},
               {"epoch": 3, "wall_s": 40.0, "knn": 0.84}, {"epoch": 4, "wall_s": 55.0, "knn": 0.91}]
    assert tta.time_to_targets(records, (0.85, 0.90, 0.95)) == {
        "0.85": {"epoch": 2, "wall_s": 30.0}, "0.90": {"epoch": 4, "wall_s": 55.0}, "0.95": None}


def test_the_race_at_a_runs_pace_counts_the_epochs_that_fit():
    tta = _script("time_to_accuracy")
    # first epoch 20 s with its kNN; then 2 s of training an epoch, a kNN measurement taking 1 s at epoch 3 only
    records = [{"epoch": 1, "wall_s": 20.0, "seconds": 12.0, "images_per_s": 500.0, "knn": 0.2},
               {"epoch": 2, "wall_s": 22.0, "seconds": 2.0, "images_per_s": 500.0},
               {"epoch": 3, "wall_s": 25.0, "seconds": 2.0, "images_per_s": 500.0, "knn": 0.3},
               {"epoch": 4, "wall_s": 27.5, "seconds": 2.5, "images_per_s": 400.0}]
    pace = tta.pace(records)
    assert pace == {"first_epoch_s": 20.0, "epoch_s": 2.0, "monitor_s": 1.0, "images": 1000}
    assert tta.wall_s_for(pace, 1) == 21.0 and tta.wall_s_for(pace, 111) == 241.0
    assert tta.epochs_within(pace, 240.0) == 110 and tta.epochs_within(pace, 241.0) == 111
    assert tta.epochs_within(pace, 20.5) == 0
    assert tta.wall_s_for(pace, 500) > 600 and tta.epoch_s_needed(pace, 500, 600.0) == pytest.approx(579 / 499)
    assert tta.pace(records[:1]) is None


def test_the_race_is_printed_from_a_stored_run(tmp_path, capsys):
    tta = _script("time_to_accuracy")
    stored = Path(__file__).resolve().parents[1] / "bench/results/gpu_h100/run4_time_to_accuracy.json"
    tta.main(["--pace", str(stored)])
    out = capsys.readouterr().out
    assert "152 epochs in 4 min, 396 epochs in 10 min" in out  # run 4: 15.9 s, then 1.47 s an epoch, 1.51 s a kNN
    assert "90.3% after 500 epochs" in out and "in 10 min only at ≤ 1.17 s an epoch" in out


def test_the_race_trains_the_schedule_that_fits_its_minutes_at_a_stored_pace(tmp_path, capsys):
    tta = _script("time_to_accuracy")
    stored = tmp_path / "pace.json"  # first epoch 1 s, then 0.5 s an epoch, no kNN measured after the first
    stored.write_text(json.dumps({"epochs": [{"epoch": 1, "wall_s": 1.0, "seconds": 0.5, "images_per_s": 128.0},
                                             {"epoch": 2, "wall_s": 1.5, "seconds": 0.5, "images_per_s": 128.0}]}))
    tiny = ["--root", str(tmp_path), "--n-train", "64", "--batch-size", "32", "--encoder", "small_cnn", "--device",
            "cpu", "--pace", str(stored)]
    records = tta.main(tiny + ["--minutes", "0.025"])  # 1.5 s: the first epoch and one more
    assert [r["epoch"] for r in records] == [1, 2] and ["knn" in r for r in records] == [False, True]
    assert "the race for 0.025 min: 2 epochs" in capsys.readouterr().out
    assert tta.main(tiny) == []  # --pace alone trains nothing
    with pytest.raises(SystemExit):
        tta.main(tiny + ["--minutes", "0.01"])  # not even the first epoch fits
    with pytest.raises(SystemExit):
        tta.main(["--minutes", "4"])  # a schedule needs a pace to size it
    with pytest.raises(SystemExit):
        tta.main(tiny + ["--minutes", "4", "--epochs", "3"])  # one or the other
    assert "not one epoch fits" in capsys.readouterr().err


def test_gpu_breakdown_takes_a_step_apart_on_a_cpu_too(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))  # it reads bench_pipelines' helpers, as it does run from bench/
    breakdown = _script("gpu_breakdown")
    result = breakdown.main(["--batch", "8", "--steps", "2", "--warmup", "1", "--model", "small_cnn", "--device",
                             "cpu", "--trace", str(tmp_path / "kernels.txt"), "--variants", "default",
                             "cudnn_benchmark", "coordinate_descent"])
    assert set(result["rows"]) == {"augment", "network", "step"}
    assert set(result["variants"]) == {"default", "cudnn_benchmark", "coordinate_descent"}
    assert all(v["ms"] > 0 for v in result["variants"].values())
    assert all(row["ms"] > 0 for row in result["rows"].values())
    assert result["matmul_tflops"] is None and result["rows"]["step"]["mfu_datasheet"] is None  # no GPU
    assert "self_cpu_time_total" in (tmp_path / "kernels.txt").read_text()
    assert "augmentation share of a step" in capsys.readouterr().out


def test_gpu_breakdown_keeps_its_parts_and_trace_when_stopped_during_a_variant(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    breakdown = _script("gpu_breakdown")

    def stopped(name, *args):  # a time limit's kill, during the second variant
        if name == "cudnn_benchmark":
            raise KeyboardInterrupt
        return 1.0
    monkeypatch.setattr(breakdown, "network_variant", stopped)
    with pytest.raises(KeyboardInterrupt):
        breakdown.main(["--batch", "8", "--steps", "1", "--warmup", "1", "--model", "small_cnn", "--device", "cpu",
                        "--json", str(tmp_path / "parts.json"), "--trace", str(tmp_path / "kernels.txt"),
                        "--variants", "default", "cudnn_benchmark"])
    kept = json.loads((tmp_path / "parts.json").read_text())
    assert set(kept["rows"]) == {"augment", "network", "step"} and set(kept["variants"]) == {"default"}
    assert "self_cpu_time_total" in (tmp_path / "kernels.txt").read_text()


def test_the_simsiam_seeds_bench_records_each_run_as_it_ends(tmp_path):
    seeds = _script("simsiam_seeds")
    out = tmp_path / "seeds.json"
    rows = seeds.main(["--seeds", "0", "--threads", "1", "2", "--n-train", "300", "--epochs", "1", "--out", str(out)])
    assert [(r["seed"], r["threads"]) for r in rows] == [(0, 1), (0, 2)]
    assert all(0.0 <= r["knn"] <= 1.0 and list(r["knn_by_epoch"]) == [0, 1] for r in rows)
    assert json.loads(out.read_text()) == json.loads(json.dumps(rows))


def test_the_mfu_ceiling_counts_resnet18s_elementwise_work_and_reads_the_h100_runs(capsys):
    ceiling = _script("mfu_ceiling")
    result = ceiling.main([])  # the recorded H100 files: run 3's kernel trace and breakdown, run 4's kit row
    stages = [64 * 32 * 32, 128 * 16 * 16, 256 * 8 * 8, 512 * 4 * 4]  # one activation at each stage's size
    # ResNet-18 (CIFAR stem): at each stage four BatchNorms in its blocks and one more (the stem's or a shortcut's);
    # the SimCLR head's BatchNorm1d(512); a residual add at the end of each of the eight blocks
    sizes = result["sizes_per_view"]
    assert sorted(sizes["bn"]) == sorted([size for size in stages for _ in range(5)] + [512])
    assert sorted(sizes["add"]) == sorted(stages * 2)
    views = 2 * result["batch"]
    every = views * 2 * (8 * (5 * sum(stages) + 512) + 2 * 2 * sum(stages))  # bf16: 8 passes, an add's 2
    over_l2 = views * 2 * (8 + 2 * 2 / 5) * 5 * sum(stages[:2])  # at 1,024 views, only stages 1-2 exceed 50 MiB
    assert list(result["least_traffic_gb"].values()) == pytest.approx([every / 1e9, over_l2 / 1e9])
    assert result["trace_conv_ms"] == pytest.approx((24.493 + 13.518) / 5)  # the two operators' rows, 5 steps
    assert result["trace_busy_ms"] == pytest.approx(67.793 / 5)
    for floor, floor_ms in result["memory_floor_ms"].items():
        measured = result["ceilings"]["as measured"]
        assert measured["step_ms"][floor] == pytest.approx(result["trace_conv_ms"] + floor_ms)
        assert measured["mfu"][floor] == pytest.approx(result["flop_per_step"] / measured["step_ms"][floor] * 1e3
                                                       / 989e12)
        assert result["measured_mfu"] < measured["mfu"][floor] < result["target"]  # the README's claim
    assert "35% MFU needs" in capsys.readouterr().out


def test_the_optimiser_bench_steps_every_optimiser_with_gradients(capsys):
    bench = _script("bench_optim")
    result = bench.main(["--device", "cpu", "--encoder", "small_cnn", "--steps", "2", "--warmup", "1"])
    assert set(result["ms"]) == {"kit LARS", "lightly LARS", "kit SGD"}
    for name, ms in result["ms"].items():
        assert isinstance(ms, float) and ms > 0 or (name == "lightly LARS" and "not installed" in ms)
    assert "kit LARS ×" in capsys.readouterr().out
