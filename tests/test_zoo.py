"""The method zoo's runner: one protocol for every member, the two budgets, resuming, the summary; peak memory."""

import math
import sys

import pytest
import torch

from clkit import data, recipes, sweep, train
from clkit.sweep import zoo

TINY = {"n_train": 128, "n_test": 64, "epochs": 1, "batch_size": 32}
SMALL_SHAPES = {"train": data.make_shapes(192, seed=0), "test": data.make_shapes(96, seed=1)}


@pytest.fixture(autouse=True, scope="module")
def zoo_loads_small_shapes():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zoo, "load_split", lambda name, split: SMALL_SHAPES[split])
        yield


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "epochs.json"
    return out, zoo.zoo("epochs", ["simclr", "barlow_twins"], out=out, progress=False, scale_name="ci", **TINY)


def test_every_member_is_measured_by_the_same_protocol(tiny_zoo):
    out, results = tiny_zoo
    assert list(results["members"]) == ["simclr", "barlow_twins"] and zoo.load(out) == results
    for run in results["members"].values():
        assert [e["epoch"] for e in run["epochs"]] == [0, 1] and all("knn" in e for e in run["epochs"])
        final = run["final"]
        assert 0 <= final["knn"] <= 1 and 0 <= final["linear"] <= 1 and final["wall_s"] > 0
        assert final["s_per_epoch"] == pytest.approx(final["wall_s"]) and run["epochs_trained"] == 1
        assert run["recipe"]["n_train"] == TINY["n_train"] and run["recipe"]["batch_size"] == TINY["batch_size"]
    assert set(results["references"]) == {"raw_pixels", "random_init"}
    assert results["settings"]["seed"] == 0 and results["threads"] == torch.get_num_threads()


def test_a_zoo_resumes_and_trains_only_the_members_it_lacks(tiny_zoo, monkeypatch):
    out, results = tiny_zoo
    trained = []
    real = zoo.train_member
    monkeypatch.setattr(zoo, "train_member", lambda name, *a, **k: trained.append(name) or real(name, *a, **k))
    again = zoo.zoo("epochs", ["simclr", "vicreg"], out=out, progress=False, scale_name="ci", **TINY)
    assert trained == ["vicreg"] and again["members"]["simclr"] == results["members"]["simclr"]


def test_the_time_budget_gives_each_member_simclrs_training_time():
    reference = {"budget": "epochs", "settings": dict(vars(zoo.settings_from(**TINY))),
                 "members": {"simclr": {"final": {"s_per_epoch": 10.0}}, "swav": {"final": {"s_per_epoch": 25.0}},
                             "vicreg": {"final": {"s_per_epoch": 5.0}}}}
    s = zoo.settings_from(**{**TINY, "epochs": 10})
    assert zoo._epochs_at_equal_time("swav", s, reference) == 4  # 10 × 10 / 25
    assert zoo._epochs_at_equal_time("vicreg", s, reference) == 20
    assert zoo._epochs_at_equal_time("simclr", s, reference) == 10
    reference["members"]["swav"]["final"]["s_per_epoch"] = 1000.0
    assert zoo._epochs_at_equal_time("swav", s, reference) == 1  # never less than one epoch


def test_the_time_budget_refuses_a_missing_or_mismatched_reference(tiny_zoo):
    _, results = tiny_zoo
    with pytest.raises(ValueError, match="needs the 'epochs' results"):
        zoo.zoo("time", ["simclr"], progress=False, **TINY)
    with pytest.raises(ValueError, match="other settings"):
        zoo.zoo("time", ["simclr"], reference=results, progress=False, **{**TINY, "seed": 1})
    with pytest.raises(ValueError, match="lacks vicreg"):
        zoo.zoo("time", ["vicreg"], reference=results, progress=False, **TINY)


def test_the_time_budget_runs_from_its_reference(tiny_zoo):
    _, results = tiny_zoo
    timed = zoo.zoo("time", ["barlow_twins"], reference=results, progress=False, scale_name="ci", **TINY)
    expected = zoo._epochs_at_equal_time("barlow_twins", zoo.settings_from(**TINY), results)
    assert timed["budget"] == "time" and timed["members"]["barlow_twins"]["epochs_trained"] == expected


