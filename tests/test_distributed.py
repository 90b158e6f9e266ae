"""Several processes: fit's step runs through DistributedDataParallel, so the ranks stay in step.

Two gloo processes on the CPU train the same model on different halves of every batch. Without
the gradient all-reduce (a loop that called a method other than ``forward``, say) their weights
would drift apart after the first step; with it they stay equal to the last bit of tolerance.
"""

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


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        from clkit import augment, data, methods, models, train

        records = data.make_shapes(128, seed=0)
        train.seed_everything(0)  # the same initial weights (DDP also broadcasts rank 0's)
        method = methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8)
        seen = []
        method.register_forward_pre_hook(lambda module, args: seen.append(args[0].images[:2].clone()))
        history = train.fit(method, records, epochs=2, batch_size=16, lr=1e-2, progress=False,
                            out=os.path.join(out, "run"))
        weights = torch.cat([p.detach().flatten() for p in method.parameters()])
        torch.save({"weights": weights, "first_images": seen[0], "steps": history.steps,
                    "world_size": history.config["world_size"]}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_train_through_ddp_and_end_with_the_same_weights(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world_size"] == 2
    assert not torch.equal(r0["first_images"], r1["first_images"])  # each rank trains on its own slice
    assert r0["steps"] != r1["steps"]  # so their losses differ ...
    torch.testing.assert_close(r0["weights"], r1["weights"], rtol=1e-5, atol=1e-6)  # ... but gradients were averaged
    assert (tmp_path / "run" / "checkpoint.pt").exists()  # written by rank 0
