"""SimCSE: its loss against the paper's formula written out, InfoNCE and pytorch-metric-learning; the method's two
dropout passes, its noise switches, its training-only MLP, and a few steps of fit on sentences and on triples."""

import math

import pytest
import torch
import torch.nn.functional as F

from clkit import data, losses, models, train
from clkit.losses import collapsed_simcse, simcse_logits, simcse_loss
from clkit.methods import Batch, SimCSE
from clkit.methods.simcse import dropout_off


def slow_simcse(h, h_pos, h_neg=None, tau=0.05):
    """Gao et al. 2021, the unsupervised and the supervised objective, one anchor at a time in float64."""
    total = 0.0
    for i in range(len(h)):
        sim = lambda u, v: float(u.double() @ v.double() / (u.double().norm() * v.double().norm()))  # noqa: E731
        numerator = math.exp(sim(h[i], h_pos[i]) / tau)
        denominator = sum(math.exp(sim(h[i], h_pos[j]) / tau) for j in range(len(h)))
        if h_neg is not None:
            denominator += sum(math.exp(sim(h[i], h_neg[j]) / tau) for j in range(len(h)))
        total += -math.log(numerator / denominator)
    return total / len(h)


def embeddings(n=6, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g) for _ in range(3)]


@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_loss_is_the_papers_formula_unsupervised_and_supervised(tau):
    h, h_pos, h_neg = embeddings()
    assert simcse_loss(h, h_pos, temperature=tau).item() == pytest.approx(slow_simcse(h, h_pos, tau=tau), rel=1e-5)
    assert simcse_loss(h, h_pos, h_neg, tau).item() == pytest.approx(slow_simcse(h, h_pos, h_neg, tau), rel=1e-5)


def test_unsupervised_loss_is_info_nce_with_the_batch_as_negatives():
    h, h_pos, _ = embeddings(seed=1)
    torch.testing.assert_close(simcse_loss(h, h_pos), losses.info_nce(h, h_pos, temperature=0.05))


def test_matches_pytorch_metric_learning_ntxent_with_reference_embeddings():
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    h, h_pos, h_neg = embeddings(n=8, d=6, seed=2)
    ids = torch.arange(8)
    ntxent = pml.NTXentLoss(temperature=0.05)
    # Anchors are queries only; a reference embedding with the anchor's label is its positive, every other a negative.
    # (A copy of the labels: given the very same tensor, pytorch-metric-learning takes the reference to be the
    # embeddings themselves and drops each anchor's pair with its own row.)
    expected = ntxent(h, ids, ref_emb=h_pos, ref_labels=ids.clone())
    torch.testing.assert_close(simcse_loss(h, h_pos), expected, rtol=1e-5, atol=1e-6)
    expected = ntxent(h, ids, ref_emb=torch.cat([h_pos, h_neg]), ref_labels=torch.cat([ids, ids + 8]))
    torch.testing.assert_close(simcse_loss(h, h_pos, h_neg), expected, rtol=1e-5, atol=1e-6)