def test_bad_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid budgets are epochs, time"):
        zoo.zoo("steps")
    with pytest.raises(ValueError, match="the members are simclr, moco"):
        zoo.zoo("epochs", ["mocov9"])
    with pytest.raises(ValueError, match="valid settings are dataset, n_train"):
        zoo.settings_from(n_images=3)
    with pytest.raises(ValueError, match="valid scales"):
        zoo.preset("huge")


def test_every_member_has_a_recipe_at_every_scale():
    s = zoo.settings_from(**TINY)
    for name, member in zoo.ZOO.items():
        for scale_name in ("ci", "laptop", "full"):
            r = zoo.member_recipe(name, s, scale_name=scale_name)
            assert r.method == member.method and r.epochs == TINY["epochs"] and r.n_train == TINY["n_train"]
    assert zoo.member_recipe("dino_vit", s, scale_name="ci").encoder == "small_vit"


def test_the_summary_averages_seeds_and_refuses_other_settings(tiny_zoo):
    _, results = tiny_zoo
    other = {**results, "settings": {**results["settings"], "seed": 1},
             "members": {name: {**run, "final": {**run["final"], "knn": run["final"]["knn"] + 0.1}}
                         for name, run in results["members"].items()}}
    table = zoo.summary([results, other])
    knn = [results["members"]["simclr"]["final"]["knn"], other["members"]["simclr"]["final"]["knn"]]
    mean, std = table["simclr"]["knn"]
    assert mean == pytest.approx(sum(knn) / 2) and std == pytest.approx(math.sqrt(2) * 0.05)
    assert list(table) == ["simclr", "barlow_twins", "raw_pixels", "random_init"] and table["simclr"]["seeds"] == 2
    assert "SimCLR" in zoo.format_summary(table) and "Raw pixels" in zoo.format_summary(table)
    with pytest.raises(ValueError, match="differ in more than the seed"):
        zoo.summary([results, {**other, "settings": {**other["settings"], "epochs": 2}}])


def test_paired_differences_subtract_within_each_seed(tiny_zoo):
    _, results = tiny_zoo
    other = {**results, "settings": {**results["settings"], "seed": 1},
             "members": {**results["members"], "barlow_twins": {
                 **results["members"]["barlow_twins"], "final": {**results["members"]["barlow_twins"]["final"],
                                                                 "knn": 0.75}}}}
    by_hand = [results["members"]["barlow_twins"]["final"]["knn"] - results["members"]["simclr"]["final"]["knn"],
               0.75 - results["members"]["simclr"]["final"]["knn"]]
    assert zoo.paired_differences([results, other], "simclr", "barlow_twins") == pytest.approx(by_hand)
    with pytest.raises(ValueError, match="dino not in every run; the members are simclr, barlow_twins"):
        zoo.paired_differences([results, other], "simclr", "dino")
    with pytest.raises(ValueError, match="differ in more than the seed"):
        zoo.paired_differences([results, {**other, "settings": {**other["settings"], "epochs": 2}}], "simclr", "dino")


