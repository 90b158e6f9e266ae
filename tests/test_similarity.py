"""Sentence similarity (clkit.evaluate.similarity): Spearman against scipy, retrieval against a slow loop, the
bag-of-words and TF-IDF baselines against scikit-learn, and the scores and monitor on the lesson's corpus."""

import doctest
import math

import pytest
import torch
import torch.nn.functional as F

from clkit import data, evaluate, models, train
from clkit.evaluate import similarity
from clkit.evaluate.similarity import bag_of_words, paraphrase_retrieval, ranks, sentence_scores, spearman, tf_idf
from clkit.methods import SimCSE


def test_doctests():
    assert doctest.testmod(similarity).failed == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_matches_scipy_with_and_without_ties(seed):
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(50, generator=g)
    y = x + torch.randn(50, generator=g)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x.numpy(), y.numpy()).statistic, abs=1e-12)
    graded = torch.randint(0, 6, (50,), generator=g).float()  # scores 0–5: many ties, as in STS
    assert spearman(x, graded) == pytest.approx(stats.spearmanr(x.numpy(), graded.numpy()).statistic, abs=1e-12)


def test_ranks_average_ties_and_spearman_sees_only_order():
    assert ranks(torch.tensor([2.0, 2.0, 2.0, 1.0])).tolist() == [3.0, 3.0, 3.0, 1.0]
    x = torch.randn(20, generator=torch.Generator().manual_seed(0))
    assert spearman(x, x.exp()) == pytest.approx(1.0) and spearman(x, -x**3) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="constant"):
        spearman(x, torch.ones(20))
    with pytest.raises(ValueError, match="same length"):
        spearman(x, x[:5])


def slow_retrieval(z, labels):
    hits, counted = 0, 0
    for i in range(len(z)):
        if sum(int(labels[j] == labels[i]) for j in range(len(z))) < 2:
            continue
        best = max((j for j in range(len(z)) if j != i), key=lambda j: F.cosine_similarity(z[i], z[j], dim=0))
        hits += int(labels[best] == labels[i])
        counted += 1
    return hits / counted


def test_paraphrase_retrieval_matches_a_slow_loop():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 4])  # meaning 2 and 4 have no paraphrase: left out
    z = F.one_hot(labels, 5).float() + 0.8 * torch.randn(9, 5, generator=g)
    assert paraphrase_retrieval(z, labels) == pytest.approx(slow_retrieval(z, labels))
    assert paraphrase_retrieval(F.one_hot(labels, 5).float() + 0.01 * torch.randn(9, 5, generator=g), labels) == 1.0
    with pytest.raises(ValueError, match="no paraphrase"):
        paraphrase_retrieval(z[:3], torch.tensor([0, 1, 2]))


@pytest.fixture(scope="module")
def corpus():
    return data.make_sentences(n_train=300, n_triples=30, n_eval_meanings=20, paraphrases=3, pairs_per_score=10,
                               seed=0)


def test_bag_of_words_and_tf_idf_match_scikit_learn(corpus):
    text = pytest.importorskip("sklearn.feature_extraction.text")
    tok, vocab = corpus.tokenizer, len(corpus.tokenizer)
    columns = {w: i for i, w in enumerate(tok.vocabulary[3:])}  # the words; the reserved ids stay out
    counts = text.CountVectorizer(analyzer=data.words, vocabulary=columns).transform(corpus.sentences.captions)
    ours = bag_of_words(corpus.sentences.tokens, vocab)
    torch.testing.assert_close(ours[:, 3:], torch.tensor(counts.toarray(), dtype=torch.float32))
    assert ours[:, :3].abs().sum() == 0
    tfidf = text.TfidfVectorizer(analyzer=data.words, vocabulary=columns).fit(corpus.train.captions)
    expected = torch.tensor(tfidf.transform(corpus.sentences.captions).toarray(), dtype=torch.float32)
    weighted = tf_idf(ours, reference=bag_of_words(corpus.train.tokens, vocab))
    torch.testing.assert_close(weighted[:, 3:], expected, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="outside a vocabulary"):
        bag_of_words(corpus.sentences.tokens, 5)


def test_sentence_scores_read_their_numbers_from_the_features(corpus):
    vocab = len(corpus.tokenizer)
    scores = sentence_scores(lambda t: bag_of_words(t, vocab), corpus.sentences, corpus.pairs)
    za, zb = bag_of_words(corpus.pairs.tokens_a, vocab), bag_of_words(corpus.pairs.tokens_b, vocab)
    cos = F.cosine_similarity(za, zb)
    assert scores["spearman"] == pytest.approx(spearman(cos, corpus.pairs.scores))
    paraphrase = corpus.pairs.at(5)
    assert scores["alignment"] == pytest.approx((2 - 2 * cos[paraphrase]).mean().item(), abs=1e-5)
    assert scores["retrieval"] == pytest.approx(paraphrase_retrieval(bag_of_words(corpus.sentences.tokens, vocab),
                                                                     corpus.sentences.labels))
    assert -math.log(len(corpus.sentences)) < scores["uniformity"] < 0
    # Words carry meaning in this corpus: shared words rank pairs the way the scores do, far above chance.
    assert scores["spearman"] > 0.4 and scores["retrieval"] > 3 / len(corpus.sentences)


def test_the_monitor_records_the_scores_of_the_features_h_during_fit(corpus):
    torch.manual_seed(0)
    method = SimCSE(models.text_transformer(len(corpus.tokenizer), max_length=16, dim=12, depth=1, heads=2))
    monitor = evaluate.sentence_monitor(corpus.sentences, corpus.pairs)
    history = train.fit(method, corpus.train, epochs=1, batch_size=64, progress=False, measures=[monitor])
    assert [set(e) >= {"spearman", "retrieval", "alignment", "uniformity"} for e in history.epochs] == [True, True]
    direct = sentence_scores(lambda t: evaluate.embed(method, t), corpus.sentences, corpus.pairs)
    assert history.epochs[-1]["spearman"] == pytest.approx(direct["spearman"])
    assert method.training  # the monitor leaves the model as it found it
