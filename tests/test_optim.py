"""The optimisers fit builds: LARS against its formula written out and against lightly's LARS, the parameter groups
make_optimizer forms, and LARS training through fit."""

import copy

import pytest
import torch
from torch import nn

from clkit import augment, methods, models, train
from clkit.train.optim import LARS, make_optimizer


def lars_by_hand(weights, grads_per_step, lr, momentum, decay, eta, eps=1e-8, adapt=True):
    """LARS as a plain loop over one tensor's steps: ρ = η‖w‖ / (‖g‖ + λ‖w‖ + ε), d = ρ(g + λw), v ← μv + d, w ← w − αv."""
    w = weights.clone().double()
    v = None
    for g in grads_per_step:
        g = g.double()
        d = g if adapt else g + decay * w
        if adapt:
            w_norm = sum(x * x for x in w.flatten().tolist()) ** 0.5
            g_norm = sum(x * x for x in g.flatten().tolist()) ** 0.5
            if w_norm > 0 and g_norm > 0:
                d = eta * w_norm / (g_norm + decay * w_norm + eps) * (g + decay * w)
        v = d.clone() if v is None else momentum * v + d
        w = w - lr * v
    return w


@pytest.mark.parametrize("decay, momentum, adapt", [(1e-4, 0.9, True), (0.0, 0.9, True), (5e-4, 0.0, True),
                                                    (0.0, 0.9, False), (5e-4, 0.9, False)])
