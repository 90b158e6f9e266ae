"""A sentence corpus the kit makes: meanings, the many ways to say each, and graded similarity between them.

SimCSE (Gao, Yao & Chen 2021, arXiv:2104.08821) is trained on sentences and judged on how well the cosine
similarity of two sentences' embeddings follows a person's 0–5 similarity score (STS). This module writes
such a corpus from a small grammar, so the lesson runs offline and every score is known by construction.

**Meanings.** A meaning fills four slots of one of two topics:

=========  =================  =================  ==================  ======================
topic      adjective          noun               verb                phrase
=========  =================  =================  ==================  ======================
shapes     colour (6)         shape (6)          motion (5)          place (5)
animals    mood (6)           animal (6)         activity (5)        time (5)
=========  =================  =================  ==================  ======================

so each topic has 6 · 6 · 5 · 5 = 900 meanings. **Surface forms.** A meaning is said in many ways: one of
five word orders (:data:`TEMPLATES`), a determiner (a / an, the, one), and for each slot one of its wordings (synonyms:
*circle* / *disc*, *spins* / *is spinning* / *turns*). Two sentences with one meaning are paraphrases.

**Graded similarity.** Two sentences score as the STS guidelines grade them: 0 on different topics, and on
one topic 1 + the number of slots they share, so 5 is a paraphrase (all four shared), 4 one detail changed,
1 the same topic and nothing else.

**Held out.** Whole combinations are held out: per topic, ``held_out`` nouns for every adjective (a Latin
square, so every adjective and every noun is held out equally often) never meet in training. Training
sentences and triples use the other meanings only; evaluation sentences and pairs only these, so the
evaluation asks about meanings no training sentence had, built from words every training sentence uses.

:func:`make_sentences` returns a :class:`SentenceCorpus`: the tokenizer (fitted on the training text), the
unsupervised training sentences (a :class:`~clkit.data.TextSet`, labels = meaning ids), supervised
triples (:class:`SentenceTriples`: anchor, a paraphrase, a contradiction that changes one slot), and the
evaluation sentences and graded pairs.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass
from typing import NamedTuple

import torch

from clkit.data.records import TextSet
from clkit.data.sentence_sets import SentenceCorpus, SentencePairs, SentenceTriples
from clkit.data.tokens import Tokenizer

__all__ = ["MEANINGS", "ROLES", "TEMPLATES", "TOPICS", "Meaning", "Surface", "Topic", "held_out_pairs",
           "make_sentences", "render", "score"]

#: The four slots every topic fills, by grammatical role.
ROLES = ("adj", "noun", "verb", "phrase")

#: Five word orders, the same for both topics; ``{det}`` is a, the or one.
TEMPLATES = (
    "{det} {adj} {noun} {verb} {phrase} .",
    "{phrase} , {det} {adj} {noun} {verb} .",
    "{det} {noun} that is {adj} {verb} {phrase} .",
    "there is {det} {adj} {noun} that {verb} {phrase} .",
    "{det} {noun} , {adj} , {verb} {phrase} .",
)
DETERMINERS = ("a", "the", "one")
_AN = re.compile(r"\ba (?=[aeiou])")


@dataclass(frozen=True)
class Topic:
    """One topic's slots: for each role, its name and the values it takes, each value with its wordings.

    ``values[r][v]`` is the tuple of wordings of value v of role r; the first wording names the value.
    """

    name: str
    slots: tuple[str, str, str, str]
    values: tuple[tuple[tuple[str, ...], ...], ...]

    def sizes(self) -> tuple[int, ...]:
        """How many values each of the four slots takes."""
        return tuple(len(v) for v in self.values)


TOPICS = (
    Topic("shapes", ("colour", "shape", "motion", "place"), (
        (("red", "scarlet"), ("blue", "navy"), ("green", "emerald"), ("yellow", "golden"), ("purple", "violet"),
         ("orange", "amber")),
        (("circle", "disc"), ("square", "block"), ("triangle", "wedge"), ("star",), ("heart",), ("ring", "hoop")),
        (("spins", "is spinning", "turns"), ("slides", "is sliding", "glides"), ("bounces", "is bouncing", "hops"),
         ("rests", "is resting", "sits"), ("falls", "is falling", "drops")),
        (("on the table", "on the desk"), ("under the bridge", "beneath the bridge"), ("in the garden", "in the yard"),
         ("by the river", "beside the river"), ("near the door", "by the doorway")),
    )),
    Topic("animals", ("mood", "animal", "activity", "time"), (
        (("hungry", "starving"), ("sleepy", "tired"), ("happy", "cheerful"), ("old", "elderly"), ("small", "little"),
         ("angry", "grumpy")),
        (("dog", "puppy"), ("cat", "kitten"), ("horse", "pony"), ("bird", "sparrow"), ("fox",), ("rabbit", "bunny")),
        (("eats", "is eating", "feeds"), ("runs", "is running", "races"), ("sleeps", "is sleeping", "naps"),
         ("plays", "is playing"), ("waits", "is waiting")),
        (("in the morning", "at dawn"), ("at night", "after dark"), ("at noon", "at midday"),
         ("in winter", "during the winter"), ("after the rain", "after the storm")),
    )),
)


class Meaning(NamedTuple):
    """What a sentence says: its topic and the value of each of the four slots (indices into the topic)."""

    topic: int
    values: tuple[int, int, int, int]

    @property
    def index(self) -> int:
        """The meaning's id, unique over both topics: topics in turn, slots in row-major order."""
        sizes = TOPICS[self.topic].sizes()
        flat = 0
        for size, value in zip(sizes, self.values):
            flat = flat * size + value
        return self.topic * _PER_TOPIC + flat

    def name(self) -> str:
        """The meaning in words, each slot by its first wording: ``"red circle spins on the table"``."""
        topic = TOPICS[self.topic]
        return " ".join(topic.values[r][v][0] for r, v in enumerate(self.values))


