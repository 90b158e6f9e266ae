"""The training loop: seeding, checkpoint/resume, the NaN guard, the history, and bad input met with a clear error."""

import contextlib
import errno
import io
import json
import math
import re
import types
import warnings

import pytest
import torch

from clkit import augment, data, methods, models, recipes, train
from clkit.losses import nt_xent
from clkit.train import files


@pytest.fixture(scope="module")
def tiny(small_shapes):
    return small_shapes.take(192, seed=0)


def simclr(seed=0):
    train.seed_everything(seed)
    return methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=16)


def weights(method):
    return torch.cat([p.detach().flatten() for p in method.state_dict().values() if p.is_floating_point()])


def test_same_seed_gives_the_same_weights(tiny):
    a, b = simclr(), simclr()
    ha = train.fit(a, tiny, epochs=2, batch_size=64, progress=False)
    hb = train.fit(b, tiny, epochs=2, batch_size=64, progress=False)
    torch.testing.assert_close(weights(a), weights(b), rtol=0, atol=0)
    assert ha.steps == hb.steps
    c = simclr()
    train.fit(c, tiny, epochs=2, batch_size=64, seed=1, progress=False)
    assert not torch.equal(weights(a), weights(c))


class StopAfter:
    def __init__(self, epoch):
        self.epoch = epoch

    def __call__(self, record):
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_resume_continues_to_the_same_weights(tiny, tmp_path, capsys):
    straight = simclr()
    full = train.fit(straight, tiny, epochs=3, batch_size=64, progress=False)

    interrupted = simclr()
    partial = train.fit(interrupted, tiny, epochs=3, batch_size=64, out=tmp_path, callbacks=[StopAfter(2)],
                        progress=False)
    assert partial.interrupted and "resume" in capsys.readouterr().out
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "history.json").exists()

    resumed = simclr(seed=123)  # different initial weights: everything must come from the checkpoint
    history = train.fit(resumed, tiny, epochs=3, batch_size=64, out=tmp_path, progress=False)
    torch.testing.assert_close(weights(resumed), weights(straight), rtol=0, atol=0)
    assert history["epoch"] == [1, 2, 3] and history.steps == full.steps
    assert json.loads((tmp_path / "history.json").read_text())["epochs"][-1]["epoch"] == 3
    assert train.History.load(tmp_path / "history.json").steps == history.steps


def test_resume_refuses_a_checkpoint_from_other_settings(tiny, tmp_path):
    train.fit(simclr(), tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="batch_size: 64 → 32"):
        train.fit(simclr(), tiny, epochs=1, batch_size=32, out=tmp_path, progress=False)
    train.fit(simclr(), tiny, epochs=1, batch_size=32, out=tmp_path, resume=False, progress=False)


class TurnsNaN(methods.SimCLR):
    def forward(self, batch):
        loss, logs = super().forward(batch)
        return methods.StepOutput(loss * math.nan if self.calls >= 4 else loss, logs)

    calls = 0

    def after_optimizer_step(self, progress):
        self.calls += 1


def test_a_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tiny, tmp_path):
    train.seed_everything(0)
    method = TurnsNaN(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=16)
    with pytest.raises(FloatingPointError, match="became nan at epoch 2, step 5"):
        train.fit(method, tiny, epochs=3, batch_size=48, out=tmp_path, progress=False)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in saved["method"].values() if v.is_floating_point())


def test_history_records_knn_from_epoch_zero_and_the_loss_falls(tiny, small_shapes_test):
    test = small_shapes_test.take(100)
    history = train.fit(simclr(), tiny, epochs=4, batch_size=64, lr=3e-3, monitor=(tiny, test), monitor_every=2,
                        progress=False)
    assert [r["epoch"] for r in history.epochs] == [0, 1, 2, 3, 4]
    assert [r["epoch"] for r in history.epochs if "knn" in r] == [0, 2, 4]
    assert all(0 <= v <= 1 for v in history["knn"])
    assert len(history.steps) == 4 * 3
    assert history["loss"][-1] < history["loss"][0] < math.log(2 * 64 - 1) + 0.05
    assert set(history.epochs[-1]) >= {"loss", "contrastive_acc", "temperature", "lr", "seconds", "images_per_s"}


