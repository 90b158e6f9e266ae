"""Several processes: fit's step runs through DistributedDataParallel, so the ranks stay in step.

Two gloo processes on the CPU train the same model on different halves of every batch. Without
the gradient all-reduce (a loop that called a method other than ``forward``, say) their weights
would drift apart after the first step; with it they stay equal to the last bit of tolerance.
A run of two processes resumes on one (the global batch kept), and the command line starts two
processes itself (``--devices 2``). tests/test_gathering.py checks the step against one process.
"""

import contextlib
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _process_group(rank: int, world: int, port: int):
    """This process as ``rank`` of a gloo group of ``world`` on this machine, one thread each; left at the end."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _interrupt_after(epochs: int):
    def callback(record: dict) -> None:
        if record["epoch"] == epochs:
            raise KeyboardInterrupt  # as Ctrl-C would, on every rank after the same epoch
    return callback


def _worker(rank: int, world: int, port: int, out: str) -> None:
    with _process_group(rank, world, port):
        from clkit import augment, data, methods, models, train

        records = data.make_shapes(128, seed=0)
        train.seed_everything(0)  # the same initial weights (DDP also broadcasts rank 0's)
        method = methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8)
        seen, rng = [], []
        method.register_forward_pre_hook(lambda module, args: seen.append(args[0].images[:2].clone()))
        method.register_forward_pre_hook(lambda module, args: rng.append(torch.random.get_rng_state()))
        history = train.fit(method, records, epochs=3, batch_size=16, lr=1e-2, progress=False,
                            out=os.path.join(out, "run"), callbacks=[_interrupt_after(2)])
        assert history.interrupted  # on both ranks, after epoch 2: its checkpoint is kept for a resume
        weights = torch.cat([p.detach().flatten() for p in method.parameters()])
        torch.save({"weights": weights, "first_images": seen[0], "first_rng": rng[0], "steps": history.steps,
                    "world_size": history.config["world_size"], "global_batch": history.config["global_batch_size"],
                    "global_bn": any(isinstance(m, train.distributed.GlobalBatchNorm) for m in method.modules()),
                    "gather_after": method.gather}, os.path.join(out, f"rank{rank}.pt"))


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_train_through_ddp_and_end_with_the_same_weights(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world_size"] == 2 and r0["global_batch"] == 32
    assert r0["global_bn"] and r0["gather_after"] is None  # BatchNorm spanned both; the gather left with the run
    assert not torch.equal(r0["first_images"], r1["first_images"])  # each rank trains on its own slice
    assert not torch.equal(r0["first_rng"], r1["first_rng"])  # and draws its own augmentations
    # Each computes the global batch's loss from every process's embeddings (gathered), so the losses agree ...
    torch.testing.assert_close(torch.tensor(r0["steps"]), torch.tensor(r1["steps"]))
    torch.testing.assert_close(r0["weights"], r1["weights"], rtol=1e-5, atol=1e-6)  # ... and gradients were averaged
    assert (tmp_path / "run" / "checkpoint.pt").exists()  # written by rank 0


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_a_two_process_checkpoint_resumes_on_one_process(tmp_path):
    from clkit import augment, data, methods, models, train

    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    trained = torch.load(tmp_path / "rank0.pt", weights_only=True)["weights"]
    records = data.make_shapes(128, seed=0)
    train.seed_everything(0)
    method = methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8)
    with pytest.raises(ValueError, match="global_batch_size: 32 → 16"):  # one process, the same per-process batch
        train.fit(method, records, epochs=3, batch_size=16, lr=1e-2, progress=False, out=tmp_path / "run")
    saved = train.read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert saved["epoch"] == 2
    method.load_state_dict(saved["method"])  # the checkpoint of the two processes loads into a plain method
    torch.testing.assert_close(torch.cat([p.detach().flatten() for p in method.parameters()]), trained)
    history = train.fit(method, records, epochs=3, batch_size=32, lr=1e-2, progress=False, out=tmp_path / "run")
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3] and history.config["world_size"] == 1
    assert len(history.steps) == 3 * (128 // 32)  # epoch 3 took the global batch's steps

def _monitor_worker(rank: int, world: int, port: int, out: str) -> None:
    with _process_group(rank, world, port):
        from clkit import augment, data, evaluate, methods, models, train

        bank, queries = data.make_shapes(37, seed=0), data.make_shapes(11, seed=1)  # 37: shares of 19 and 18
        train.seed_everything(0)
        method = methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8)
        history = train.fit(method, data.make_shapes(64, seed=2), epochs=1, batch_size=16, lr=1e-2, progress=False,
                            monitor=(bank, queries), knn_k=3)
        embedded = []
        method.backbone.register_forward_pre_hook(lambda module, args: embedded.append(len(args[0])))
        shared = evaluate.shared_features(method, bank)
        shared_count = sum(embedded)
        torch.save({"shared": shared, "alone": evaluate.features(method, bank), "shared_count": shared_count,
                    "fit_knn": history.epochs[-1]["knn"],
                    "alone_knn": evaluate.knn_monitor(bank, queries, k=3)(method)["knn"]},
                   os.path.join(out, f"monitor{rank}.pt"))


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_the_processes_share_out_the_monitors_features_and_each_gets_them_all_in_order(tmp_path):
    mp.spawn(_monitor_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"monitor{r}.pt", weights_only=True) for r in (0, 1))
    assert (r0["shared_count"], r1["shared_count"]) == (19, 18)  # each process embedded its share of the 37 ...
    for r in (r0, r1):  # ... and holds all 37 features, in the bank's order, as one process embedding them all
        assert r["shared"].shape == (37, 32)
        torch.testing.assert_close(r["shared"], r["alone"])
        assert r["fit_knn"] == r["alone_knn"]  # fit's monitor (shared) reads what a lone kNN reads
    assert r0["fit_knn"] == r1["fit_knn"]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_the_command_line_trains_on_two_processes_and_one_process_resumes(tmp_path):
    import subprocess
    import sys

    run = tmp_path / "run"
    common = [sys.executable, "-m", "clkit", "train", "--method", "simclr", "--scale", "ci", "--limit", "256",
              "--batch-size", "64", "--device", "cpu", "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([*common, "--epochs", "1", "--devices", "2"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("kNN accuracy") == 1  # rank 0 reports, once
    history = __import__("json").loads((run / "history.json").read_text())
    assert history["config"]["world_size"] == 2 and history["config"]["batch_size"] == 32
    one = subprocess.run([*common, "--epochs", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "Nothing to train" in one.stdout and "kNN accuracy" in one.stdout  # one process reads their checkpoint
    bad = subprocess.run([*common, "--epochs", "1", "--devices", "3"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert bad.returncode == 2 and "multiple of 3" in bad.stderr
