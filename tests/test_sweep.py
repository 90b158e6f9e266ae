"""The measured sweep: what it records, incremental writing, resuming, refusals, and the CLI."""

import csv
import json
import math

import pytest

from clkit import cli, data, sweep

TINY = {"n_train": 128, "n_test": 64, "epochs": 1, "batch_size": 64, "heldout_images": 64, "projection_dim": 16}
SMALL_SHAPES = {"train": data.make_shapes(256, seed=0), "test": data.make_shapes(128, seed=1)}


@pytest.fixture(autouse=True, scope="module")
def sweep_loads_small_shapes():
    # Rendering the full 12,000 shapes takes seconds; the sweep's logic needs only a few hundred.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep.settings, "load_split", lambda name, split: SMALL_SHAPES[split])
        yield


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "t.json"
    results = sweep.sweep("temperature", [0.1, 0.5], out=out, progress=False, **TINY)
    return out, results


def test_a_sweep_records_every_metric_per_epoch_and_at_the_end(tiny_results):
    out, results = tiny_results
    assert results["complete"] and [r["value"] for r in results["runs"]] == [0.1, 0.5]
    assert results["settings"]["epochs"] == 1 and "temperature" not in results["settings"]
    assert {"device", "torch", "clkit", "python", "cpu_count"} <= set(results["environment"])
    for run in results["runs"]:
        assert [e["epoch"] for e in run["epochs"]] == [0, 1]
        for record in run["epochs"]:
            assert {"knn", "alignment", "uniformity", "contrastive_acc_heldout", "temperature_end"} <= set(record)
            assert 0 <= record["alignment"] <= 4 and record["uniformity"] <= 0
        assert {"loss", "contrastive_acc"} <= set(run["epochs"][1])
        assert set(run["final"]) == set(sweep.FINAL_KEYS)
        assert 0 <= run["final"]["linear"] <= 1 and run["final"]["temperature_end"] == pytest.approx(run["value"])
        assert run["wall_s"] > 0
    assert results["wall_s"] == pytest.approx(sum(r["wall_s"] for r in results["runs"]))
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [float(r["temperature"]) for r in rows] == [0.1, 0.5]
    assert {"knn", "linear", "alignment", "uniformity", "contrastive_acc_heldout", "wall_s"} <= set(rows[0])


def test_the_same_seed_gives_the_same_run(tiny_results):
    _, results = tiny_results
    again = sweep.sweep("temperature", [0.5], progress=False, **TINY)
    first, second = results["runs"][1], again["runs"][0]
    assert first["final"]["loss"] == second["final"]["loss"] and first["final"]["knn"] == second["final"]["knn"]


def test_an_interrupted_sweep_keeps_finished_values_and_a_rerun_skips_them(tmp_path, monkeypatch):
    out = tmp_path / "s.json"
    trained = []
    real = sweep.run._train_one

    def train_one(param, value, *args):
        trained.append(value)
        if value == 0.3 and len(trained) == 2:
            return None  # what an interrupted fit gives
        return real(param, value, *args)

    monkeypatch.setattr(sweep.run, "_train_one", train_one)
    first = sweep.sweep("temperature", [0.2, 0.3, 1.0], out=out, progress=False, **TINY)
    assert not first["complete"] and [r["value"] for r in first["runs"]] == [0.2]
    assert [r["value"] for r in sweep.load(out)["runs"]] == [0.2]
    second = sweep.sweep("temperature", [0.2, 0.3, 1.0], out=out, progress=False, **TINY)
    assert trained == [0.2, 0.3, 0.3, 1.0]
    assert second["complete"] and [r["value"] for r in second["runs"]] == [0.2, 0.3, 1.0]
    assert second["runs"][0] == first["runs"][0]


def test_results_of_other_settings_are_refused_not_mixed(tiny_results):
    out, _ = tiny_results
    with pytest.raises(ValueError, match=r"other settings \(epochs: 1 → 2\)"):
        sweep.sweep("temperature", [0.1], out=out, progress=False, **{**TINY, "epochs": 2})