def test_bad_settings_are_refused(tiny):
    with pytest.raises(ValueError, match="batch_size must be between 1 and the dataset size 192"):
        train.fit(simclr(), tiny, batch_size=1000, progress=False)
    with pytest.raises(ValueError, match="unknown optimizer .lamb.; valid optimizers are adamw, sgd, lars"):
        train.fit(simclr(), tiny, batch_size=64, optimizer="lamb", progress=False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        if not torch.cuda.is_available():
            train.resolve_device("cuda")
        else:
            raise ValueError("no CUDA GPU (skipped: a GPU is present)")


def test_measures_join_the_monitored_records(tiny):
    calls = []

    def measure(method):
        calls.append(method.training)
        return {"answer": torch.tensor(42.0)}

    history = train.fit(simclr(), tiny, epochs=2, batch_size=64, measures=[measure], progress=False)
    assert history["answer"] == [42.0, 42.0, 42.0] and calls == [False, False, False]


class RecordsHooks(methods.SimCLR):
    """Notes what the two hooks see: gradients before the step, changed weights after it."""

    events = []

    def before_optimizer_step(self, progress):
        weight = self.head.net[-1].weight
        self.events.append(("before", progress, weight.grad is not None, weight.detach().clone()))

    def after_optimizer_step(self, progress):
        self.events.append(("after", progress, None, self.head.net[-1].weight.detach().clone()))


def test_the_hooks_run_around_the_optimiser_step_with_the_progress(tiny):
    train.seed_everything(0)
    method = RecordsHooks(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=16)
    train.fit(method, tiny, epochs=2, batch_size=64, progress=False)
    events = method.events
    assert [e[0] for e in events] == ["before", "after"] * 6
    assert [e[1] for e in events[::2]] == pytest.approx([k / 6 for k in range(1, 7)])
    assert all(has_grad for _, _, has_grad, _ in events[::2])
    assert not torch.equal(events[0][3], events[1][3])  # the step changed the weights between the hooks


def test_monitor_every_and_log_every_must_be_positive(tiny):
    with pytest.raises(ValueError, match="monitor_every must be at least 1"):
        train.fit(simclr(), tiny, batch_size=64, monitor_every=0, progress=False)
    with pytest.raises(ValueError, match="log_every must be at least 1"):
        train.fit(simclr(), tiny, batch_size=64, log_every=0, progress=False)


def test_fit_draws_batches_from_any_record(small_shapes):
    """A text record goes through the same loop: the method reads its tokens."""

    class BagOfTokens(methods.Method):
        modality = "tokens"

        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.EmbeddingBag(50, 8)
            self.classifier = torch.nn.Linear(8, 2)
            self.seen = []

        def forward(self, batch):
            self.seen.append(batch.tokens.shape)
            loss = torch.nn.functional.cross_entropy(self.classifier(self.backbone(batch.tokens)), batch.labels)
            return methods.StepOutput(loss, {})

    g = torch.Generator().manual_seed(0)
    sentences = data.TextSet(torch.randint(1, 50, (40, 6), generator=g), torch.arange(40) % 2, ["a", "b"], "toy")
    method = BagOfTokens()
    history = train.fit(method, sentences, epochs=2, batch_size=8, progress=False)
    assert method.seen == [(8, 6)] * 10 and len(history.steps) == 10


def test_resume_refuses_a_checkpoint_of_another_recipe(tiny, tmp_path):
    from clkit import recipes

    def built(**changes):
        train.seed_everything(0)
        return recipes.build(recipes.recipe("simclr", "shapes", "ci", projection_dim=16, **changes), tiny.shape, 10)

    train.fit(built(), tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"recipe crop_min: 0.4 → 0.2"):
        train.fit(built(crop_min=0.2), tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)


# --------------------------------------------------------------------------- bad input, damaged files, what a run says


def test_a_damaged_checkpoint_is_named_with_what_to_do(tiny, tmp_path):
    train.fit(simclr(), tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)
    path = tmp_path / "checkpoint.pt"
    written = path.read_bytes()
    damages = {  # what a full disk, a killed copy or a stray write leaves, and how the message names it
        written[: len(written) // 2]: "torch.load failed: ",
        written[:100]: "torch.load failed: PytorchStreamReader failed reading zip archive: failed finding central",
        b"": "the file is empty",
        b"{not a checkpoint": "torch.load failed: ",
    }
    for damaged, reason in damages.items():
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is damaged \({reason}.*\); delete it, and train"):
            train.read_checkpoint(path)
    with pytest.raises(train.DamagedFile, match=r"is damaged .*; delete it, or pass resume=False to start over in"):
        train.fit(simclr(), tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)
    train.fit(simclr(), tiny, epochs=1, batch_size=64, out=tmp_path, resume=False, progress=False)
    assert train.read_checkpoint(path)["epoch"] == 1


def test_out_must_be_a_folder_that_can_be_written_before_training_starts(tiny, tmp_path, monkeypatch):
    trained = []
    notes = tmp_path / "notes.txt"
    notes.write_text("not a run folder")
    with pytest.raises(ValueError, match=r"notes.txt is a file, not a folder: give the folder for the run's files"):
        train.fit(simclr(), tiny, epochs=1, batch_size=64, out=notes, progress=False, callbacks=[trained.append])

    def read_only_file_system(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files, "tempfile", types.SimpleNamespace(TemporaryFile=read_only_file_system))
    with pytest.raises(ValueError, match=r"cannot write in .*run \(Read-only file system\): give a folder you can"):
        train.fit(simclr(), tiny, epochs=1, batch_size=64, out=tmp_path / "run", progress=False,
                  callbacks=[trained.append])
    assert trained == []


@pytest.mark.parametrize("device", ["tpu", "xla", "gpu"])
def test_unknown_devices_are_refused_with_the_valid_ones(device):
    with pytest.raises(ValueError, match=rf"device '{device}'; valid devices are auto, cpu, cuda, cuda:N .* and mps"):
        train.resolve_device(device)


def test_a_finished_run_says_so_trains_nothing_and_repairs_a_damaged_history(tiny, tmp_path, capsys):
    first = simclr()
    history = train.fit(first, tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)
    capsys.readouterr()
    again = simclr(seed=5)
    train.fit(again, tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)
    printed = capsys.readouterr().out
    assert f"Nothing to train: {tmp_path} holds this run, finished (epoch 1: loss {history.last('loss'):.3f}); " \
           "pass resume=False to train it again" in printed
    torch.testing.assert_close(weights(again), weights(first), rtol=0, atol=0)

    (tmp_path / "history.json").write_text("{garbage")
    with pytest.raises(ValueError, match=r"history.json is damaged \(not valid JSON: "):
        train.History.load(tmp_path / "history.json")
    with pytest.warns(UserWarning, match=r"history.json was damaged \(not valid JSON: .*\); it is rewritten from "
                                         r"checkpoint.pt"):
        train.fit(simclr(), tiny, epochs=1, batch_size=64, out=tmp_path, progress=False)
    assert train.History.load(tmp_path / "history.json").steps == history.steps


def test_an_interruption_is_reported_on_a_line_of_its_own_in_the_callers_words(tiny, tmp_path):
    advice = train.Advice(resume="run the same command again to resume", restart="pass --restart")
    terminal = io.StringIO()  # stdout and stderr (the progress bar) interleaved, as a terminal shows them
    with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(terminal):
        history = train.fit(simclr(), tiny, epochs=3, batch_size=64, out=tmp_path, callbacks=[StopAfter(2)],
                            advice=advice)
    assert history.interrupted
    line = f"Interrupted after epoch 2: the checkpoint of epoch 2 is in {tmp_path}; run the same command again to resume"
    assert f"\n{line}\n" in terminal.getvalue()
    assert "call fit again" not in terminal.getvalue()


class Collapsed(methods.SimCLR):
    """Every view mapped to the same point: the loss is log(2N − 1) at every step, and stays there."""

    def forward(self, batch):
        z1, z2 = self.encode(self.views(batch))
        point = torch.ones_like(z1) + 0 * (z1 + z2)  # still a function of the weights, so backward runs
        return methods.StepOutput(nt_xent(point, point, 0.2), {})


def test_a_run_whose_loss_sits_at_the_collapsed_value_warns_once(tiny):
    train.seed_everything(0)
    method = Collapsed(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=16)
    message = (r"the run looks collapsed: the training loss of epoch 2 \(4.844\) sits at 4.844, its value when every "
               r"view maps to the same point.* A lower learning rate \(it is 0.001\)")
    with pytest.warns(UserWarning, match=message) as caught:
        train.fit(method, tiny, epochs=3, batch_size=64, progress=False)
    assert sum("looks collapsed" in str(w.message) for w in caught) == 1


def test_a_learning_run_does_not_warn_and_only_a_loss_with_a_collapsed_value_reports_one(tiny):
    train.seed_everything(0)
    method = recipes.build(recipes.recipe("simclr", "shapes", "ci", projection_dim=16), tiny.shape, 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = train.fit(method, tiny, epochs=2, batch_size=32, lr=2e-3, progress=False)
    assert history["loss"][-1] < 0.95 * math.log(2 * 32 - 1)
    assert not [w for w in caught if "looks collapsed" in str(w.message)]
    assert method.collapsed_loss(32) == pytest.approx(math.log(63)) and method.collapsed_loss(1) is None
    positives_only = methods.PositivesOnly(models.encoder("small_cnn", width=4), augment.simclr(32))
    assert positives_only.collapsed_loss(32) is None  # its loss is 0 at collapse: the minimum it is built to find


def test_the_monitor_leaves_the_compiled_training_graphs_alone(tiny):
    # Measured through the compiled networks at its own batch sizes, the kNN monitor would make torch.compile
    # compile them again, the training graph with a symbolic batch size: one graph per network, once, here.
    from torch._dynamo.utils import counters

    method = simclr()
    torch._dynamo.reset()
    counters.clear()
    history = train.fit(method, tiny, epochs=2, batch_size=64, progress=False, compile=True,
                        monitor=(tiny, tiny.take(50, seed=1)))
    assert [round(e["knn"], 6) >= 0 for e in history.epochs] == [True] * 3  # epoch 0 too: before any training
    assert counters["frames"]["total"] == 2 and counters["stats"]["unique_graphs"] == 2  # backbone and head


def test_compiled_networks_train_like_eager_ones_and_keep_their_parameter_names(tiny, tmp_path):
    eager, compiled = simclr(), simclr()
    he = train.fit(eager, tiny, epochs=1, batch_size=64, progress=False)
    hc = train.fit(compiled, tiny, epochs=1, batch_size=64, progress=False, compile=True, out=tmp_path / "run")
    assert hc.config["compile"] and not he.config["compile"]
    torch.testing.assert_close(torch.tensor(hc.steps), torch.tensor(he.steps), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(weights(compiled), weights(eager), rtol=1e-3, atol=1e-5)
    saved = train.read_checkpoint(tmp_path / "run" / "checkpoint.pt")["method"]
    assert set(saved) == set(eager.state_dict())  # no "_orig_mod." in the names: the checkpoint loads anywhere


def test_compile_takes_a_switch_or_a_torch_compile_mode_and_refuses_others(tiny):
    from clkit.train import compiling

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert [compiling.compile_mode(None, cpu), compiling.compile_mode(None, gpu)] == [None, "default"]
    assert [compiling.compile_mode(False, gpu), compiling.compile_mode(True, cpu)] == [None, "default"]
    assert compiling.compile_mode("reduce-overhead", cpu) == "reduce-overhead"
    assert compiling.uses_cuda_graphs("reduce-overhead", gpu) and not compiling.uses_cuda_graphs("reduce-overhead", cpu)
    assert not compiling.uses_cuda_graphs("default", gpu)
    with pytest.raises(ValueError, match="compile must be True, False, None .* reduce-overhead.*got 'fast'"):
        train.fit(simclr(), tiny, epochs=1, batch_size=64, progress=False, compile="fast")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graphs_train_on_a_gpu_like_the_default_compiled_networks(tiny):
    # BYOL: an online and a momentum network, both compiled, each step's outputs read before the next replay
    def byol():
        train.seed_everything(0)
        return recipes.build(recipes.recipe("byol", "shapes", "ci"), tiny.shape, 10)

    plain, graphs = byol(), byol()
    hp = train.fit(plain, tiny, epochs=2, batch_size=64, progress=False, device="cuda", amp=False, compile=True)
    hg = train.fit(graphs, tiny, epochs=2, batch_size=64, progress=False, device="cuda", amp=False,
                   compile="reduce-overhead", monitor=(tiny, tiny.take(50, seed=1)))
    assert hg.config["compile"] == "reduce-overhead"
    torch.testing.assert_close(torch.tensor(hg.steps), torch.tensor(hp.steps), rtol=1e-2, atol=1e-3)
    assert hg.epochs[-1]["knn"] > 0


_PAGE_FAULTS = """
import json, resource, torch
from clkit.train.memory import _status_kib, reuse_freed_memory

def faults(n=8):  # minor page faults of each of n steps that allocate, fill and free 64 + 36 MiB
    out = []
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        x, y = torch.empty(16 << 20).fill_(1.0), torch.empty(9 << 20).fill_(1.0)
        del x, y
        out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return out

outside = faults()
with reuse_freed_memory() as took:
    inside = faults()
    with reuse_freed_memory():
        pass
    nested = faults(3)  # still inside the outer block
    kept = _status_kib("VmRSS")
print(json.dumps({"took": took, "outside": outside, "inside": inside, "nested": nested,
                  "returned_kib": kept - _status_kib("VmRSS")}))
"""


@pytest.mark.skipif(not train.memory._glibc(), reason="keeping freed memory is glibc's (Linux)")
def test_a_cpu_steps_freed_memory_is_kept_for_the_next_step_and_returned_after(tmp_path):
    import subprocess
    import sys

    # A fresh process: the C heap's state is not what earlier tests left in this one
    run = subprocess.run([sys.executable, "-c", _PAGE_FAULTS], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    pages = (16 + 9) * 2**20 * 4 // 4096  # a step's 100 MiB of float32, in 4 KiB pages
    assert result["took"] and min(result["outside"][1:]) > 0.9 * pages  # every step faults its pages in afresh ...
    assert sum(result["inside"][4:]) < 0.01 * pages  # ... but within the block, once warm, none
    assert sum(result["nested"]) < 0.01 * pages  # a nested block's end leaves the outer one in force
    assert result["returned_kib"] > 0.75 * 100 * 1024  # its end gives the kept memory back


def test_fit_trains_inside_reuse_freed_memory(tiny, monkeypatch):
    from clkit.train import loop

    inside = []

    @contextlib.contextmanager
    def recording():
        inside.append("entered")
        yield True
        inside.append("left")

    monkeypatch.setattr(loop, "reuse_freed_memory", recording)
    train.fit(simclr(), tiny, epochs=2, batch_size=64, progress=False,
              callbacks=[lambda record: inside.append(record["epoch"])])
    assert inside == ["entered", 1, 2, "left"]  # one block around every epoch
