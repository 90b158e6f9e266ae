"""Metrics against scikit-learn and the formulas written out."""

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from clkit import evaluate


def clustered(n, d=12, classes=4, noise=1.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g) * 2
    y = torch.arange(n) % classes
    return centres[y] + noise * torch.randn(n, d, generator=g), y


@pytest.fixture
def split():
    x, y = clustered(600)
    return x[:400], y[:400], x[400:], y[400:]


@pytest.mark.parametrize("k", [1, 5, 50])
def test_weighted_knn_matches_scikit_learn(split, k):
    xtr, ytr, xte, yte = split
    reference = KNeighborsClassifier(
        n_neighbors=k, metric="cosine", algorithm="brute", weights=lambda d: np.exp((1 - d) / 0.1)
    ).fit(xtr.numpy(), ytr.numpy())
    expected = (reference.predict(xte.numpy()) == yte.numpy()).mean()
    assert evaluate.knn_accuracy(xtr, ytr, xte, yte, k=k, temperature=0.1) == pytest.approx(expected)


def test_majority_vote_knn_matches_scikit_learn(split):
    xtr, ytr, xte, yte = split
    reference = KNeighborsClassifier(n_neighbors=7, metric="cosine", algorithm="brute").fit(xtr.numpy(), ytr.numpy())
    expected = (reference.predict(xte.numpy()) == yte.numpy()).mean()
    assert evaluate.knn_accuracy(xtr, ytr, xte, yte, k=7, temperature=None, chunk_size=33) == pytest.approx(expected)


def test_knn_k_is_capped_and_validated(split):
    xtr, ytr, xte, yte = split
    assert 0 <= evaluate.knn_accuracy(xtr[:10], ytr[:10], xte, yte, k=200) <= 1
    with pytest.raises(ValueError, match="k must be at least 1"):
        evaluate.knn_accuracy(xtr, ytr, xte, yte, k=0)
    with pytest.raises(ValueError, match="one label per feature row"):
        evaluate.knn_accuracy(xtr, ytr[:-1], xte, yte)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda xtr, ytr, xte, yte: (xtr[:0], ytr[:0], xte, yte), r"the bank is empty \(train_z has 0 rows\)"),
        (lambda xtr, ytr, xte, yte: (xtr, ytr, xte[:0], yte[:0]), r"there are no queries \(test_z has 0 rows\)"),
        (lambda xtr, ytr, xte, yte: (xtr, ytr[:, None], xte, yte), r"train_y must be 1-D, .* got shape \(400, 1\)"),
        (lambda xtr, ytr, xte, yte: (xtr, ytr, xte, yte[None]), r"test_y must be 1-D, .* got shape \(1, 200\)"),
        (lambda xtr, ytr, xte, yte: (xtr, ytr - 1, xte, yte), r"train_y must hold class indices 0, 1, …, C − 1, got -1"),
        (lambda xtr, ytr, xte, yte: (xtr, ytr, xte, -yte), r"test_y must hold class indices .* got -3"),
    ],
)
@pytest.mark.parametrize("probe", [evaluate.knn_accuracy, evaluate.neighbour_agreement, evaluate.few_shot])
def test_probes_refuse_empty_sets_and_labels_that_are_not_class_indices(split, change, message, probe):
    with pytest.raises(ValueError, match=message):
        probe(*change(*split))


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_linear_probe_matches_scikit_learns_logistic_regression(C):
    x, y = clustered(900, d=20, classes=5, noise=3.0, seed=3)
    xtr, ytr, xte, yte = x[:600], y[:600], x[600:], y[600:]
    mean, std = xtr.mean(0), xtr.std(0)
    reference = LogisticRegression(C=C, max_iter=5000, tol=1e-8).fit(((xtr - mean) / std).numpy(), ytr.numpy())
    expected = reference.score(((xte - mean) / std).numpy(), yte.numpy())
    assert evaluate.linear_probe(xtr, ytr, xte, yte, C=C) == pytest.approx(expected, abs=0.01)


