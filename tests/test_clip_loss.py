"""CLIP's symmetric InfoNCE (clkit.losses.clip) against the paper's formula written out, a slow loop, open_clip's
ClipLoss, and its invariants."""

import math

import pytest
import torch
import torch.nn.functional as F
from test_losses import FakeGather

from clkit import losses
from clkit.losses import clip_logits, clip_loss


def embeddings(n=6, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def slow_clip_loss(image_z, text_z, scale):
    """The paper's pseudocode, one term at a time in float64: ½ (image→text + text→image) cross-entropies."""
    unit = lambda row: [a / math.sqrt(sum(b * b for b in row)) for a in row]  # noqa: E731
    u = [unit(row) for row in image_z.double().tolist()]
    w = [unit(row) for row in text_z.double().tolist()]
    n = len(u)
    s = [[scale * sum(a * b for a, b in zip(u[i], w[j])) for j in range(n)] for i in range(n)]
    to_text = sum(-s[i][i] + math.log(sum(math.exp(s[i][j]) for j in range(n))) for i in range(n)) / n
    to_image = sum(-s[i][i] + math.log(sum(math.exp(s[j][i]) for j in range(n))) for i in range(n)) / n
    return (to_text + to_image) / 2


@pytest.mark.parametrize("scale", [1.0, 1 / 0.07, 100.0])
def test_clip_loss_matches_a_slow_loop_over_the_formula(scale):
    u, v = embeddings()
    assert clip_loss(u, v, scale).item() == pytest.approx(slow_clip_loss(u, v, scale), rel=1e-5)


def test_clip_loss_is_the_mean_of_two_cross_entropies_over_one_similarity_matrix():
    u, v = embeddings(8, 4, seed=1)
    logits = 20.0 * F.normalize(u, dim=1) @ F.normalize(v, dim=1).T
    target = torch.arange(8)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    torch.testing.assert_close(clip_loss(u, v, 20.0), expected)
    parts = clip_logits(u, v, 20.0)
    torch.testing.assert_close(parts.image_to_text, logits)
    torch.testing.assert_close(parts.text_to_image, logits.T)


def test_clip_loss_matches_open_clips_clip_loss():
    open_clip_loss = pytest.importorskip("open_clip.loss")
    u, v = embeddings(16, 8, seed=2)
    scale = torch.tensor(1 / 0.07)
    # open_clip's model normalises its features before the loss; its logit_scale argument is already exp(t).
    theirs = open_clip_loss.ClipLoss()(F.normalize(u, dim=1), F.normalize(v, dim=1), scale)
    torch.testing.assert_close(clip_loss(u, v, scale), theirs)


def test_swapping_the_modalities_gives_the_same_loss():
    u, v = embeddings(seed=3)
    torch.testing.assert_close(clip_loss(u, v, 14.0), clip_loss(v, u, 14.0))


def test_the_loss_ignores_norms_and_the_order_of_the_pairs():
    u, v = embeddings(seed=4)
    norms = torch.rand(6, 1) * 10 + 0.1
    torch.testing.assert_close(clip_loss(u * norms, v, 10.0), clip_loss(u, v, 10.0))
    order = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(clip_loss(u[order], v[order], 10.0), clip_loss(u, v, 10.0))


def test_collapse_costs_log_n_at_every_scale_and_matched_pairs_cost_less():
    same = torch.ones(8, 3)
    for scale in (1.0, 14.3, 100.0):
        assert clip_loss(same, same, scale).item() == pytest.approx(losses.collapsed_clip_loss(8))
    assert losses.collapsed_clip_loss(8) == pytest.approx(math.log(8))
    aligned = torch.eye(8)  # every image at its own caption, the others orthogonal
    assert clip_loss(aligned, aligned, 100.0).item() < 1e-3


def test_gathered_loss_averaged_over_processes_is_the_loss_of_the_whole_batch():
    u, v = embeddings(8, 5, seed=5)
    unit = lambda x: F.normalize(x, dim=1)  # noqa: E731  (the loss gathers unit rows)
    halves = [(u[:4], v[:4]), (u[4:], v[4:])]
    per_rank = []
    for rank in (0, 1):
        other = 1 - rank
        others = [{other: unit(halves[other][0])}, {other: unit(halves[other][1])}]
        per_rank.append(clip_loss(*halves[rank], 12.0, gather=FakeGather(rank, others)))
    assert (sum(per_rank) / 2).item() == pytest.approx(clip_loss(u, v, 12.0).item(), rel=1e-6)


def test_a_learned_scale_gets_a_gradient_and_half_precision_is_computed_in_float32():
    u, v = embeddings(seed=6)
    log_scale = torch.tensor(math.log(14.3), requires_grad=True)
    clip_loss(u, v, log_scale.exp()).backward()
    assert log_scale.grad is not None and torch.isfinite(log_scale.grad)
    assert clip_loss(u.bfloat16(), v.bfloat16(), 14.3).dtype == torch.float32


def test_the_loss_reads_nothing_back_to_the_host():
    u, v = torch.randn(4, 3, device="meta"), torch.randn(4, 3, device="meta")
    assert clip_loss(u, v, torch.tensor(14.3, device="meta")).shape == ()


def test_bad_input_is_refused_with_the_reason():
    u, v = embeddings()
    with pytest.raises(ValueError, match="same shape"):
        clip_loss(u, v[:5])
    with pytest.raises(ValueError, match="2-D"):
        clip_loss(u[0], v[0])
    with pytest.raises(ValueError, match="N = 0"):
        clip_loss(u[:0], v[:0])
    for bad in (0.0, -1.0, math.inf, math.nan, torch.tensor(-2.0)):
        with pytest.raises(ValueError, match="logit_scale must be > 0 and finite"):
            clip_loss(u, v, bad)
    with pytest.raises(ValueError, match="one number"):
        clip_loss(u, v, torch.ones(2))