def test_the_ci_scale_runs_in_a_temporary_folder(monkeypatch):
    monkeypatch.setenv("CLKIT_SCALE", "ci")
    results = zoo.stored_or_run("time", 0, members=["vicreg"], progress=False, **TINY)
    assert results["budget"] == "time" and list(results["members"]) == ["vicreg"]
    assert not list(sweep.results_dir().glob("zoo_*_ci.json"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CPU peak is read from /proc (Linux)")
def test_peak_memory_sees_what_a_block_allocates():
    with train.PeakMemory("cpu") as peak:
        x = torch.ones(32, 1024, 1024)  # 128 MiB
        del x
    assert peak.kind == "cpu resident" and 120 <= peak.mib <= 200
    with train.PeakMemory("cpu") as small:
        y = torch.ones(1024)
        del y
    assert small.mib < 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CPU peak is read from /proc (Linux)")
def test_peak_memory_sees_a_block_served_from_memory_an_earlier_one_freed():
    # A freed 31 MiB mapping raises glibc's mmap threshold, so the next 30 MiB blocks come from the heap; freeing all
    # but the last leaves one large free chunk whose pages stay resident. A 128 MiB block fits inside it: unless the
    # free pages are handed back before the start is read, the resident set does not grow and the peak reads 0.
    first = torch.ones(31, 1024, 256)
    del first
    blocks = [torch.ones(30, 1024, 256) for _ in range(10)]
    del blocks[:-1]
    with train.PeakMemory("cpu") as peak:
        x = torch.ones(32, 1024, 1024)  # 128 MiB
        del x
    assert 120 <= peak.mib <= 200


def test_a_recipe_carries_a_methods_own_options_and_refuses_others():
    r = recipes.recipe("moco", "shapes", "ci", options={"queue_size": 512})
    assert len(recipes.build(r, (3, 32, 32), 10).queue) == 512
    with pytest.raises(ValueError, match="moco has no option.* its options are queue_size"):
        recipes.recipe("moco", "shapes", "ci", options={"queue": 512})
    assert "hidden_bn" in recipes.method_options("byol") and recipes.method_options("supervised") == []


def test_a_members_own_settings_win_over_the_shared_budget_and_keep_the_recipes_options():
    s = zoo.settings_from(**TINY)
    small = zoo.member_recipe("batch32", s, scale_name="ci", family="negatives")
    assert small.batch_size == 32 and small.options == {"queue_size": 0}
    assert zoo.member_recipe("batch256_queue", s, scale_name="ci", family="negatives").batch_size == TINY["batch_size"]
    byol = zoo.member_recipe("byol", s, scale_name="ci")
    assert byol.options == recipes.recipe("byol", "shapes", "ci").options  # the method's layer survives
    sh = zoo.member_recipe("margin_triplet_sh", s, scale_name="ci", family="losses")
    assert sh.method == "triplet" and recipes.build(sh, (3, 32, 32), 10).mining == "semi-hard"
    assert recipes.build(zoo.member_recipe("margin_triplet", s, scale_name="ci", family="losses"),
                         (3, 32, 32), 10).mining == "all"
    with pytest.raises(ValueError, match="valid families are zoo, negatives, losses, clusters"):
        zoo.member_recipe("simclr", s, family="mocos")
    with pytest.raises(ValueError, match="no negatives member 'simclr'"):
        zoo.member_recipe("simclr", s, family="negatives")


def test_every_family_member_builds_at_every_scale():
    s = zoo.settings_from(**TINY)
    for family, members in zoo.FAMILIES.items():
        for name in members:
            for scale_name in ("ci", "laptop", "full"):
                r = zoo.member_recipe(name, s, scale_name=scale_name, family=family)
                assert isinstance(recipes.build(r, (3, 32, 32), 10), torch.nn.Module)


def test_the_short_families_train_ten_epochs_on_a_laptop():
    assert zoo.preset("laptop") == {} and zoo.settings_from(**zoo.preset("laptop")).epochs == 30
    assert zoo.preset("laptop", "negatives") == zoo.preset("laptop", "losses") == {"epochs": 10}
    assert zoo.preset("ci", "negatives") == zoo.preset("ci")
    with pytest.raises(ValueError, match="valid families"):
        zoo.preset("laptop", "queues")


def test_the_clustering_members_store_each_test_images_cluster(monkeypatch):
    """The clusters family keeps SwAV's nearest prototype of every test image: what method.assignments gives for
    the trained model (captured here) on the test subset, in its order."""
    kept = {}
    real_build = recipes.build
    def build(*args, **kwargs):  # the last model built is the member's (the references build theirs first)
        kept["model"] = real_build(*args, **kwargs)
        return kept["model"]

    monkeypatch.setattr(recipes, "build", build)
    results = zoo.zoo("epochs", ["swav"], family="clusters", progress=False, scale_name="ci", **TINY)
    run = results["members"]["swav"]
    _, test_set = zoo.datasets(zoo.settings_from(**TINY))
    assert run["assignments"] == kept["model"].assignments(test_set.images).tolist()
    assert len(run["assignments"]) == TINY["n_test"] and max(run["assignments"]) < 100
    assert "assignments" not in zoo.zoo("epochs", ["simclr"], progress=False, scale_name="ci", **TINY)["members"][
        "simclr"]