class Surface(NamedTuple):
    """How a meaning is said: a template, a determiner, and a wording for each slot (taken modulo the number of
    wordings the value has, so one surface says every meaning)."""

    template: int
    determiner: int
    wordings: tuple[int, int, int, int]


_PER_TOPIC = math.prod(TOPICS[0].sizes())  # meanings per topic: every topic has slots of the same sizes
assert all(topic.sizes() == TOPICS[0].sizes() for topic in TOPICS)
#: Every meaning, in id order: ``MEANINGS[m.index] == m``.
MEANINGS = tuple(Meaning(t, values) for t, topic in enumerate(TOPICS)
                 for values in itertools.product(*map(range, topic.sizes())))


def render(meaning: Meaning, surface: Surface) -> str:
    """The sentence that says ``meaning`` in the way ``surface`` picks, e.g. ``"on the desk , a red disc turns ."``
    (punctuation stands apart, as the tokenizer splits it)."""
    topic = TOPICS[meaning.topic]
    words = {role: topic.values[r][v][surface.wordings[r] % len(topic.values[r][v])]
             for r, (role, v) in enumerate(zip(ROLES, meaning.values))}
    text = TEMPLATES[surface.template].format(det=DETERMINERS[surface.determiner], **words)
    return _AN.sub("an ", text)  # "an amber disc", "an old fox"


def score(a: Meaning, b: Meaning) -> int:
    """The graded similarity of two meanings, 0–5: 0 on different topics, else 1 + the number of shared slots."""
    if a.topic != b.topic:
        return 0
    return 1 + sum(x == y for x, y in zip(a.values, b.values))


