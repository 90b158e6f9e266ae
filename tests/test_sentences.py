"""The sentence corpus (clkit.data.sentences): deterministic, balanced, its held-out meanings really held out, its
labels and scores what they claim, and its records trainable by fit."""

from collections import Counter

import pytest
import torch

from clkit import data, methods, train
from clkit.data import sentences as grammar
from clkit.data.sentences import MEANINGS, TOPICS, Meaning, Surface, held_out_pairs, render, score
from clkit.data.tokens import UNK


@pytest.fixture(scope="module")
def corpus():
    return data.make_sentences(n_train=1200, n_triples=600, n_eval_meanings=40, paraphrases=3, pairs_per_score=30,
                               seed=0)


def meaning(i: int) -> Meaning:
    return MEANINGS[i]


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another():
    a = data.make_sentences(n_train=100, n_triples=50, n_eval_meanings=10, pairs_per_score=5, seed=3)
    b = data.make_sentences(n_train=100, n_triples=50, n_eval_meanings=10, pairs_per_score=5, seed=3)
    c = data.make_sentences(n_train=100, n_triples=50, n_eval_meanings=10, pairs_per_score=5, seed=4)
    for x, y in ((a.train.tokens, b.train.tokens), (a.triples.tokens, b.triples.tokens),
                 (a.sentences.tokens, b.sentences.tokens), (a.pairs.tokens_b, b.pairs.tokens_b)):
        assert torch.equal(x, y)
    assert a.tokenizer.vocabulary == b.tokenizer.vocabulary and a.held_out == b.held_out
    assert a.train.captions != c.train.captions and a.held_out != c.held_out


def test_meaning_ids_round_trip_and_every_meaning_is_named():
    assert len(MEANINGS) == 2 * 6 * 6 * 5 * 5
    assert all(m.index == i for i, m in enumerate(MEANINGS))
    assert MEANINGS[0].name() == "red circle spins on the table"
    assert Meaning(1, (0, 0, 0, 0)).name() == "hungry dog eats in the morning"


def test_render_fills_the_template_and_writes_an_before_a_vowel():
    red_circle = Meaning(0, (0, 0, 0, 0))
    assert render(red_circle, Surface(0, 0, (0, 0, 0, 0))) == "a red circle spins on the table ."
    assert render(red_circle, Surface(1, 1, (1, 1, 1, 1))) == "on the desk , the scarlet disc is spinning ."
    assert render(Meaning(0, (5, 0, 0, 0)), Surface(0, 0, (1, 0, 0, 0))) == "an amber circle spins on the table ."
    star = Meaning(0, (0, 3, 0, 0))  # one wording: any wording index says "star"
    assert render(star, Surface(0, 0, (0, 5, 0, 0))) == render(star, Surface(0, 0, (0, 0, 0, 0)))


def test_scores_grade_shared_slots_on_one_topic_and_zero_across_topics():
    a = Meaning(0, (0, 1, 2, 3))
    assert score(a, a) == 5
    assert [score(a, Meaning(0, (0, 1, 2, 4))), score(a, Meaning(0, (0, 1, 0, 4))), score(a, Meaning(0, (0, 0, 0, 4))),
            score(a, Meaning(0, (1, 0, 0, 4)))] == [4, 3, 2, 1]
    assert score(a, Meaning(1, (0, 1, 2, 3))) == 0  # the same slot values on another topic share nothing


def test_held_out_pairs_are_a_latin_square():
    for held in held_out_pairs(2, seed=5):
        assert len(held) == 12
        assert Counter(a for a, _ in held) == {a: 2 for a in range(6)}
        assert Counter(n for _, n in held) == {n: 2 for n in range(6)}
    with pytest.raises(ValueError, match="held_out must be 1–5"):
        held_out_pairs(6, seed=0)


def test_held_out_meanings_never_reach_training(corpus):
    held = set(corpus.held_out)
    assert len(held) == 2 * 12 * 25  # 12 (adjective, noun) pairs per topic, every verb and phrase
    trained = set(corpus.train.labels.tolist()) | set(corpus.triples.labels.tolist())
    assert not trained & held
    # The positives and hard negatives of the triples say training meanings too: decode and look them up.
    names = {m.name(): m.index for m in MEANINGS}
    assert len(names) == len(MEANINGS)
    evaluated = set(corpus.sentences.labels.tolist()) | set(corpus.pairs.labels_a.tolist()) | set(
        corpus.pairs.labels_b.tolist())
    assert evaluated <= held
    # Every word of the evaluation is a training word: only the combinations are new.
    assert not (corpus.sentences.tokens == UNK).any() and not (corpus.pairs.tokens_a == UNK).any()
    assert not (corpus.pairs.tokens_b == UNK).any()


def _meaning_of(text: str) -> Meaning:
    """The meaning a sentence says, read back from its words (an independent parser of the grammar)."""
    words = " " + text.replace(" .", "").replace(" ,", "") + " "
    for t, topic in enumerate(TOPICS):
        found = []
        for role_values in topic.values:
            hits = [v for v, wordings in enumerate(role_values) if any(f" {w} " in words for w in wordings)]
            found.append(hits)
        if all(len(h) == 1 for h in found):
            return Meaning(t, tuple(h[0] for h in found))
    raise AssertionError(f"no single meaning in {text!r}")