def test_invariants_scale_order_hard_negatives_and_collapse():
    h, h_pos, h_neg = embeddings(seed=3)
    base = simcse_loss(h, h_pos, h_neg)
    torch.testing.assert_close(simcse_loss(3 * h, 0.5 * h_pos, 2 * h_neg), base)  # cosine: lengths do not count
    order = torch.randperm(len(h), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(simcse_loss(h[order], h_pos[order], h_neg[order]), base)  # a batch has no order
    assert base > simcse_loss(h, h_pos)  # hard negatives only add to the denominator
    same = torch.ones(6, 4)
    assert simcse_loss(same, same).item() == pytest.approx(collapsed_simcse(6)) == pytest.approx(math.log(6))
    assert simcse_loss(same, same, same).item() == pytest.approx(collapsed_simcse(6, True))
    logits = simcse_logits(h, h_pos, h_neg, 0.05)
    assert logits.logits.shape == (6, 12) and logits.targets.tolist() == list(range(6))


def test_identical_positives_leave_only_the_push_on_negatives():
    h, _, _ = embeddings(seed=4)
    u = F.normalize(h, dim=1)
    expected = (torch.logsumexp(u @ u.T / 0.05, dim=1) - 1 / 0.05).mean()  # −s_ii/τ + log Σ_j e^{s_ij/τ}, s_ii = 1
    torch.testing.assert_close(simcse_loss(h, h), expected)


def test_bad_inputs_are_refused_with_the_reason():
    h, h_pos, h_neg = embeddings()
    with pytest.raises(ValueError, match="temperature must be > 0"):
        simcse_loss(h, h_pos, temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        simcse_loss(h, h_pos[:3])
    with pytest.raises(ValueError, match="anchors and hard_negatives"):
        simcse_loss(h, h_pos, h_neg[:, :2])


# ----------------------------------------------------------------------------- the method

VOCAB = 12


def tokens(n=8, length=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (n, length), generator=g)
    ids[:, -1] = 2  # [EOS]
    return ids


def method(seed=0, dropout=0.1, **options):
    torch.manual_seed(seed)
    encoder = models.text_transformer(VOCAB, max_length=8, dim=12, depth=1, heads=2, dropout=dropout)
    return SimCSE(encoder, **options)


def test_two_training_passes_differ_and_evaluation_is_deterministic():
    m, x = method(), tokens()
    assert not torch.allclose(m.project(x), m.project(x))
    m.eval()
    torch.testing.assert_close(m.embed(x), m.embed(x))
    with dropout_off(m.train()):
        torch.testing.assert_close(m.project(x), m.project(x))
    assert m.backbone.net.drop.training  # the switch puts the dropout modules back in training mode


def test_forward_is_the_loss_of_its_own_two_passes():
    m, x = method(), tokens()
    torch.manual_seed(7)
    out = m(Batch(tokens=x))
    torch.manual_seed(7)
    h, h_pos = m.project(torch.cat([x, x])).chunk(2)  # the same random draws: the same two masks
    torch.testing.assert_close(out.loss, simcse_loss(h, h_pos, temperature=0.05))
    assert set(out.logs) == {"contrastive_acc", "positive_cos"} and out.logs["positive_cos"] < 1


def test_supervised_forward_is_the_loss_with_hard_negatives():
    m, triples = method(supervised=True), torch.stack([tokens(seed=s) for s in range(3)], dim=1)  # (8, 3, 6)
    torch.manual_seed(7)
    out = m(Batch(tokens=triples))
    torch.manual_seed(7)
    h, h_pos, h_neg = m.project(torch.cat([triples[:, 0], triples[:, 1], triples[:, 2]])).chunk(3)
    torch.testing.assert_close(out.loss, simcse_loss(h, h_pos, h_neg))
    assert m.collapsed_loss(8) == pytest.approx(math.log(16))


@pytest.mark.parametrize("noise", ["none", "same_mask"])
def test_without_dropout_noise_the_pair_is_identical(noise):
    m, x = method(noise=noise), tokens()
    out = m(Batch(tokens=x))
    assert out.logs["positive_cos"].item() == pytest.approx(1.0, abs=1e-5)
    assert out.logs["contrastive_acc"].item() == 1.0  # every positive is the nearest candidate: nothing to learn there


def test_embed_reads_the_features_before_the_training_mlp():
    m, x = method().eval(), tokens()
    torch.testing.assert_close(m.embed(x), m.backbone(x))
    torch.testing.assert_close(m.project(x), torch.tanh(m.head[0](m.backbone(x))))
    assert isinstance(method(mlp=False).head, torch.nn.Identity)


def test_wrong_settings_and_data_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="valid values are dropout, same_mask, none"):
        method(noise="gaussian")
    with pytest.raises(ValueError, match="needs dropout in the backbone"):
        method(dropout=0.0)
    assert method(dropout=0.0, noise="none").noise == "none"
    with pytest.raises(ValueError, match=r"trains on \(N, 3, L\) triples"):
        method(supervised=True)(Batch(tokens=tokens()))
    with pytest.raises(ValueError, match=r"SimCSE\(supervised=True\)"):
        method()(Batch(tokens=torch.stack([tokens()] * 3, dim=1)))


@pytest.fixture(scope="module")
def corpus():
    return data.make_sentences(n_train=256, n_triples=128, n_eval_meanings=10, pairs_per_score=5, length=14, seed=0)


def small(corpus, **options):
    torch.manual_seed(0)
    encoder = models.text_transformer(len(corpus.tokenizer), max_length=14, dim=12, depth=1, heads=2)
    return SimCSE(encoder, **options)


def test_fit_trains_unsupervised_simcse_on_sentences(corpus):
    m = small(corpus)
    history = train.fit(m, corpus.train, epochs=2, batch_size=32, lr=3e-3, progress=False)
    assert history.steps[-1] < history.steps[0] and 0 <= history.epochs[-1]["contrastive_acc"] <= 1


def test_fit_trains_supervised_simcse_on_triples(corpus):
    m = small(corpus, supervised=True)
    history = train.fit(m, corpus.triples, epochs=2, batch_size=32, lr=3e-3, progress=False)
    assert history.steps[-1] < history.steps[0]