def held_out_pairs(held_out: int, seed: int) -> list[set[tuple[int, int]]]:
    """Per topic, the (adjective, noun) value pairs held out of training: ``held_out`` nouns for every adjective.

    A random permutation σ of the nouns and ``held_out`` distinct cyclic shifts r give the pairs
    (a, σ((a + r) mod 6)): a Latin-square pattern, so each adjective and each noun is held out exactly
    ``held_out`` times, and every adjective and noun still occurs in training with the others.
    """
    if not 1 <= held_out <= 5:
        raise ValueError(f"held_out must be 1–5 nouns per adjective (6 nouns, at least one left for training), "
                         f"got {held_out}")
    rng = random.Random(seed)
    pairs = []
    for topic in TOPICS:
        adjectives, nouns = topic.sizes()[:2]
        sigma = rng.sample(range(nouns), nouns)
        shifts = rng.sample(range(nouns), held_out)
        pairs.append({(a, sigma[(a + r) % nouns]) for a in range(adjectives) for r in shifts})
    return pairs


def _surface(rng: random.Random) -> Surface:
    return Surface(rng.randrange(len(TEMPLATES)), rng.randrange(len(DETERMINERS)),
                   tuple(rng.randrange(6) for _ in ROLES))  # 6: a multiple of every value's count of wordings


def _paraphrases(meaning: Meaning, k: int, rng: random.Random, tries: int = 1000) -> list[str]:
    """``k`` different sentences that say ``meaning``."""
    texts: list[str] = []
    for _ in range(tries):
        text = render(meaning, _surface(rng))
        if text not in texts:
            texts.append(text)
            if len(texts) == k:
                return texts
    raise RuntimeError(f"found only {len(texts)} different ways to say {meaning.name()!r}, {k} were asked for")


def _balanced(meanings: list[Meaning], n: int, rng: random.Random) -> list[Meaning]:
    """``n`` meanings, each of ``meanings`` n // len times and a random few once more, in random order."""
    whole, extra = divmod(n, len(meanings))
    drawn = meanings * whole + rng.sample(meanings, extra)
    rng.shuffle(drawn)
    return drawn


def _one_slot_changed(meaning: Meaning, allowed: set[Meaning], rng: random.Random) -> Meaning:
    """A meaning of ``allowed`` that differs from ``meaning`` in exactly one slot (a contradiction)."""
    sizes = TOPICS[meaning.topic].sizes()
    options = [Meaning(meaning.topic, meaning.values[:r] + (v,) + meaning.values[r + 1:])
               for r in range(len(ROLES)) for v in range(sizes[r]) if v != meaning.values[r]]
    return rng.choice([m for m in options if m in allowed])


def _pair_at(level: int, anchor: Meaning, by_topic: list[list[Meaning]], rng: random.Random) -> Meaning:
    """A meaning of ``by_topic`` (meanings per topic) that scores ``level`` with ``anchor`` (5: the anchor itself)."""
    if level == 0:
        return rng.choice(by_topic[1 - anchor.topic])
    candidates = [m for m in by_topic[anchor.topic] if score(anchor, m) == level]
    return rng.choice(candidates)