def test_bad_requests_are_refused_with_the_valid_choices():
    with pytest.raises(ValueError, match="sweepable settings are .*temperature"):
        sweep.sweep("colour", [1])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sweep.sweep("temperature", [0.1, 0.0])
    with pytest.raises(ValueError, match="valid settings are"):
        sweep.sweep("temperature", [0.1], epoch=3)
    with pytest.raises(ValueError, match="swept setting"):
        sweep.sweep("temperature", [0.1], temperature=0.5)
    with pytest.raises(ValueError, match="valid scales"):
        sweep.preset("huge")


def test_a_damaged_results_file_is_named_and_never_trained_over(tmp_path):
    out = tmp_path / "s.json"
    for damage, reason in [('{"format": "clkit.sweep/1", "runs": [', "not valid JSON: "), ("", "not valid JSON: ")]:
        out.write_text(damage)
        with pytest.raises(ValueError, match=rf"s.json is damaged \({reason}.*\); delete it, or start the sweep over"):
            sweep.load(out)
        with pytest.raises(ValueError, match=r"s.json is damaged"):
            sweep.sweep("temperature", [0.1], out=out, progress=False, **TINY)
    out.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"s.json is not a clkit sweep result \(format 'list'"):
        sweep.load(out)


def test_presets_are_settings():
    for name in ("ci", "laptop", "full"):
        sweep.settings_from(**sweep.preset(name))
    assert sweep.preset("ci")["epochs"] <= 2


def test_describe_names_the_best_value_and_the_shape_of_each_curve(tiny_results):
    _, results = tiny_results
    fake = json.loads(json.dumps(results))
    fake["runs"] = [dict(fake["runs"][0], value=v, final=dict(fake["runs"][0]["final"], linear=acc, knn=acc,
                                                               contrastive_acc_heldout=c))
                    for v, acc, c in ((0.05, 0.5, 0.9), (0.3, 0.7, 0.7), (1.0, 0.6, 0.5))]
    text = sweep.describe(fake)
    assert "linear-probe accuracy: best at temperature = 0.3 (70.0%), an inverted U" in text
    assert "held-out contrastive accuracy: falling" in text
    assert "rank correlation between the two over the sweep: -0.50" in text


def test_stored_or_run_never_writes_into_the_repository_at_ci_scale(monkeypatch, tmp_path):
    monkeypatch.setenv("CLKIT_SCALE", "ci")
    monkeypatch.setattr(sweep.run, "results_dir", lambda: tmp_path)
    results = sweep.stored_or_run("t", "temperature", [0.5], progress=False, **TINY)
    assert results["complete"] and not list(tmp_path.iterdir())


def test_stored_or_run_loads_matching_results_and_reruns_on_request(monkeypatch, tmp_path, tiny_results):
    out, stored = tiny_results
    monkeypatch.setenv("CLKIT_SCALE", "laptop")
    monkeypatch.setattr(sweep.run, "results_dir", lambda: tmp_path)
    (tmp_path / "t_laptop.json").write_text(out.read_text())
    calls = []
    monkeypatch.setattr(sweep.run, "sweep", lambda *a, **k: calls.append((a, k)) or "ran")
    assert sweep.stored_or_run("t", "temperature", [0.1, 0.5], **TINY) == stored
    assert calls == []
    assert sweep.stored_or_run("t", "temperature", [0.1, 0.5], rerun=True, **TINY) == "ran"
    assert calls[-1][1]["resume"] is False
    assert sweep.stored_or_run("t", "temperature", [0.1, 0.5, 1.0], **TINY) == "ran"
    assert calls[-1][1]["resume"] is True  # same settings, one more value: keep the two finished
    assert sweep.stored_or_run("t", "temperature", [0.1, 0.5], **{**TINY, "epochs": 3}) == "ran"
    assert calls[-1][1]["resume"] is False


def test_cli_sweep_writes_results_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "cli.json"
    args = ["sweep", "--param", "temperature", "--values", "0.2,0.4", "--scale", "ci", "--n-train", "128",
            "--n-test", "64", "--batch-size", "64", "--epochs", "1", "--heldout-images", "64", "--out", str(out)]
    assert cli.main(args) == 0
    results = sweep.load(out)
    assert results["command"].startswith("clkit sweep --param temperature --values 0.2,0.4")
    assert results["settings"]["n_train"] == 128 and results["settings"]["lr"] == sweep.SweepSettings.lr
    printed = capsys.readouterr().out
    assert "temperature" in printed and "kNN" in printed and "values done" in printed


