"""Negatives gathered across processes: two gloo processes on the CPU take one step of each gathering method on
their halves of a batch, and their loss and every parameter's gradient (after DDP's average) must equal one
process's on the whole batch. BatchNorm spans both processes (the kit's GlobalBatchNorm), so the network sees
one batch of 2N, as on one process.

Two broken gathers, the field's known traps, must fail the same comparison, so the comparison can fail:
an all-gather whose other rows carry no gradient (each process then trains on its own positives' gradient
only), and a backward that hands each process its rows' gradient from its own loss without the sum over
processes (the other processes' part is lost, a 1/W scaling in disguise). MoCo is the exception that proves
the first rule: it gathers only keys, which carry no gradient, so there the first trap costs nothing.
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from clkit import augment, data, methods, models
from clkit.data import Batch, to_float
from clkit.train import distributed

WORLD, N = 2, 8  # processes, images per process

METHODS = ("simclr", "moco_v3", "moco_v2_queue", "clip")
GATHERS = ("global", "local", "no_gradient", "no_sum", "process_batchnorm")


def build(name: str, captions=None) -> methods.Method:
    """The method of a case, with the same initial weights every call, and views that do not depend on the RNG."""
    torch.manual_seed(0)
    cnn = models.encoder("small_cnn", width=4)
    if name == "clip":
        text = models.text_transformer(len(captions.tokenizer), max_length=12, dim=12, depth=1, heads=2, dropout=0.0)
        method = methods.CLIP(cnn, text, projection_dim=8)
        method.pick_phrasings = lambda tokens: tokens[:, 0] if tokens.ndim == 3 else tokens  # no random phrasing
        return method
    if name == "simclr":
        method = methods.SimCLR(cnn, augment.simclr(32), projection_dim=8)
    elif name == "moco_v3":
        method = methods.MoCo(cnn, augment.simclr(32), queue_size=0, symmetric=True, predictor=True,
                              hidden_bn=True, out_bn=True, projection_dim=8)
    else:  # v2's queue, one BatchNorm group, so that the network sees the global batch on both sides
        method = methods.MoCo(cnn, augment.simclr(32), queue_size=64, bn_splits=1, projection_dim=8)
    method.views = lambda batch: [to_float(batch.images), to_float(batch.images).flip(-1) * 0.8]
    return method


def whole_batch(name: str, captions) -> Batch:
    if name == "clip":
        return captions[torch.arange(WORLD * N)]
    return data.make_shapes(WORLD * N, seed=1)[torch.arange(WORLD * N)]


def captions_fixture():
    return data.make_captions(WORLD * N, "train", seed=0)


class NoGradientGather:
    """The first trap: every process's rows, but only this process's carry a gradient."""

    local = True

    def __init__(self):
        self.rank = dist.get_rank()

    def __call__(self, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.detach().contiguous())
        parts[self.rank] = x
        return torch.cat(parts)


class _NoSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.rows = dist.get_rank(), len(x)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]  # the trap: no sum over processes


class NoSumGather:
    """The second trap: a gradient for every row, but each process keeps only what its own loss sent its rows."""

    local = False

    def __init__(self):
        self.rank = dist.get_rank()

    def __call__(self, x):
        return _NoSum.apply(x)


def step(method: methods.Method, batch: Batch) -> dict:
    """One forward and backward; the loss, the gradients and, for MoCo with a queue, the queue after the step."""
    loss, _ = method(batch)
    loss.backward()
    return {"loss": loss.detach(), "grads": {n: p.grad.clone() for n, p in method.named_parameters()
                                             if p.grad is not None}}


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    try:
        captions = captions_fixture()
        results = {}
        for name in METHODS:
            for kind in GATHERS:
                method = build(name, captions)
                if kind != "process_batchnorm":
                    distributed.global_batchnorm(method, torch.device("cpu"))
                method.gather = {"global": distributed.ProcessGather(local=False),
                                 "process_batchnorm": distributed.ProcessGather(local=False),
                                 "local": distributed.ProcessGather(local=True),
                                 "no_gradient": NoGradientGather(), "no_sum": NoSumGather()}[kind]
                model = torch.nn.parallel.DistributedDataParallel(method)
                batch = whole_batch(name, captions)[torch.arange(rank * N, (rank + 1) * N)]
                loss, _ = model(batch)
                loss.backward()  # DDP averages the gradients over the processes
                if method.gather.local:  # each process's loss is its anchors' share: the global loss is the mean
                    loss = loss.detach().clone()
                    dist.all_reduce(loss)
                    loss = loss / WORLD
                result = {"loss": loss.detach(), "grads": {n: p.grad.clone() for n, p in method.named_parameters()
                                                           if p.grad is not None}}
                if name == "moco_v2_queue":
                    method.after_optimizer_step(0.0)  # the step's keys, from every process, join the queue
                    result["queue"] = method.queue.keys.clone()
                results[f"{name}/{kind}"] = result
        torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gathering")
    mp.spawn(_worker, args=(_free_port(), str(folder)), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.fixture(scope="module")
def one_process():
    captions = captions_fixture()
    results = {}
    for name in METHODS:
        method = build(name, captions)
        results[name] = step(method, whole_batch(name, captions))
        if name == "moco_v2_queue":
            method.after_optimizer_step(0.0)
            results[name]["queue"] = method.queue.keys.clone()
    return results


def tolerance(reference: torch.Tensor) -> dict:
    """Float32 sums taken in another order: within 5·10⁻⁵ of the tensor's largest entry. A bias followed by
    BatchNorm has a gradient that is zero in exact arithmetic, so its entries are rounding noise (measured up to
    2·10⁻⁷, varying with the thread count); the absolute floor of 10⁻⁶ judges them, far below the gradients of
    0.1–70 elsewhere and the traps' differences of a tenth or more."""
    return {"rtol": 1e-4, "atol": 5e-5 * float(reference.abs().max()) + 1e-6}


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, **tolerance(b))


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("kind", ["global", "local"])
@pytest.mark.parametrize("name", METHODS)
def test_two_processes_step_like_one_process_on_the_whole_batch(two_processes, one_process, name, kind):
    reference = one_process[name]
    for rank in range(WORLD):
        got = two_processes[rank][f"{name}/{kind}"]
        torch.testing.assert_close(got["loss"], reference["loss"], rtol=1e-5, atol=1e-6)
        assert got["grads"].keys() == reference["grads"].keys()
        for parameter, grad in reference["grads"].items():
            torch.testing.assert_close(got["grads"][parameter], grad, **tolerance(grad))
        if "queue" in reference:  # every process's keys, in the one-process order
            torch.testing.assert_close(got["queue"], reference["queue"], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize(("name", "kind"), [("simclr", "no_gradient"), ("clip", "no_gradient"),
                                            *((name, "no_sum") for name in METHODS)])
def test_a_gather_without_the_summed_gradient_trains_something_else(two_processes, one_process, name, kind):
    reference = one_process[name]["grads"]
    got = two_processes[0][f"{name}/{kind}"]["grads"]
    assert not all(close(got[p], g) for p, g in reference.items())


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("name", ["moco_v3", "moco_v2_queue"])
def test_moco_gathers_keys_which_carry_no_gradient_so_the_first_trap_is_harmless_there(two_processes, one_process,
                                                                                       name):
    # MoCo gathers the momentum encoder's keys: no gradient reaches them on any process, so a gather
    # without one changes nothing with local logits. (With global logits the queries are gathered too.)
    got = two_processes[0][f"{name}/no_gradient"]["grads"]
    for parameter, grad in one_process[name]["grads"].items():
        torch.testing.assert_close(got[parameter], grad, **tolerance(grad))


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("name", ["simclr", "moco_v3"])
def test_batchnorm_per_process_is_not_the_whole_batchs(two_processes, one_process, name):
    # The same gather with each process normalising its own 8 images: the loss and gradients move away.
    got = two_processes[0][f"{name}/process_batchnorm"]
    assert not close(got["loss"], one_process[name]["loss"])
    assert not all(close(got["grads"][p], g) for p, g in one_process[name]["grads"].items())


def test_global_batchnorm_on_one_process_is_batchnorm_and_keeps_the_weights():
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.LazyLinear(5), torch.nn.BatchNorm1d(5))
    x = torch.randn(6, 3, 8, 8)
    expected = plain(x)
    parameters = list(plain.parameters())
    swapped = distributed.global_batchnorm(plain, torch.device("cpu"))
    assert isinstance(swapped[1], distributed.GlobalBatchNorm) and isinstance(swapped[4], distributed.GlobalBatchNorm)
    # the very same Parameter objects: an optimiser built before the swap still steps them
    assert [id(p) for p in swapped.parameters()] == [id(p) for p in parameters]
    torch.testing.assert_close(swapped(x), expected)
    assert set(swapped.state_dict()) == set(plain.state_dict())


def test_a_process_gather_on_one_process_returns_its_input():
    x = torch.randn(3, 2, requires_grad=True)
    gather = distributed.ProcessGather(local=True)
    assert gather(x) is x and gather.rank == 0 and gather.local
