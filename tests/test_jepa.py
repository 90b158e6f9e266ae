"""I-JEPA: block masks, the loss against a slow loop from the paper's equation and against an independent MSE, the
ViT's patch tokens against a transformer that really drops the hidden patches, the CNN's grid of tokens, the
predictor, and the method: its loss on its own outputs, its moving-average target, its switches, a short fit."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clkit import models, train
from clkit.augment.masks import blank_cells, block_masks
from clkit.data import Batch
from clkit.losses.jepa import jepa_loss
from clkit.methods.jepa import JEPA
from clkit.models.tokens import TokenPredictor, cell_size, grid_tokens

SEEDS = [0, 1, 2]


def tiny_vit():
    return models.encoder("small_vit", dim=16, depth=2, heads=2)  # the kit's 8 × 8 patches: a 4 × 4 grid


def tiny_cnn():
    return models.encoder("small_cnn", width=4)


# --- masks ---


@pytest.mark.parametrize("seed", SEEDS)
def test_block_masks_hide_some_cells_and_leave_the_context_its_share(seed):
    masks = block_masks(500, (4, 4), blocks=4, side=(1, 2), max_fraction=0.5,
                        generator=torch.Generator().manual_seed(seed))
    assert masks.shape == (500, 16) and masks.dtype == torch.bool
    counts = masks.sum(1)
    assert counts.min() >= 1 and counts.max() <= 8
    assert masks.any(0).all()  # every cell can be a target


def test_one_block_is_a_rectangle_of_the_drawn_sides():
    masks = block_masks(300, (4, 4), blocks=1, side=(1, 2), max_fraction=0.5,
                        generator=torch.Generator().manual_seed(0)).view(300, 4, 4)
    for m in masks:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert len(rows) in (1, 2) and len(cols) in (1, 2)
        assert m.sum() == len(rows) * len(cols)  # the bounding box is full
        assert (rows.diff() == 1).all() and (cols.diff() == 1).all()
    sizes = {(int(m.any(1).sum()), int(m.any(0).sum())) for m in masks}
    assert sizes == {(1, 1), (1, 2), (2, 1), (2, 2)}


def test_block_masks_are_reproducible_from_a_generator():
    a = block_masks(20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, block_masks(20, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("options, match", [
    (dict(side=(0, 2)), "side"), (dict(side=(3, 2)), "side"), (dict(blocks=0), "blocks"),
    (dict(max_fraction=1.0), "max_fraction"), (dict(side=(1, 3), max_fraction=0.5), "covers more"),
])
def test_bad_mask_settings_are_refused_with_the_reason(options, match):
    with pytest.raises(ValueError, match=match):
        block_masks(2, (4, 4), **options)


def test_blank_cells_paint_the_hidden_cells_with_the_mean_colour_and_nothing_else():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    hidden = torch.zeros(2, 4, dtype=torch.bool)
    hidden[0, 3] = True  # the bottom-right 4 × 4 cell of image 0
    out = blank_cells(images, hidden, (2, 2))
    mean = images[0].mean(dim=(1, 2))
    torch.testing.assert_close(out[0, :, 4:, 4:], mean.view(3, 1, 1).expand(3, 4, 4))
    assert torch.equal(out[0, :, :4], images[0, :, :4]) and torch.equal(out[1], images[1])
    with pytest.raises(ValueError, match="whole cells"):
        blank_cells(images, hidden, (3, 3))


# --- the loss ---


def reference_jepa(predicted, target, mask):
    """Assran et al. 2023, eq. 1, with the squared distance averaged over the D features: one token at a time."""
    total, count = 0.0, 0
    for p_n, t_n, m_n in zip(predicted, target, mask):
        for p, t, m in zip(p_n, t_n, m_n):
            if m:
                total += sum((a - b) ** 2 for a, b in zip(p, t)) / len(p)
                count += 1
    return total / count


@pytest.mark.parametrize("seed", SEEDS)
def test_jepa_loss_matches_the_papers_equation_and_an_independent_mse(seed):
    g = torch.Generator().manual_seed(seed)
    predicted, target = torch.randn(3, 5, 4, generator=g, dtype=torch.float64), torch.randn(3, 5, 4, generator=g,
                                                                                               dtype=torch.float64)
    mask = torch.rand(3, 5, generator=g) < 0.5
    mask[0, 0] = True
    value = jepa_loss(predicted, target, mask)
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(reference_jepa(predicted.tolist(), target.tolist(), mask.tolist()), rel=1e-12)
    torch.testing.assert_close(value, F.mse_loss(predicted[mask], target[mask]))


def test_jepa_loss_reads_only_the_target_tokens():
    predicted, target = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    mask = torch.tensor([[True, False, False], [False, False, True]])
    predicted[0, 1] = 100.0  # a context position: ignored
    assert jepa_loss(predicted, target, mask).item() == 0.0
    predicted[1, 2] = 2.0
    assert jepa_loss(predicted, target, mask).item() == pytest.approx(4.0 / 2)  # one of two target tokens at 4
    assert jepa_loss(predicted, target, torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, dtype=torch.bool)), ValueError, "(N, K, D)"),
    ((torch.zeros(2, 3, 4), torch.zeros(2, 3, 5), torch.ones(2, 3, dtype=torch.bool)), ValueError, "same shape"),
    ((torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 3)), TypeError, "bool"),
    ((torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 4, dtype=torch.bool)), ValueError, "one flag"),
])
def test_bad_tokens_are_refused_with_the_reason(args, error, match):
    with pytest.raises(error, match=match):
        jepa_loss(*args)


# --- tokens ---


@pytest.mark.parametrize("seed", SEEDS)
def test_vit_patch_tokens_are_those_of_a_transformer_that_never_saw_the_dropped_patches(seed):
    torch.manual_seed(seed)
    net = tiny_vit().net.eval()
    x = torch.rand(2, 3, 32, 32)
    keep = block_masks(2, (4, 4), generator=torch.Generator().manual_seed(seed)).logical_not()
    tokens = net.patch_tokens(x, keep)
    assert tokens.shape == (2, 16, 16)
    for i in range(2):  # the slow way: remove the hidden patches' tokens, then run the blocks on the rest alone
        seq = (net.embed(x[i : i + 1]).flatten(2).transpose(1, 2) + net.positions[:, 1:])[:, keep[i]]
        for block in net.blocks:
            seq = block(seq)
        torch.testing.assert_close(tokens[i, keep[i]], net.norm(seq)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net.patch_tokens(x), net.patch_tokens(x, torch.ones(2, 16, dtype=torch.bool)))
    with pytest.raises(ValueError, match="keep must be"):
        net.patch_tokens(x, torch.ones(2, 4, dtype=torch.bool))


def test_the_mean_of_a_cnns_tokens_is_its_features_and_keep_blanks_the_rest():
    torch.manual_seed(0)
    encoder = tiny_cnn().eval()
    x = torch.rand(3, 3, 32, 32)
    assert cell_size(encoder) == 8 and cell_size(tiny_vit()) == 8
    tokens = grid_tokens(encoder, x)
    assert tokens.shape == (3, 16, encoder.dim)
    torch.testing.assert_close(tokens.mean(1), encoder(x))
    keep = torch.ones(3, 16, dtype=torch.bool)
    keep[:, 5] = False
    torch.testing.assert_close(grid_tokens(encoder, x, keep), grid_tokens(encoder, blank_cells(x, ~keep, (4, 4))))
    with pytest.raises(TypeError, match="no grid of tokens"):
        grid_tokens(models.encoder("resnet18"), x)


def test_the_predictor_sees_the_context_not_what_sits_under_the_mask():
    torch.manual_seed(0)
    predictor = TokenPredictor(dim=8, cells=16, width=16, depth=1, heads=2)
    context = torch.randn(2, 16, 8)
    target = torch.zeros(2, 16, dtype=torch.bool)
    target[:, :4] = True
    changed = context.clone()
    changed[:, :4] = 99.0  # whatever the encoder put at the target cells
    out = predictor(context, target)
    assert out.shape == (2, 16, 8)
    torch.testing.assert_close(out, predictor(changed, target))
    moved = context.clone()
    moved[:, 10] += 1.0  # a context cell: the predictions change
    assert not torch.allclose(out[:, :4], predictor(moved, target)[:, :4])


# --- the method ---


@pytest.mark.parametrize("backbone", [tiny_cnn, tiny_vit])
def test_the_methods_loss_is_jepa_loss_of_its_own_predictions_and_targets(backbone, small_shapes):
    torch.manual_seed(0)
    method = JEPA(backbone(), predictor_width=16, predictor_depth=1)
    batch = Batch(small_shapes.images[:16])
    torch.manual_seed(7)
    out = method(batch)
    torch.manual_seed(7)  # the same masks, drawn from the same global generator
    x = batch.images.float() / 255
    target = block_masks(16, (4, 4), **method.masking)
    predicted = method.predictor(grid_tokens(method.backbone, x, keep=~target), target)
    s = grid_tokens(method.target_backbone, x)
    torch.testing.assert_close(out.loss, jepa_loss(predicted, F.layer_norm(s, s.shape[-1:]), target))
    assert 0 < out.logs["target_std"].item() < 1


def test_the_target_follows_the_encoder_by_its_momentum_and_takes_no_gradient(small_shapes):
    torch.manual_seed(0)
    method = JEPA(tiny_cnn(), predictor_width=16, predictor_depth=1, base_momentum=0.5, final_momentum=0.5)
    assert not any(p.requires_grad for p in method.target_backbone.parameters())
    before = [p.clone() for p in method.target_backbone.parameters()]
    method(Batch(small_shapes.images[:8])).loss.backward()
    assert all(p.grad is None for p in method.target_backbone.parameters())
    with torch.no_grad():
        for p in method.backbone.parameters():
            p.add_(1.0)
    method.after_optimizer_step(0.3)
    for b, t, o in zip(before, method.target_backbone.parameters(), method.backbone.parameters()):
        torch.testing.assert_close(t, 0.5 * b + 0.5 * o)


def test_without_the_stop_gradient_the_target_is_the_encoder_itself(small_shapes):
    torch.manual_seed(0)
    method = JEPA(tiny_cnn(), predictor_width=16, predictor_depth=1, stop_gradient=False)
    assert not hasattr(method, "target_backbone")
    x = small_shapes.images[:8].float() / 255
    targets = method.targets(x)
    assert targets.requires_grad  # the gradient flows through the target branch
    targets.sum().backward()
    assert method.backbone.net[0][0].weight.grad is not None


def test_embed_is_the_mean_token_and_a_cnns_features(small_shapes):
    torch.manual_seed(0)
    method = JEPA(tiny_cnn()).eval()
    images = small_shapes.images[:4]
    torch.testing.assert_close(method.embed(images), method.backbone(images.float() / 255))


def test_bad_settings_are_refused(small_shapes):
    with pytest.raises(ValueError, match="base_momentum"):
        JEPA(tiny_cnn(), base_momentum=1.5)
    with pytest.raises(ValueError, match="multiple"):
        JEPA(tiny_cnn(), image_size=36)
    with pytest.raises(ValueError, match="side"):
        JEPA(tiny_cnn(), block_side=(1, 5))
    with pytest.raises(ValueError, match="built for 32-pixel"):
        JEPA(tiny_cnn())(Batch(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)))


@pytest.mark.parametrize("backbone", [tiny_cnn, tiny_vit])
def test_fit_trains_jepa_a_few_steps(backbone, small_shapes):
    torch.manual_seed(0)
    method = JEPA(backbone(), predictor_width=16, predictor_depth=1)
    history = train.fit(method, small_shapes[:128], epochs=2, batch_size=32, progress=False)
    assert all(math.isfinite(r["loss"]) for r in history.epochs)
    assert 0.99 < history.last("momentum") <= 1.0  # the cosine schedule, raised towards 1
    assert method.embed(small_shapes.images[:4]).shape == (4, method.backbone.dim)


# --- the collapse numbers of h ---


def test_h_spread_tells_a_spread_batch_from_one_point_and_one_line():
    from clkit.evaluate.spread import h_spread

    g = torch.Generator().manual_seed(0)
    spread = h_spread(torch.randn(512, 32, generator=g))
    point = h_spread(torch.randn(1, 32, generator=g).expand(512, 32) + 1e-6 * torch.randn(512, 32, generator=g))
    assert spread["std_h·√D"] > 0.95 and spread["rankme_h"] > 25
    assert point["std_h·√D"] < 0.01 and point["rankme_h"] < 1.1


def test_the_spread_measure_reads_a_methods_h_on_fixed_images(small_shapes):
    from clkit.evaluate import embed
    from clkit.evaluate.spread import h_spread, spread_measure

    torch.manual_seed(0)
    method = JEPA(tiny_cnn())
    images = small_shapes.images[:64]
    history = train.fit(method, small_shapes[:64], epochs=1, batch_size=32, progress=False,
                        measures=[spread_measure(images)])
    assert history.epochs[-1]["rankme_h"] == pytest.approx(h_spread(embed(method, images))["rankme_h"], rel=1e-5)


def test_a_context_augment_distorts_the_context_alone_and_must_keep_every_pixel_in_place(small_shapes):
    from clkit import augment

    colour = augment.simclr(32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, blur_p=0.0)
    torch.manual_seed(0)
    method = JEPA(tiny_cnn(), context_augment=colour, predictor_width=16, predictor_depth=1)
    batch = Batch(small_shapes.images[:16])
    torch.manual_seed(5)
    out = method(batch)
    torch.manual_seed(5)  # the masks, then the context's colours, in the method's order
    x = batch.images.float() / 255
    target = block_masks(16, (4, 4), **method.masking)
    predicted = method.predictor(grid_tokens(method.backbone, colour(x), keep=~target), target)
    s = grid_tokens(method.target_backbone, x)  # the target sees the true colours
    torch.testing.assert_close(out.loss, jepa_loss(predicted, F.layer_norm(s, s.shape[-1:]), target))
    with pytest.raises(ValueError, match="keep every pixel"):
        JEPA(tiny_cnn(), context_augment=augment.simclr(32))