def test_cli_sweep_refuses_the_swept_setting_as_an_option(tmp_path, capsys):
    code = cli.main(["sweep", "--param", "temperature", "--values", "0.2", "--temperature", "0.5",
                     "--out", str(tmp_path / "x.json")])
    assert code == 2 and "swept setting" in capsys.readouterr().err


def test_a_restart_interrupted_before_its_first_value_keeps_the_old_results(tiny_results, monkeypatch, tmp_path):
    out, _ = tiny_results
    copy = tmp_path / "copy.json"
    copy.write_text(out.read_text())
    monkeypatch.setattr(sweep.run, "_train_one", lambda *args: None)
    results = sweep.sweep("temperature", [0.1, 0.5], out=copy, resume=False, progress=False, **TINY)
    assert results["runs"] == [] and not results["complete"]
    assert copy.read_text() == out.read_text()


# ----------------------------------------------------------------------------- seeds


def seeded(seed, finals, settings=None):
    """A sweep's results for one seed: value → {metric: final number} (the other metrics 0), two epochs each."""
    runs = []
    for value, final in finals.items():
        epochs = [{"epoch": e, "knn": final.get("knn", 0.0) * e / 2} for e in range(3)]
        runs.append({"value": value, "final": {key: final.get(key, 0.0) for key in sweep.FINAL_KEYS},
                     "epochs": epochs, "wall_s": 10.0})
    return {"format": sweep.FORMAT, "param": "temperature", "values": sorted(finals), "runs": runs,
            "settings": {"dataset": "shapes", "epochs": 8, **(settings or {}), "seed": seed}, "wall_s": 10.0 * len(runs)}


# Linear accuracy per seed; τ = 1 is missing from seed 2 (an interrupted sweep).
LINEAR = {0: {0.1: 0.40, 0.5: 0.50, 1.0: 0.30}, 1: {0.1: 0.46, 0.5: 0.54, 1.0: 0.36}, 2: {0.1: 0.43, 0.5: 0.58}}


def three_seeds():
    return [seeded(seed, {v: {"linear": acc, "knn": 0.2} for v, acc in finals.items()}) for seed, finals in LINEAR.items()]


def test_aggregate_gives_the_mean_and_sample_standard_deviation_per_value():
    summary = sweep.aggregate(three_seeds())
    assert summary["param"] == "temperature" and summary["seeds"] == [0, 1, 2]
    assert summary["values"] == [0.1, 0.5, 1.0] and summary["n"] == [3, 3, 2]
    # By hand. τ = 0.1: (0.40 + 0.46 + 0.43) / 3 = 0.43; deviations −0.03, 0.03, 0: sd = √(0.0018 / 2) = 0.03.
    # τ = 0.5: mean 0.54, deviations −0.04, 0, 0.04: sd = √(0.0032 / 2) = 0.04.
    # τ = 1: (0.30 + 0.36) / 2 = 0.33; deviations ∓0.03: sd = √(0.0018 / 1) ≈ 0.042426.
    assert summary["mean"]["linear"] == pytest.approx([0.43, 0.54, 0.33])
    assert summary["std"]["linear"] == pytest.approx([0.03, 0.04, 0.0424264069])
    assert summary["mean"]["knn"] == pytest.approx([0.2] * 3) and summary["std"]["knn"] == pytest.approx([0.0] * 3)
    assert set(summary["mean"]) == set(sweep.FINAL_KEYS) == set(summary["std"])
    assert "seed" not in summary["settings"] and summary["wall_s"] == 80.0


def test_one_seed_has_a_mean_and_no_spread():
    summary = sweep.aggregate(three_seeds()[0])
    assert summary["mean"]["linear"] == pytest.approx([0.40, 0.50, 0.30]) and summary["n"] == [1, 1, 1]
    assert all(math.isnan(s) for s in summary["std"]["linear"])
    assert sweep.mean_std([2.0, 4.0, 9.0]) == pytest.approx((5.0, math.sqrt((9 + 1 + 16) / 2)))


