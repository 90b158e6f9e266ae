"""SupCon and the Siamese methods: each trains on its loss of its own projections, wants labels where it says so,
refuses bad settings when built, reports its collapsed value, and fits a few steps."""

import math

import pytest
import torch
import torch.nn.functional as F

from clkit import augment, models
from clkit.data import Batch
from clkit.losses.metric import batch_margin_contrastive, margin_triplet, nt_logistic, supcon
from clkit.methods.metric import MarginContrastive, NTLogistic, SupCon, Triplet

SIAMESE = [MarginContrastive, Triplet, NTLogistic]
LOGGED = {MarginContrastive: {"positive", "negative", "active"}, Triplet: {"active"},
          NTLogistic: {"positive", "negative"}}


def build(cls, **options):
    return cls(models.encoder("small_cnn", width=4), augment.simclr(32), projection_dim=8, **options)


def batch(n=6, labelled=True):
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Batch(images, torch.tensor([0, 1, 2, 0, 1, 2])[:n] if labelled else None)


def step_and_projections(method, data):
    """The method's step, and z1, z2 computed by hand from the same draw of views."""
    torch.manual_seed(1)
    out = method(data)
    torch.manual_seed(1)
    v1, v2 = augment.two_views(data.images, method.augment)
    z1, z2 = method.head(method.backbone(torch.cat([v1, v2]))).chunk(2)
    return out, z1, z2


def test_supcon_trains_on_supcon_of_its_own_projections():
    torch.manual_seed(0)
    method = build(SupCon)
    data = batch()
    out, z1, z2 = step_and_projections(method, data)
    torch.testing.assert_close(out.loss, supcon(torch.cat([z1, z2]), data.labels.repeat(2), 0.1))
    # two images per class, two views each: the other three views of the class
    assert set(out.logs) == {"positives_per_anchor"} and out.logs["positives_per_anchor"].item() == 3
    assert all(not v.requires_grad and v.ndim == 0 for v in out.logs.values())


def test_supcon_takes_every_view_of_a_multi_view_list():
    torch.manual_seed(0)
    method = SupCon(models.encoder("small_cnn", width=4), [augment.simclr(32)] * 3, projection_dim=8)
    out = method(batch())
    assert out.logs["positives_per_anchor"].item() == 5  # three views, two images per class
    assert method.collapsed_loss(6) == pytest.approx(math.log(3 * 6 - 1))


@pytest.mark.parametrize("cls", SIAMESE)
@pytest.mark.parametrize("positives", ["views", "labels"])
def test_siamese_methods_train_on_their_loss_of_their_own_projections(cls, positives):
    torch.manual_seed(0)
    method = build(cls, positives=positives)
    data = batch()
    out, z1, z2 = step_and_projections(method, data)
    labels = data.labels if positives == "labels" else None
    if cls is MarginContrastive:
        per_view = (torch.arange(6) if labels is None else labels).repeat(2)
        expected = batch_margin_contrastive(F.normalize(torch.cat([z1, z2]), dim=1), per_view, 1.0)
    elif cls is Triplet:
        expected = margin_triplet(z1, z2, 0.1, "semi-hard", labels=labels)
    else:
        expected = nt_logistic(z1, z2, 0.5, "all", labels=labels)
    torch.testing.assert_close(out.loss, expected.loss)
    assert set(out.logs) == LOGGED[cls]
    assert all(not v.requires_grad and v.ndim == 0 for v in out.logs.values())


@pytest.mark.parametrize("options", [dict(mining="hard", margin=0.5, normalize=False),
                                     dict(mining="all", margin=0.0, positives="labels")])
def test_triplet_passes_its_options_to_the_loss(options):
    torch.manual_seed(0)
    method = build(Triplet, **options)
    data = batch()
    out, z1, z2 = step_and_projections(method, data)
    labels = data.labels if options.get("positives") == "labels" else None
    expected = margin_triplet(z1, z2, options["margin"], options["mining"], options.get("normalize", True), labels)
    torch.testing.assert_close(out.loss, expected.loss)
    torch.testing.assert_close(out.logs["active"], expected.active)


def test_nt_logistic_passes_its_options_to_the_loss():
    torch.manual_seed(0)
    method = build(NTLogistic, temperature=0.2, mining="semi-hard", normalize=False)
    out, z1, z2 = step_and_projections(method, batch())
    torch.testing.assert_close(out.loss, nt_logistic(z1, z2, 0.2, "semi-hard", normalize=False).loss)


def test_labels_are_asked_for_only_where_they_are_used():
    unlabelled = batch(labelled=False)
    with pytest.raises(ValueError, match="SupCon trains on classes and needs labels"):
        build(SupCon)(unlabelled)
    for cls in SIAMESE:
        with pytest.raises(ValueError, match="positives='labels' needs labels"):
            build(cls, positives="labels")(unlabelled)
        assert torch.isfinite(build(cls)(unlabelled).loss)  # positives from the views: no labels needed


BAD = [
    (lambda: build(MarginContrastive, positives="classes"), "positives must be one of"),
    (lambda: build(MarginContrastive, margin=-1.0), "margin"),
    (lambda: build(Triplet, mining="semihard"), "mining must be one of"),
    (lambda: build(Triplet, margin=-0.1), "margin"),
    (lambda: build(NTLogistic, temperature=0.0), "temperature"),
    (lambda: build(NTLogistic, mining="easy"), "mining must be one of"),
    (lambda: build(SupCon, temperature=-1.0), "temperature"),
    (lambda: Triplet(models.encoder("small_cnn", width=4), [augment.simclr(32)] * 3), "two views"),
]


@pytest.mark.parametrize("call, reason", BAD, ids=[reason for _, reason in BAD])
def test_bad_settings_are_refused_when_the_method_is_built(call, reason):
    with pytest.raises(ValueError, match=reason):
        call()


def test_collapsed_loss_is_the_loss_of_a_collapsed_batch():
    point = torch.ones(6, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    assert build(SupCon).collapsed_loss(6) == pytest.approx(supcon(torch.ones(12, 8), labels.repeat(2)).item())
    for method in (build(MarginContrastive, margin=0.7), build(Triplet, mining="all", margin=0.3),
                   build(NTLogistic, temperature=0.2)):
        assert method.collapsed_loss(6) == pytest.approx(method.terms(point, point, None).loss.item(), rel=1e-6)
        assert method.collapsed_loss(1) is None  # one image: no negative, nothing to tell
    # no telltale value: a mined triplet sits near m when healthy; unnormalised, the value depends on the norm
    assert build(Triplet).collapsed_loss(6) is None
    assert build(NTLogistic, normalize=False).collapsed_loss(6) is None


@pytest.mark.parametrize("cls, options", [(SupCon, {}), (MarginContrastive, {}), (Triplet, {}),
                                          (NTLogistic, dict(mining="semi-hard")), (Triplet, dict(positives="labels"))],
                         ids=["supcon", "margin", "triplet", "nt_logistic sh", "triplet labels"])
def test_metric_methods_fit_a_few_steps(cls, options, small_shapes):
    from clkit import train

    train.seed_everything(0)
    method = build(cls, **options)
    history = train.fit(method, small_shapes, epochs=1, batch_size=32, lr=1e-3, progress=False)
    assert math.isfinite(history["loss"][-1])
    logged = {"positives_per_anchor"} if cls is SupCon else LOGGED[cls]
    assert logged <= set(history.epochs[-1]) and all(math.isfinite(history.epochs[-1][k]) for k in logged)