def test_validation_split_is_stratified_disjoint_and_complete():
    y = torch.tensor([0] * 10 + [1] * 5 + [2] * 2)
    fit, val = evaluate.validation_split(y, fraction=0.2, seed=1)
    assert sorted(torch.cat([fit, val]).tolist()) == list(range(len(y)))
    assert torch.bincount(y[val]).tolist() == [2, 1, 1]  # round(0.2 n_c), at least one, never the whole class
    with pytest.raises(ValueError, match="at least 2 per class"):
        evaluate.validation_split(torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        evaluate.validation_split(y, fraction=1.0)


def test_choose_C_scores_each_strength_as_scikit_learn_does_on_the_same_split():
    x, y = clustered(500, d=30, classes=4, noise=4.0, seed=7)
    grid = (1e-3, 1e-1, 10.0)
    best, scores = evaluate.choose_C(x, y, grid=grid, seed=2)
    fit, val = evaluate.validation_split(y, seed=2)
    mean, std = x[fit].mean(0), x[fit].std(0)
    for C in grid:
        reference = LogisticRegression(C=C, max_iter=5000, tol=1e-8).fit(((x[fit] - mean) / std).numpy(), y[fit].numpy())
        assert scores[C] == pytest.approx(reference.score(((x[val] - mean) / std).numpy(), y[val].numpy()), abs=0.02)
    assert scores[best] == max(scores.values()) and best == min(c for c in grid if scores[c] == scores[best])


def test_the_tuned_probe_refits_on_all_training_features_with_the_chosen_C():
    x, y = clustered(600, d=20, classes=5, noise=3.0, seed=3)
    xtr, ytr, xte, yte = x[:400], y[:400], x[400:], y[400:]
    best, _ = evaluate.choose_C(xtr, ytr)
    assert evaluate.linear_probe(xtr, ytr, xte, yte) == evaluate.linear_probe(xtr, ytr, xte, yte, C=best)
    # One labelled example of a class leaves nothing to validate on: C = 1.
    one_each = torch.tensor([int(torch.nonzero(ytr == c)[0]) for c in range(5)])
    assert evaluate.linear_probe(xtr[one_each], ytr[one_each], xte, yte) == evaluate.linear_probe(
        xtr[one_each], ytr[one_each], xte, yte, C=1.0)
    with pytest.raises(ValueError, match="'auto'"):
        evaluate.linear_probe(xtr, ytr, xte, yte, C=-1.0)


def test_few_shot_matches_a_nearest_centroid_loop():
    x, y = clustered(300, classes=3, noise=2.5, seed=5)
    xtr, ytr, xte, yte = x[:200], y[:200], x[200:], y[200:]
    result = evaluate.few_shot(xtr, ytr, xte, yte, shots=len(xtr) // 3, trials=2)
    # With every training example as support, each trial is the same nearest-centroid classifier.
    unit = xtr / xtr.norm(dim=1, keepdim=True)
    centroids = [unit[ytr == c].mean(0) for c in range(3)]
    correct = 0
    for q, label in zip(xte, yte):
        scores = [float(q @ c / (q.norm() * c.norm())) for c in centroids]
        correct += int(np.argmax(scores) == label)
    assert result == pytest.approx(correct / len(xte))
    with pytest.raises(ValueError, match="shots must be between 1 and"):
        evaluate.few_shot(xtr, ytr, xte, yte, shots=500)


def test_alignment_matches_the_formula():
    z1, z2 = torch.randn(20, 6), torch.randn(20, 6)
    for alpha in (1, 2, 3):
        expected = np.mean([float((a / a.norm() - b / b.norm()).norm()) ** alpha for a, b in zip(z1, z2)])
        assert evaluate.alignment(z1, z2, alpha).item() == pytest.approx(expected, rel=1e-5)
    assert evaluate.alignment(z1, z1).item() == pytest.approx(0, abs=1e-6)


def test_uniformity_matches_the_formula_and_known_values():
    z = torch.randn(30, 5)
    u = z / z.norm(dim=1, keepdim=True)
    pairs = [float((u[i] - u[j]).norm()) ** 2 for i in range(30) for j in range(i + 1, 30)]
    expected = math.log(np.mean([math.exp(-2 * d) for d in pairs]))
    assert evaluate.uniformity(z).item() == pytest.approx(expected, rel=1e-5)
    assert evaluate.uniformity(torch.ones(10, 4)).item() == pytest.approx(0, abs=1e-6)
    # Uniform on the circle S¹: E exp(-2‖x−y‖²) = e^{-4} I₀(4), log ≈ −1.58 (Wang & Isola 2020).
    angles = torch.linspace(0, 2 * math.pi, 2001)[:-1]
    circle = torch.stack([angles.cos(), angles.sin()], 1)
    assert evaluate.uniformity(circle).item() == pytest.approx(-1.58, abs=0.01)


def test_effective_rank_matches_a_hand_computation():
    # Singular values 3, 2, 1 (orthogonal columns): p = (1/2, 1/3, 1/6).
    z = torch.zeros(5, 3)
    z[0, 0], z[1, 1], z[2, 2] = 3.0, 2.0, 1.0
    p = np.array([3, 2, 1]) / 6
    assert evaluate.effective_rank(z) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-5)
    assert evaluate.effective_rank(torch.randn(4000, 8)) == pytest.approx(8, rel=0.02)
    assert evaluate.effective_rank(torch.randn(100, 1) @ torch.randn(1, 16)) == pytest.approx(1, rel=1e-3)


def test_singular_values_match_numpy():
    z = torch.randn(50, 7)
    expected = np.linalg.svd(z.numpy() - z.numpy().mean(0), compute_uv=False)
    np.testing.assert_allclose(evaluate.singular_values(z).numpy(), expected, rtol=1e-5)


def test_contrastive_accuracy_matches_a_loop():
    z1 = torch.randn(8, 4)
    z2 = z1 + 0.9 * torch.randn(8, 4)
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    hits = 0
    for i in range(16):
        sims = [float(z[i] @ z[j]) if j != i else -math.inf for j in range(16)]
        hits += int(np.argmax(sims) == (i + 8) % 16)
    assert evaluate.contrastive_accuracy(z1, z2).item() == pytest.approx(hits / 16)


def test_embed_batches_without_grad_and_restores_mode():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3), torch.nn.Dropout(0.5))
    model.train()
    images = torch.randint(0, 256, (10, 3, 2, 2), dtype=torch.uint8)
    z = evaluate.embed(model, images, batch_size=3)
    assert z.shape == (10, 3) and not z.requires_grad and model.training
    model.eval()
    torch.testing.assert_close(z, model(images.float() / 255))
    assert evaluate.raw_pixels(images).shape == (10, 12)