def test_lars_follows_its_formula_written_out(decay, momentum, adapt):
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(6, 5, generator=g)
    grads = [torch.randn(6, 5, generator=g) * 10 ** k for k in (-3, 0, 2, -1)]  # gradients of very different scales
    p = nn.Parameter(w0.clone())
    opt = LARS([p], lr=2.0, momentum=momentum, weight_decay=decay, trust_coefficient=0.01, adapt=adapt)
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
    expected = lars_by_hand(w0, grads, lr=2.0, momentum=momentum, decay=decay, eta=0.01, adapt=adapt)
    torch.testing.assert_close(p.detach().double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("adapt", [True, False])
def test_lars_steps_a_whole_group_at_once_as_each_tensor_alone(adapt):
    # One group of tensors of several shapes, one of them zero and one without a gradient, three steps with
    # momentum: each tensor moves as the formula moves it alone; the one without a gradient stays where it was.
    g = torch.Generator().manual_seed(1)
    shapes = [(6, 5), (4, 3, 3, 3), (7,)]
    starts = [torch.randn(*s, generator=g) for s in shapes] + [torch.zeros(2, 2)]
    grads = [[torch.randn(*w.shape, generator=g) for _ in range(3)] for w in starts]
    params = [nn.Parameter(w.clone()) for w in starts] + [nn.Parameter(torch.ones(3))]
    opt = LARS([{"params": params, "adapt": adapt}], lr=0.5, momentum=0.9, weight_decay=1e-3, trust_coefficient=0.02)
    for step in range(3):
        for p, gs in zip(params, grads):
            p.grad = gs[step].clone()
        opt.step()
    for p, w, gs in zip(params, starts, grads):
        expected = lars_by_hand(w, gs, lr=0.5, momentum=0.9, decay=1e-3, eta=0.02, adapt=adapt)
        torch.testing.assert_close(p.detach().double(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(params[-1].detach(), torch.ones(3)) and params[-1] not in opt.state


def test_an_adapted_step_moves_a_layer_by_lr_times_eta_of_its_norm_whatever_the_gradients_scale():
    for scale in (1e-4, 1.0, 1e4):
        p = nn.Parameter(torch.full((10, 10), 0.5))
        p.grad = torch.randn(10, 10) * scale
        opt = LARS([p], lr=3.0, momentum=0.0, trust_coefficient=1e-3)
        before = p.detach().clone()
        opt.step()
        moved = torch.linalg.vector_norm(p.detach() - before) / torch.linalg.vector_norm(before)
        assert moved.item() == pytest.approx(3.0 * 1e-3, rel=1e-4)


def test_a_zero_weight_or_gradient_takes_a_plain_step_without_decay():
    zero_w = nn.Parameter(torch.zeros(3, 3))
    zero_w.grad = torch.ones(3, 3)
    zero_g = nn.Parameter(torch.ones(3, 3))
    zero_g.grad = torch.zeros(3, 3)
    LARS([zero_w, zero_g], lr=0.1, momentum=0.0, weight_decay=0.5).step()
    torch.testing.assert_close(zero_w.detach(), torch.full((3, 3), -0.1))
    torch.testing.assert_close(zero_g.detach(), torch.ones(3, 3))  # no decay either, as lightly's LARS


def test_lars_matches_lightlys_lars_on_a_network():
    lightly_lars = pytest.importorskip("lightly.utils.lars").LARS
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    twin = copy.deepcopy(net)

    def groups(model, ours):
        decay = [p for p in model.parameters() if p.ndim > 1]
        plain = [p for p in model.parameters() if p.ndim <= 1]
        if ours:
            return [{"params": decay, "weight_decay": 1e-4}, {"params": plain, "weight_decay": 0.0, "adapt": False}]
        return [{"params": decay, "weight_decay": 1e-4}, {"params": plain, "weight_decay": 0.0}]

    ours = LARS(groups(net, True), lr=1.5, momentum=0.9, trust_coefficient=1e-3)
    theirs = lightly_lars(groups(twin, False), lr=1.5, momentum=0.9, trust_coefficient=1e-3)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,))
    for _ in range(5):
        for model, opt in ((net, ours), (twin, theirs)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_make_optimizer_adapts_and_decays_the_weight_matrices_alone():
    method = methods.SimCLR(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8,
                            learn_temperature=True, temperature_lr_scale=10.0)
    opt = make_optimizer(method, "lars", lr=0.5, weight_decay=1e-6)
    assert isinstance(opt, LARS)
    adapted, plain, *scaled = opt.param_groups
    assert adapted["adapt"] and adapted["weight_decay"] == 1e-6 and all(p.ndim > 1 for p in adapted["params"])
    assert not plain["adapt"] and plain["weight_decay"] == 0 and all(p.ndim <= 1 for p in plain["params"])
    assert [g["adapt"] for g in scaled] == [False] * len(scaled) and len(scaled) == 1  # the learned logit scale
    n_params = sum(1 for p in method.parameters() if p.requires_grad)
    assert sum(len(g["params"]) for g in opt.param_groups) == n_params


def test_bad_lars_settings_are_refused_with_the_name():
    with pytest.raises(ValueError, match="LARS's trust_coefficient must be >= 0, got -0.1"):
        LARS([nn.Parameter(torch.ones(2))], lr=1.0, trust_coefficient=-0.1)


def test_fit_trains_simclr_with_lars_and_resumes_its_momentum(small_shapes, tmp_path):
    images = small_shapes.take(256, seed=0)

    def run(out=None, stop_after=None):
        train.seed_everything(0)
        method = methods.SimCLR(models.encoder("small_cnn", width=8), augment.simclr(32), projection_dim=16)
        history = train.fit(method, images, epochs=3, batch_size=64, lr=2.0, optimizer="lars", weight_decay=1e-6,
                            progress=False, out=out, callbacks=[stop_after] if stop_after else [])
        return method, history

    def stop_after_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    method, history = run()
    losses = [record["loss"] for record in history.epochs]
    assert losses[-1] < losses[0] and all(torch.isfinite(p).all() for p in method.parameters())
    assert history.config["optimizer"] == "lars"
    _, partial = run(out=tmp_path, stop_after=stop_after_2)  # interrupted after epoch 2, then resumed
    assert partial.interrupted
    resumed, _ = run(out=tmp_path)
    for a, b in zip(method.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_lars_steps_on_a_gpu_as_on_the_cpu_without_host_waits(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # the convolutions' gradients in full float32
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    nets = {"cpu": net, "cuda": copy.deepcopy(net).cuda()}
    opts = {d: make_optimizer(n, "lars", lr=1.5, weight_decay=1e-4) for d, n in nets.items()}
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,))
    for _ in range(3):
        for device, model in nets.items():
            opts[device].zero_grad()
            nn.functional.cross_entropy(model(x.to(device)), y.to(device)).backward()
            if device == "cuda":
                torch.cuda.set_sync_debug_mode("error")  # a read of a norm back to the host would raise
            try:
                opts[device].step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
    for a, b in zip(nets["cpu"].parameters(), nets["cuda"].parameters()):
        torch.testing.assert_close(a, b.cpu(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("epochs, steps_per_epoch, warmup_epochs", [(8, 19, 1.0), (3, 5, 0.0), (2, 7, 0.5)])
def test_lr_sum_adds_up_the_rates_fits_schedule_gives_each_step(epochs, steps_per_epoch, warmup_epochs):
    """The reference: the rate torch's scheduler hands the optimiser at every step, with fit's warm-up length."""
    lr = 2e-3
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    total = epochs * steps_per_epoch
    warmup = max(1, round(warmup_epochs * steps_per_epoch)) if warmup_epochs > 0 else 0
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: train.optim.lr_factor(s, warmup, total))
    rates = []
    for _ in range(total):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert train.lr_sum(lr, epochs, steps_per_epoch, warmup_epochs) == pytest.approx(sum(rates), rel=1e-12)


def test_adamw_moves_a_steadily_pushed_parameter_about_the_summed_rate():
    """What lr_sum is for: a gradient of one sign (of any size) moves a parameter by about the rates' sum."""
    epochs, steps_per_epoch, lr = 4, 10, 1e-2
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=lr, weight_decay=0.0)
    total = epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: train.optim.lr_factor(s, steps_per_epoch, total))
    for step in range(total):
        p.grad = torch.tensor([-1e-3 * (1 + step % 3)])  # sizes vary, the sign does not
        opt.step()
        schedule.step()
    reach = train.lr_sum(lr, epochs, steps_per_epoch)
    assert 0.8 * reach < p.item() < 1.2 * reach
