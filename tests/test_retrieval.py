"""Zero-shot classification by prompts and retrieval recall@k (clkit.evaluate.retrieval) against slow references
written from their definitions."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clkit import evaluate
from clkit.data import Tokenizer


class BagOfWords(nn.Module):
    """A text model whose embedding of a prompt is the count of each word in it (padding not counted)."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size

    def project(self, tokens):
        counts = F.one_hot(tokens, self.vocab_size).sum(1).float()
        counts[:, 0] = 0  # padding
        return counts


def test_prompt_embeddings_average_the_normalised_prompts_of_each_class_and_renormalise():
    tokenizer = Tokenizer(["a", "picture", "of", "circle", "square", "there", "is"])
    model = BagOfWords(len(tokenizer))
    templates, classes = ["a {}", "a picture of a {}", "there is a {}"], ["circle", "square"]
    weights = evaluate.prompt_embeddings(model, tokenizer, classes, templates)
    for c, name in enumerate(classes):
        prompts = [model.project(tokenizer.encode([t.format(name)], length=8))[0] for t in templates]
        mean = torch.stack([F.normalize(p, dim=0) for p in prompts]).mean(0)
        torch.testing.assert_close(weights[c], F.normalize(mean, dim=0))
    single = evaluate.prompt_embeddings(model, tokenizer, classes, ["a {}"])
    torch.testing.assert_close(single[1], F.normalize(model.project(tokenizer.encode(["a square"]))[0], dim=0))


def test_zero_shot_predicts_the_most_similar_class_as_a_loop_does():
    g = torch.Generator().manual_seed(0)
    images, classes = torch.randn(30, 6, generator=g), torch.randn(4, 6, generator=g)
    labels = torch.randint(4, (30,), generator=g)
    expected = []
    for x in images:
        cosines = [float(x @ w / (x.norm() * w.norm())) for w in classes]
        expected.append(max(range(4), key=cosines.__getitem__))
    assert evaluate.zero_shot_predict(images, classes).tolist() == expected
    accuracy = sum(p == y for p, y in zip(expected, labels.tolist())) / 30
    assert evaluate.zero_shot_accuracy(images, labels, classes) == pytest.approx(accuracy)


def slow_recall(similarity, matches, k):
    """Recall@k from the definition, query by query, in both directions."""
    out = []
    for s, m in ((similarity, matches), (similarity.T, matches.T)):
        hits = 0
        for q in range(len(s)):
            ranked = sorted(range(s.shape[1]), key=lambda j: -float(s[q, j]))[:k]
            hits += any(bool(m[q, j]) for j in ranked)
        out.append(hits / len(s))
    return out


@pytest.mark.parametrize("shared", [False, True])
def test_recall_at_k_matches_the_definition_in_both_directions(shared):
    g = torch.Generator().manual_seed(1)
    images, texts = torch.randn(40, 5, generator=g), torch.randn(25, 5, generator=g)
    matches = torch.rand(40, 25, generator=g) < (0.08 if shared else 0.0)
    matches[torch.arange(25), torch.arange(25)] = True  # every caption describes at least one image
    if not shared:
        images = images[:25]
        matches = matches[:25]
    recall = evaluate.retrieval_recall(images, texts, ks=(1, 5, 10), matches=None if not shared else matches)
    similarity = F.normalize(images, dim=1) @ F.normalize(texts, dim=1).T
    for k in (1, 5, 10):
        to_text, to_image = slow_recall(similarity, matches, k)
        assert recall["image → text"][k] == pytest.approx(to_text)
        assert recall["text → image"][k] == pytest.approx(to_image)
    assert list(recall) == list(evaluate.retrieval.DIRECTIONS)


def test_recall_is_one_for_aligned_embeddings_and_grows_with_k():
    x = torch.randn(20, 8, generator=torch.Generator().manual_seed(2))
    assert evaluate.retrieval_recall(x, x)["image → text"] == {1: 1.0, 5: 1.0, 10: 1.0}
    noisy = evaluate.retrieval_recall(x, x + 2 * torch.randn(20, 8, generator=torch.Generator().manual_seed(3)))
    for direction in noisy.values():
        assert direction[1] <= direction[5] <= direction[10]


def test_random_recall_is_the_mean_recall_over_every_ranking():
    import itertools

    g = torch.Generator().manual_seed(4)
    matches = torch.rand(5, 5, generator=g) < 0.3
    matches[torch.arange(5), torch.arange(5)] = True
    rankings = list(itertools.permutations(range(5)))  # every ordering of the 5 candidates, equally likely
    expected = {}
    for direction, m in zip(evaluate.retrieval.DIRECTIONS, (matches, matches.T)):
        expected[direction] = {k: sum(any(bool(m[q, j]) for j in order[:k]) for q in range(5) for order in rankings)
                               / (5 * len(rankings)) for k in (1, 2, 4)}
    chance = evaluate.random_recall(matches, ks=(1, 2, 4))
    for direction in expected:
        assert chance[direction] == pytest.approx(expected[direction])
    assert evaluate.random_recall(torch.eye(100, dtype=torch.bool), ks=(1, 10))["image → text"] == \
        pytest.approx({1: 0.01, 10: 0.1})


def test_bad_input_is_refused_with_the_reason():
    x = torch.randn(6, 4)
    with pytest.raises(ValueError, match="must share D"):
        evaluate.retrieval_recall(x, torch.randn(6, 3))
    with pytest.raises(ValueError, match="pass matches"):
        evaluate.retrieval_recall(x, torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"matches must be \(6, 6\) bool"):
        evaluate.retrieval_recall(x, x, matches=torch.ones(6, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="each k must be between 1 and 6"):
        evaluate.retrieval_recall(x, x, ks=(1, 10))
    with pytest.raises(ValueError, match="each k must be between 1 and 6"):
        evaluate.random_recall(torch.eye(6, dtype=torch.bool), ks=(7,))
    with pytest.raises(ValueError, match="labels must be"):
        evaluate.zero_shot_accuracy(x, torch.zeros(5, dtype=torch.long), torch.randn(3, 4))
    tokenizer = Tokenizer(["a"])
    with pytest.raises(ValueError, match="needs a {} where the class name goes"):
        evaluate.prompt_embeddings(BagOfWords(len(tokenizer)), tokenizer, ["a"], ["a picture"])
