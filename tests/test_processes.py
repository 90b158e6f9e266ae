"""The processes lesson's measurements and figures: one step of two processes against one, training three ways."""

import pytest
import torch.distributed as dist

from clkit.sweep import processes
from clkit import viz
from test_viz import assert_reads_on_a_projector

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


@pytest.fixture(scope="module")
def checks():
    return processes.step_check(world=2, images_per_process=16)


def test_gathered_steps_match_one_process_and_an_ungathered_one_does_not(checks):
    assert set(checks) == set(processes.STEP_MODES)
    for mode in ("global logits", "local logits"):
        assert checks[mode]["loss"] == pytest.approx(checks[mode]["reference_loss"], rel=1e-5)
        assert checks[mode]["gradient_error"] < 1e-3
    ungathered = checks["not gathered"]
    assert ungathered["loss"] < ungathered["reference_loss"]  # fewer negatives: an easier task, a lower loss
    assert ungathered["gradient_error"] > 1e-2


def test_the_step_errors_figure_reads_on_a_projector(checks):
    fig = viz.step_errors(checks)
    assert_reads_on_a_projector(fig)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == list(reversed(processes.STEP_MODES)) or labels == list(processes.STEP_MODES)


def test_training_three_ways_at_the_ci_scale_stores_nothing_and_reports_each_mode(monkeypatch):
    monkeypatch.setenv("CLKIT_SCALE", "ci")
    results = processes.stored_or_run(seed=0, n_train=128, n_test=64, batch_size=32)
    assert list(results["runs"]) == list(processes.MODES)
    one, gathered, alone = (results["runs"][m] for m in processes.MODES)
    assert one["world"] == 1 and gathered["world"] == alone["world"] == 2
    assert one["negatives"] == gathered["negatives"] == 2 * 32 - 2 and alone["negatives"] == 2 * 16 - 2
    assert all(0 <= r["knn"] <= 1 and len(r["loss"]) == 1 for r in results["runs"].values())
    assert not list(processes.results_dir().glob("processes_*_ci.json"))
    assert_reads_on_a_projector(viz.gathering_runs([results, results]))


def test_a_bad_mode_or_batch_is_refused():
    with pytest.raises(ValueError, match="valid modes are one process, gathered, not gathered"):
        processes.gathering("two", processes.ProcessSettings())
    with pytest.raises(ValueError, match="split evenly between 2 processes"):
        processes.gathering("gathered", processes.ProcessSettings(batch_size=33))