def test_labels_are_the_meaning_each_sentence_says(corpus):
    for record in (corpus.train, corpus.sentences):
        for text, label in zip(record.captions[:200], record.labels[:200].tolist()):
            assert _meaning_of(text).index == label, text


def rest(words: Counter, wording: str) -> Counter | None:
    """The words of a sentence without those of one slot's wording (None if the sentence lacks them)."""
    slot = Counter(wording.split())
    return words - slot if slot <= words else None


def test_triples_pair_a_paraphrase_with_a_one_slot_contradiction(corpus):
    tok, held = corpus.tokenizer, set(corpus.held_out)
    for row, label in zip(corpus.triples.tokens[:200], corpus.triples.labels[:200].tolist()):
        anchor, positive, negative = tok.decode(row)
        a, p, n = _meaning_of(anchor), _meaning_of(positive), _meaning_of(negative)
        assert a.index == p.index == label and anchor != positive
        assert score(a, n) == 4 and n.index not in held
        # A minimal pair: the negative keeps the anchor's wording and swaps only the changed slot's words (and "a"
        # for "an" before a vowel).
        role = next(r for r in range(4) if a.values[r] != n.values[r])
        words_a = Counter(w for w in anchor.split() if w not in ("a", "an"))
        words_n = Counter(w for w in negative.split() if w not in ("a", "an"))
        wordings = TOPICS[a.topic].values[role]
        assert any(rest(words_a, wa) is not None and rest(words_a, wa) == rest(words_n, wn)
                   for wa in wordings[a.values[role]] for wn in wordings[n.values[role]]), (anchor, negative)


def test_training_sentences_are_balanced_over_training_meanings(corpus):
    counts = Counter(corpus.train.labels.tolist())
    assert len(counts) == 1200 and set(counts.values()) == {1}  # 1,200 training meanings, once each
    assert set(Counter(corpus.triples.labels.tolist()).values()) == {1}  # 600 anchors: no meaning twice
    more = data.make_sentences(n_train=1300, n_triples=10, n_eval_meanings=2, pairs_per_score=1, seed=1)
    counts = Counter(more.train.labels.tolist())
    assert len(counts) == 1200 and Counter(counts.values()) == {1: 1100, 2: 100}  # as even as 1,300 allows


def test_evaluation_holds_paraphrases_and_balanced_graded_pairs(corpus):
    s = corpus.sentences
    assert len(s) == 40 * 3 and Counter(Counter(s.labels.tolist()).values()) == {3: 40}
    assert Counter(MEANINGS[i].topic for i in set(s.labels.tolist())) == {0: 20, 1: 20}
    for i in range(0, len(s), 3):
        assert len(set(s.captions[i:i + 3])) == 3  # three different sentences of one meaning
    pairs = corpus.pairs
    assert Counter(pairs.scores.tolist()) == {float(k): 30 for k in range(6)}
    for a, b, level in zip(pairs.labels_a.tolist(), pairs.labels_b.tolist(), pairs.scores.tolist()):
        assert score(meaning(a), meaning(b)) == level
    for text_a, text_b, label_a in zip(pairs.texts_a, pairs.texts_b, pairs.labels_a.tolist()):
        assert _meaning_of(text_a).index == label_a
    paraphrase = pairs.at(5)
    assert all(a != b for a, b, p in zip(pairs.texts_a, pairs.texts_b, paraphrase.tolist()) if p)


def test_triples_are_a_record_fit_trains_on(corpus):
    triples = corpus.triples
    assert len(triples) == 600 and triples.images is None
    part = triples[torch.arange(4)]
    assert isinstance(part, data.SentenceTriples) and part.tokens.shape == (4, 3, 16) and part.captions is not None
    assert triples.take(10, seed=0).tokens.shape[0] == 10 and "3×L=16" in repr(triples)
    with pytest.raises(ValueError, match=r"\(N, 3, L\)"):
        data.SentenceTriples(torch.zeros(2, 16, dtype=torch.int64), torch.zeros(2, dtype=torch.int64), ["x"], "bad")

    class Reader(methods.Method):  # the smallest method: reads triples, learns one number
        modality = "tokens"

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, batch):
            assert self.input_of(batch).shape[1:] == (3, 16)
            return methods.StepOutput((self.w - 1) ** 2, {})

    history = train.fit(Reader(), triples, epochs=1, batch_size=64, progress=False)
    assert len(history.steps) == 600 // 64


def test_bad_arguments_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="paraphrases must be ≥ 2"):
        data.make_sentences(paraphrases=1)
    with pytest.raises(ValueError, match="n_eval_meanings must be even"):
        data.make_sentences(n_train=10, n_triples=10, n_eval_meanings=3)
    with pytest.raises(ValueError, match="n_train must be ≥ 1"):
        data.make_sentences(n_train=0)
    assert grammar.DETERMINERS == ("a", "the", "one")