def test_neighbour_agreement_matches_scikit_learns_neighbours():
    from sklearn.neighbors import NearestNeighbors

    g = torch.Generator().manual_seed(0)
    bank, bank_y = torch.randn(60, 5, generator=g), torch.randint(0, 3, (60,), generator=g)
    queries, query_y = torch.randn(25, 5, generator=g), torch.randint(0, 3, (25,), generator=g)
    nn_index = NearestNeighbors(n_neighbors=7, metric="cosine").fit(bank.numpy())
    idx = torch.from_numpy(nn_index.kneighbors(queries.numpy(), return_distance=False))
    expected = (bank_y[idx] == query_y[:, None]).float().mean().item()
    assert evaluate.neighbour_agreement(bank, bank_y, queries, query_y, k=7) == pytest.approx(expected)
    assert evaluate.neighbour_agreement(bank, bank_y, bank, bank_y, k=1) == 1.0  # each point finds itself
    with pytest.raises(ValueError, match="k must be between 1 and the bank size 60"):
        evaluate.neighbour_agreement(bank, bank_y, queries, query_y, k=61)


@pytest.mark.parametrize("alpha", [0.0, 3.0])
def test_ridge_r2_matches_scikit_learns_ridge_on_standardised_features(alpha):
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=g) * torch.tensor([1.0, 5.0, 0.1, 2.0, 1.0, 3.0])
    t = x @ torch.tensor([0.5, -0.2, 4.0, 0.0, 1.0, 0.1]) + 0.5 * torch.randn(300, generator=g)
    xtr, ttr, xte, tte = x[:200], t[:200], x[200:], t[200:]
    mean, std = xtr.mean(0), xtr.std(0)
    reference = Ridge(alpha=alpha).fit(((xtr - mean) / std).numpy(), ttr.numpy())
    expected = r2_score(tte.numpy(), reference.predict(((xte - mean) / std).numpy()))
    assert evaluate.ridge_r2(xtr, ttr, xte, tte, alpha=alpha) == pytest.approx(expected, abs=1e-6)


def test_the_readout_finds_a_property_that_is_there_and_not_one_that_is_not():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(400, 10, generator=g)
    present, absent = x[:, 0] * 2 + 0.1 * torch.randn(400, generator=g), torch.randn(400, generator=g)
    report = evaluate.readout_report({"x": (x[:300], x[300:])}, {"present": present[:300], "absent": absent[:300]},
                                     {"present": present[300:], "absent": absent[300:]})
    assert report["x"]["present"] > 0.95 and report["x"]["absent"] < 0.1
    with pytest.raises(ValueError, match="constant"):
        evaluate.r2_score(torch.ones(5), torch.zeros(5))


def _monitored_encoder(device):
    from clkit import data, models

    torch.manual_seed(0)
    images = data.make_shapes(96, seed=0)
    return models.encoder("small_cnn", width=4).to(device), images[:64], images[64:]


def test_features_stay_where_the_model_runs_when_asked_and_are_the_same_features():
    encoder, bank, _ = _monitored_encoder("cpu")
    assert torch.equal(evaluate.features(encoder, bank, on_device=True), evaluate.features(encoder, bank))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_knn_monitor_keeps_features_on_the_gpu_and_agrees_with_the_cpu(monkeypatch):
    encoder, bank, queries = _monitored_encoder("cuda")
    seen = []
    knn = evaluate.knn_accuracy
    monkeypatch.setattr("clkit.evaluate.probes.knn_accuracy", lambda *a, **kw: seen.append(a[0].device) or knn(*a, **kw))
    on_gpu = evaluate.knn_monitor(bank, queries, k=5)(encoder)["knn"]
    assert seen == [torch.device("cuda", 0)]
    assert on_gpu == pytest.approx(evaluate.knn_monitor(bank, queries, k=5)(encoder.cpu())["knn"], abs=1 / 32)


def test_knn_takes_float32_similarities_inside_a_bf16_autocast(split):
    train_z, train_y, test_z, test_y = split
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = evaluate.knn_accuracy(train_z, train_y, test_z, test_y, k=10)
    assert inside == evaluate.knn_accuracy(train_z, train_y, test_z, test_y, k=10)