def test_epoch_curves_average_each_epoch_over_the_seeds():
    runs = [seeded(s, {0.5: {"knn": k}}) for s, k in ((0, 0.4), (1, 0.6))]  # knn at epoch e: k · e / 2
    (curve,) = sweep.epoch_curves(runs, "knn")
    assert curve["value"] == 0.5 and curve["epoch"] == [0, 1, 2] and curve["n"] == 2
    assert curve["mean"] == pytest.approx([0.0, 0.25, 0.5])
    assert curve["std"] == pytest.approx([0.0, math.sqrt(2 * 0.05**2), math.sqrt(2 * 0.1**2)])


def test_only_runs_of_one_sweep_with_distinct_seeds_are_averaged():
    with pytest.raises(ValueError, match=r"differ in more than the seed \(epochs\)"):
        sweep.aggregate([seeded(0, {0.1: {}}), seeded(1, {0.1: {}}, {"epochs": 9})])
    with pytest.raises(ValueError, match="the same seed appears twice"):
        sweep.aggregate([seeded(0, {0.1: {}}), seeded(0, {0.1: {}})])
    with pytest.raises(ValueError, match="no results"):
        sweep.aggregate([])


def test_the_summary_table_and_words_give_mean_and_spread():
    runs = three_seeds()
    table = sweep.format_summary(sweep.aggregate(runs))
    assert "43.0 ± 3.0" in table and "54.0 ± 4.0" in table and "33.0 ± 4.2" in table
    assert "mean ± standard deviation over 3 seeds [0, 1, 2]" in table
    text = sweep.describe(runs)
    assert "linear-probe accuracy: best at temperature = 0.5 (54.0 ± 4.0%), an inverted U" in text
    # 54 − 43 = 11 points against bars of 4 + 3: they do not overlap.
    assert "The runner-up, temperature = 0.1 (43.0 ± 3.0%), is 11.0 points lower; their mean ± sd bars do not overlap" in text
    assert "(means over 3 seeds, [0, 1, 2]; ± one standard deviation)" in text
    summary = sweep.aggregate(runs)
    assert sweep.ranking(summary, "linear") == [1, 0, 2]
    # 43 − 33 = 10 points against bars of 3 + 4.2: apart; kNN is 20% everywhere: the same.
    assert not sweep.bars_overlap(summary, "linear", 0, 2) and sweep.bars_overlap(summary, "knn", 0, 2)
    summary["std"]["linear"][2] = 0.08  # 10 points against 3 + 8: the bars overlap
    assert sweep.bars_overlap(summary, "linear", 0, 2)


def test_describe_says_when_the_best_pretext_and_the_best_probe_are_the_same_value():
    runs = [seeded(s, {0.1: {"linear": 0.4, "contrastive_acc_heldout": 0.3},
                       0.5: {"linear": 0.6 + s / 100, "contrastive_acc_heldout": 0.5}}) for s in (0, 1)]
    assert "the best pretext accuracy and the best linear probe are both at temperature = 0.5" in sweep.describe(runs)


def test_stored_or_run_keeps_one_file_per_seed(monkeypatch, tmp_path):
    monkeypatch.setenv("CLKIT_SCALE", "laptop")
    monkeypatch.setattr(sweep.run, "results_dir", lambda: tmp_path)
    first = sweep.stored_or_run("t_seed1", "temperature", [0.5], progress=False, seed=1, **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t_seed1_laptop.csv", "t_seed1_laptop.json"]
    assert first["settings"]["seed"] == 1 and sweep.load(tmp_path / "t_seed1_laptop.json")["settings"]["seed"] == 1
    monkeypatch.setattr(sweep.run, "sweep", lambda *a, **k: pytest.fail("stored results were not reused"))
    assert sweep.stored_or_run("t_seed1", "temperature", [0.5], seed=1, **TINY) == first


def test_a_fixed_number_of_steps_sets_the_epochs_per_batch_size():
    from clkit.sweep.run import epochs_of

    assert epochs_of(sweep.settings_from(epochs=8), 5000) == 8
    for batch, epochs in [(32, 1), (256, 8), (512, 17)]:
        s = sweep.settings_from(steps=152, batch_size=batch)
        assert epochs_of(s, 5000) == epochs and epochs * (5000 // batch) >= 152
