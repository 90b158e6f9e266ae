"""CLIP as a method (clkit.methods.CLIP): its step is clip_loss on its own embeddings, one phrasing per caption,
a learned logit scale with its own learning rate and CLIP's clamp, and it trains in the one loop."""

import math

import pytest
import torch
import torch.nn.functional as F

from clkit import data, evaluate, losses, methods, models, train


@pytest.fixture(scope="module")
def pairs():
    return data.make_captions(64, "train", seed=0)


def clip(pairs, **options):
    torch.manual_seed(0)
    text = models.text_transformer(len(pairs.tokenizer), max_length=12, dim=12, depth=1, heads=2)
    return methods.CLIP(models.encoder("small_cnn", width=4), text, projection_dim=8, **options)


def test_the_step_is_clip_loss_on_its_own_embeddings_of_the_phrasings_it_drew(pairs):
    method = clip(pairs)
    batch = pairs[torch.arange(16)]
    torch.manual_seed(1)
    loss, logs = method(batch)
    torch.manual_seed(1)
    tokens = method.pick_phrasings(batch.tokens)  # the same draw
    u = method.image_projection(method.backbone(batch.images.float() / 255))
    v = method.text.project(tokens)
    torch.testing.assert_close(loss, losses.clip_loss(u, v, 1 / 0.07))
    assert set(logs) == {"logit_scale", "image_to_text_acc", "text_to_image_acc"}
    assert logs["logit_scale"].item() == pytest.approx(1 / 0.07)
    assert all(not value.requires_grad and value.ndim == 0 for value in logs.values())


def test_each_step_reads_one_phrasing_per_caption_and_every_phrasing_gets_read(pairs):
    method = clip(pairs)
    tokens = pairs.tokens[:8]  # (8, 4, 12)
    torch.manual_seed(0)
    drawn = [method.pick_phrasings(tokens) for _ in range(40)]
    for picked in drawn:
        assert picked.shape == (8, 12)
        assert all(any(torch.equal(picked[i], tokens[i, k]) for k in range(4)) for i in range(8))
    used = {(i, k) for picked in drawn for i in range(8) for k in range(4) if torch.equal(picked[i], tokens[i, k])}
    assert len(used) == 32
    assert torch.equal(method.pick_phrasings(tokens[:, 0]), tokens[:, 0])  # (N, L) passes through


def test_the_logit_scale_starts_at_one_over_tau_has_its_own_lr_and_is_clamped_at_the_max(pairs):
    method = clip(pairs, logit_scale_lr_scale=10.0)
    assert method.logit_scale.item() == pytest.approx(1 / 0.07)
    optimizer = train.optim.make_optimizer(method, "adamw", 1e-3, 1e-4)
    (group,) = [g for g in optimizer.param_groups if any(p is method.log_logit_scale for p in g["params"])]
    assert group["lr"] == pytest.approx(1e-2) and group["weight_decay"] == 0.0
    with torch.no_grad():
        method.log_logit_scale.fill_(math.log(500.0))
    assert method.logit_scale.item() == pytest.approx(100.0)  # clamped in the loss ...
    method.after_optimizer_step(0.5)
    assert method.log_logit_scale.item() == pytest.approx(math.log(100.0))  # ... and the parameter held there
    fixed = clip(pairs, learn_temperature=False)
    assert "log_logit_scale" not in dict(fixed.named_parameters())
    assert fixed.logit_scale.item() == pytest.approx(1 / 0.07)


def test_fit_trains_it_on_caption_pairs_and_logs_the_logit_scale(pairs):
    method = clip(pairs, logit_scale_lr_scale=10.0)
    before = method.log_logit_scale.item()
    history = train.fit(method, pairs, epochs=2, batch_size=32, lr=1e-3, progress=False, seed=0)
    assert len(history.steps) == 4 and all(math.isfinite(x) for x in history.steps)
    assert all("logit_scale" in record for record in history.epochs)
    assert method.log_logit_scale.item() != before  # the scale is learned
    assert method.collapsed_loss(32) == pytest.approx(math.log(32))


def test_embed_gives_image_features_and_both_towers_give_the_shared_space(pairs):
    method = clip(pairs).eval()
    assert method.embed(pairs.images[:5]).shape == (5, method.backbone.dim)
    assert method.project(pairs.images[:5]).shape == (5, 8)
    assert method.project_text(pairs.tokens[:5]).shape == (5, 8)  # the first phrasing of each
    text = evaluate.features(method.text, pairs[torch.arange(5)], space="z")
    torch.testing.assert_close(text, method.project_text(pairs.tokens[:5, 0]))
    s = method.similarity(pairs.images[:3], pairs.tokens[:4])
    expected = F.normalize(method.project(pairs.images[:3]), dim=1) @ F.normalize(text[:4], dim=1).T
    torch.testing.assert_close(s, expected)


def test_bad_settings_and_batches_are_refused_with_the_reason(pairs):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        clip(pairs, temperature=0.0)
    with pytest.raises(ValueError, match="exceeds max_logit_scale"):
        clip(pairs, temperature=0.001)
    with pytest.raises(ValueError, match="logit_scale_lr_scale"):
        clip(pairs, logit_scale_lr_scale=0.0)
    with pytest.raises(ValueError, match="needs images and tokens"):
        clip(pairs)(data.Batch(pairs.images[:4]))
    with pytest.raises(ValueError, match="reads tokens"):
        clip(pairs).text.input_of(data.Batch(pairs.images[:4]))
