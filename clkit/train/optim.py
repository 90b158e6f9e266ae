"""The optimiser and its learning-rate schedule, as :func:`clkit.train.fit` builds them.

- :func:`make_optimizer`: AdamW, SGD (momentum 0.9, Nesterov) or LARS (:class:`LARS`, SimCLR's optimiser at large
  batches); biases, norm layers and a learned logit scale not decayed (nor, with LARS, adapted), a method's own
  learning-rate multiples (``method.lr_scales``), fused on a GPU;
- :func:`lr_factor`: linear warm-up, then cosine decay to 0, as a multiple of the peak learning rate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

OPTIMIZERS = ("adamw", "sgd", "lars")


def make_optimizer(method: nn.Module, name: str, lr: float, weight_decay: float,
                   fused: bool = False) -> torch.optim.Optimizer:
    """The optimiser ``name`` (one of :data:`OPTIMIZERS`) over the method's trainable parameters."""
    # Biases, norm layers and a learned logit scale are not decayed. A method may give some parameters their
    # own learning rate, as a multiple of ``lr``, in ``method.lr_scales`` (name -> factor): CLIP-style learned τ.
    scales = getattr(method, "lr_scales", {})
    named = [(n, p) for n, p in method.named_parameters() if p.requires_grad]
    unknown = sorted(set(scales) - {n for n, _ in named})
    if unknown:
        raise ValueError(f"lr_scales names {', '.join(unknown)}, which are not trainable parameters of the method")
    decay = [p for n, p in named if n not in scales and p.ndim > 1]
    no_decay = [p for n, p in named if n not in scales and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups += [{"params": [p], "weight_decay": 0.0, "lr": lr * scales[n]} for n, p in named if n in scales]
    fused = fused or None  # one kernel for every parameter's update (GPU); None lets torch choose elsewhere
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, fused=fused)
    if name == "lars":  # the trust ratio for the decayed weights alone
        return LARS([dict(g, adapt=i == 0) for i, g in enumerate(groups)], lr=lr, momentum=0.9)
    return torch.optim.AdamW(groups, lr=lr, fused=fused)


class LARS(torch.optim.Optimizer):
    r"""SGD with momentum and a layer-wise trust ratio (You et al. 2017), the optimiser of SimCLR's large batches.

    For each parameter tensor :math:`w` of an adapted group (``adapt=True``, the default; :func:`make_optimizer`
    adapts the weight matrices and kernels, while biases and norm layers take plain momentum SGD without decay, as in
    SimCLR), with weight decay :math:`\lambda`:

    .. math::
        \rho = \eta\, \frac{\lVert w \rVert}{\lVert \nabla w \rVert + \lambda \lVert w \rVert + \epsilon},\qquad
        d = \rho\,(\nabla w + \lambda w),\qquad v \leftarrow \mu v + d,\qquad w \leftarrow w - \alpha\, v

    (the first step sets :math:`v = d`; :math:`\rho = 1` and no decay while :math:`w` or its gradient is zero). A group
    with ``adapt=False`` takes :math:`d = \nabla w + \lambda w`, momentum SGD with L2 decay.
    Each layer thus moves by about :math:`\alpha\eta` of its own norm per step, whatever its gradient's scale,
    which keeps large learning rates stable at large batches. Computed on the device without reading a norm back
    to the host, each group's tensors at once (``torch._foreach_*`` ops: a few kernels per group, not a dozen per
    tensor).

    Args:
        params: parameters or groups, as for any ``torch.optim`` optimiser.
        lr: the learning rate :math:`\alpha` (SimCLR: 0.3 × batch / 256).
        momentum: :math:`\mu`.
        weight_decay: :math:`\lambda`.
        trust_coefficient: :math:`\eta`.
        eps: :math:`\epsilon`.
        adapt: whether a group's steps are scaled by the trust ratio (a group may say otherwise).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 1e-3, eps: float = 1e-8, adapt: bool = True):
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay),
                            ("trust_coefficient", trust_coefficient), ("eps", eps)):
            if value < 0:
                raise ValueError(f"LARS's {name} must be >= 0, got {value}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps, adapt=adapt))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._step_group(group, params)
        return loss

    def _step_group(self, group: dict, params: list[torch.Tensor]) -> None:
        """One group's update, every tensor at once (``torch._foreach_*``: a few kernels for the whole group rather
        than a dozen per tensor), the trust ratios kept on the device."""
        grads = [p.grad for p in params]
        decay = group["weight_decay"]
        if group["adapt"]:
            w_norm, g_norm = torch.stack(torch._foreach_norm(params)), torch.stack(torch._foreach_norm(grads))
            usable = (w_norm > 0) & (g_norm > 0)  # else a plain step without decay
            trust = group["trust_coefficient"] * w_norm / (g_norm + decay * w_norm + group["eps"])
            d = torch._foreach_mul(params, list(torch.where(usable, decay, 0.0).unbind()))  # λw
            torch._foreach_add_(d, grads)
            torch._foreach_mul_(d, list(torch.where(usable, trust, 1.0).unbind()))  # ρ(g + λw)
        elif decay:
            d = torch._foreach_add(grads, params, alpha=decay)  # plain L2 decay for a group without the trust ratio
        else:
            d = grads
        if group["momentum"] > 0:
            buffers, steps = [], []  # the buffers that exist, and their tensors' d
            for p, step in zip(params, d):
                state = self.state[p]
                if "momentum_buffer" in state:
                    buffers.append(state["momentum_buffer"])
                    steps.append(step)
                else:  # the first step: v = d
                    state["momentum_buffer"] = step.clone()
            if buffers:
                torch._foreach_mul_(buffers, group["momentum"])
                torch._foreach_add_(buffers, steps)
            d = [self.state[p]["momentum_buffer"] for p in params]
        torch._foreach_add_(params, d, alpha=-group["lr"])


def warmup_steps_for(warmup_epochs: float, steps_per_epoch: int) -> int:
    """The warm-up's length in steps: ``warmup_epochs`` of them, at least one unless there is no warm-up."""
    return max(1, round(warmup_epochs * steps_per_epoch)) if warmup_epochs > 0 else 0


def lr_sum(lr: float, epochs: int, steps_per_epoch: int, warmup_epochs: float = 1.0) -> float:
    """The learning rates of a run's steps added up, under ``fit``'s schedule (warm-up, then cosine to 0).

    Adam and AdamW move each parameter by about its learning rate a step, whatever the size of its gradient (the
    step is the rate times m̂/√v̂, near ±1 while the gradient keeps its sign), so this sum is about how far any one
    parameter can travel in the run: a learned log-temperature, for one.
    """
    total = epochs * steps_per_epoch
    warmup = warmup_steps_for(warmup_epochs, steps_per_epoch)
    return lr * sum(lr_factor(step, warmup, total) for step in range(total))


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """The learning rate of ``step`` as a fraction of the peak: a linear warm-up, then a cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