def make_sentences(n_train: int = 6000, n_triples: int = 6000, n_eval_meanings: int = 200, paraphrases: int = 3,
                   pairs_per_score: int = 200, held_out: int = 2, length: int = 16, seed: int = 0) -> SentenceCorpus:
    """The corpus of the SimCSE lesson (see the module docstring), the same for the same arguments.

    Args:
        n_train: unsupervised training sentences, spread evenly over the training meanings (labels: meaning ids).
        n_triples: supervised triples (anchor, a paraphrase of it, the anchor with one slot changed), the anchors
            spread evenly over the training meanings; every sentence in them says a training meaning.
        n_eval_meanings: held-out meanings whose sentences make the retrieval set, half from each topic.
        paraphrases: different sentences per evaluation meaning (≥ 2, so each has a paraphrase to find).
        pairs_per_score: graded pairs at each score 0–5, over held-out meanings only.
        held_out: nouns held out for every adjective, per topic (see :func:`held_out_pairs`).
        length: tokens per row (words, punctuation and [EOS], right-padded with [PAD]).
        seed: every draw follows from it; each part (training sentences, triples, evaluation sentences, pairs)
            from a stream of its own, so a part does not change when another part's size does.
    """
    if paraphrases < 2:
        raise ValueError(f"paraphrases must be ≥ 2 so that each evaluation sentence has a paraphrase, "
                         f"got {paraphrases}")
    for name, value in (("n_train", n_train), ("n_triples", n_triples), ("n_eval_meanings", n_eval_meanings),
                        ("pairs_per_score", pairs_per_score)):
        if value < 1:
            raise ValueError(f"{name} must be ≥ 1, got {value}")
    # One random stream per part, so that a part is the same whatever the sizes of the others: the evaluation
    # sentences and pairs of a seed do not change with the size of the training set.
    streams = {part: random.Random(f"sentences/{seed}/{part}") for part in ("train", "triples", "eval", "pairs")}
    held = held_out_pairs(held_out, seed)
    is_held = [m for m in MEANINGS if m.values[:2] in held[m.topic]]
    train_meanings = [m for m in MEANINGS if m.values[:2] not in held[m.topic]]
    per_topic = [[m for m in is_held if m.topic == t] for t in range(len(TOPICS))]
    if n_eval_meanings > len(is_held) or n_eval_meanings % 2:
        raise ValueError(f"n_eval_meanings must be even (half from each topic) and at most {len(is_held)}, "
                         f"the held-out meanings, got {n_eval_meanings}")

    # Unsupervised training: every training meaning as often as the others, each time in a random wording.
    rng = streams["train"]
    drawn = _balanced(train_meanings, n_train, rng)
    train_texts = [render(m, _surface(rng)) for m in drawn]
    tokenizer = Tokenizer.fit(train_texts)

    def encode(texts: list[str]):
        return tokenizer.encode(texts, length=length)

    classes = [m.name() for m in MEANINGS]
    labels = lambda meanings: torch.tensor([m.index for m in meanings], dtype=torch.int64)  # noqa: E731
    train = TextSet(encode(train_texts), labels(drawn), classes, "sentences", train_texts)

    # Supervised triples: the hard negative keeps the anchor's wording and changes one slot, a minimal pair.
    allowed, rng = set(train_meanings), streams["triples"]
    anchors = _balanced(train_meanings, n_triples, rng)
    rows = []
    for m in anchors:
        surface = _surface(rng)
        anchor, positive = render(m, surface), _paraphrases(m, 2, rng)
        positive = positive[0] if positive[0] != anchor else positive[1]
        rows.append((anchor, positive, render(_one_slot_changed(m, allowed, rng), surface)))
    triple_tokens = torch.stack([encode(list(column)) for column in zip(*rows)], dim=1)  # (N, 3, L)
    triples = SentenceTriples(triple_tokens, labels(anchors), classes, "sentence triples", [r[0] for r in rows])

    # Evaluation: held-out meanings only, half from each topic.
    rng = streams["eval"]
    chosen = [m for t in range(len(TOPICS)) for m in rng.sample(per_topic[t], n_eval_meanings // 2)]
    eval_meanings = [m for m in chosen for _ in range(paraphrases)]
    eval_texts = [text for m in chosen for text in _paraphrases(m, paraphrases, rng)]
    sentences = TextSet(encode(eval_texts), labels(eval_meanings), classes, "sentences (held out)", eval_texts)

    firsts, seconds, levels, rng = [], [], [], streams["pairs"]
    for level in range(6):
        for _ in range(pairs_per_score):
            a = rng.choice(is_held)
            b = _pair_at(level, a, per_topic, rng)
            text_a, text_b = (_paraphrases(a, 2, rng) if level == 5 else
                              (render(a, _surface(rng)), render(b, _surface(rng))))
            firsts.append((a, text_a))
            seconds.append((b, text_b))
            levels.append(level)
    pairs = SentencePairs(encode([t for _, t in firsts]), encode([t for _, t in seconds]),
                          torch.tensor(levels, dtype=torch.float32), labels([m for m, _ in firsts]),
                          labels([m for m, _ in seconds]), [t for _, t in firsts], [t for _, t in seconds])
    return SentenceCorpus(tokenizer, train, triples, sentences, pairs,
                          tuple(sorted(m.index for m in is_held)))
