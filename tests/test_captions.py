"""The captioned shapes (clkit.data.captions): deterministic, balanced, each caption true to its image, and the
held-out combinations and the novel colour really held out."""

import doctest
from collections import Counter

import pytest
import torch

from clkit import data
from clkit.data import captions as cap
from clkit.data.tokens import UNK


@pytest.fixture(scope="module")
def train():
    return data.make_captions(200, "train", seed=0)


@pytest.fixture(scope="module")
def splits(train):
    return {split: data.make_captions(100, split, seed=i + 1, tokenizer=train.tokenizer)
            for i, split in enumerate(("test", "held_out", "novel_colour"))}


def pairs(dataset):
    return set(zip(dataset.attribute("shape"), dataset.attribute("colour")))


def test_doctests():
    assert doctest.testmod(cap).failed == 0


def test_the_same_seed_gives_the_same_pairs_and_another_seed_others(train):
    again = data.make_captions(200, "train", seed=0)
    assert torch.equal(again.images, train.images) and torch.equal(again.tokens, train.tokens)
    assert again.phrasings == train.phrasings and again.tokenizer.vocabulary == train.tokenizer.vocabulary
    other = data.make_captions(200, "train", seed=5)
    assert not torch.equal(other.images, train.images) and other.phrasings != train.phrasings


def test_shapes_are_balanced_and_each_shapes_colours_too(train):
    assert Counter(train.labels.tolist()) == {c: 20 for c in range(10)}
    per_shape = Counter(zip(train.attribute("shape"), train.attribute("colour")))
    for shape in data.SHAPE_CLASSES:
        counts = [n for (s, _), n in per_shape.items() if s == shape]
        assert len(counts) == 5 and max(counts) - min(counts) <= 1  # five allowed colours, in turn


def test_held_out_pairs_never_appear_in_training_and_are_all_the_held_out_split_has(train, splits):
    held = set(cap.HELD_OUT)
    assert not pairs(train) & held and not pairs(splits["test"]) & held
    assert pairs(splits["held_out"]) == held  # every held-out pair, and nothing else
    assert len(pairs(train)) == 50  # the other 50 of the 60 pairs
    assert Counter(splits["held_out"].labels.tolist()) == {c: 10 for c in range(10)}


def test_the_novel_colour_and_its_word_exist_only_in_their_split(train, splits):
    assert set(splits["novel_colour"].attribute("colour")) == {"cyan"}
    for name in ("test", "held_out"):
        assert "cyan" not in splits[name].attribute("colour")
    assert "cyan" not in train.tokenizer.vocabulary and "cyan" not in {c for p in train.phrasings for c in p}
    novel = splits["novel_colour"]
    cyan_rows = [k for k, text in enumerate(novel.phrasings[0]) if "cyan" in text]
    assert cyan_rows and all((novel.tokens[0, k] == UNK).any() for k in cyan_rows)  # the word is [UNK] to the model


def test_the_first_phrasing_is_the_full_caption_in_the_attributes_own_words(train):
    for i in range(20):
        words = {a: train.attribute(a)[i] for a in cap.ATTRIBUTES}
        assert train.captions[i] == train.phrasings[i][0] == cap.TEMPLATES[0].format(**words)
        assert len(set(train.phrasings[i])) == 4  # four different templates
        for text in train.phrasings[i]:
            assert words["shape"] in text and words["colour"] in text  # every phrasing names these two
    assert train.tokenizer.decode(train.tokens[:, 0]) == train.captions


def _coloured(images):
    """Per pixel: whether it is part of the shape (the backgrounds are grey, every named colour is saturated)."""
    x = images.float() / 255
    return (x.amax(1) - x.amin(1)) > 0.3, x


def test_each_colour_word_is_the_colour_drawn():
    shown = data.make_captions(60, "train", seed=2)
    inside, x = _coloured(shown.images)
    for i, name in enumerate(shown.attribute("colour")):
        mean = x[i].permute(1, 2, 0)[inside[i]].median(0).values  # the median: edge pixels are blends
        assert torch.allclose(mean, torch.tensor(cap.COLOURS[name]), atol=0.09), (name, mean)


def test_small_shapes_are_smaller_than_large_ones_of_the_same_shape_and_tones_and_patterns_are_true():
    shown = data.make_captions(200, "train", seed=4)
    inside, x = _coloured(shown.images)
    area = inside.flatten(1).sum(1).float()
    sizes, labels = shown.attributes["size"], shown.labels
    for c in range(10):
        small, large = area[(labels == c) & (sizes == 0)], area[(labels == c) & (sizes == 1)]
        assert small.max() < large.min(), data.SHAPE_CLASSES[c]
    grey = x.mean(1)  # (N, H, W)
    near = torch.nn.functional.max_pool2d(inside.float().unsqueeze(1), 5, 1, 2).squeeze(1).bool()  # edges too
    background = [grey[i][~near[i]] for i in range(len(shown))]
    level = torch.stack([b.mean() for b in background])
    spread = torch.stack([b.std() for b in background])
    tone, pattern = shown.attributes["tone"], shown.attributes["pattern"]
    assert level[tone == 0].min() > 0.6 and level[tone == 1].max() < 0.35  # pale, dark
    assert spread[pattern == 0].max() < 0.02 < 0.05 < spread[pattern == 1].min()  # plain (noise only), striped


def test_a_caption_set_is_a_record_and_indexes_every_field_together(train):
    assert isinstance(train, data.Records) and len(train) == 200 and train.shape == (3, 32, 32)
    index = torch.tensor([5, 0, 7])
    part = train[index]
    assert isinstance(part, data.CaptionSet) and len(part) == 3
    assert torch.equal(part.images, train.images[index]) and torch.equal(part.tokens, train.tokens[index])
    assert part.captions == [train.captions[i] for i in (5, 0, 7)]
    assert part.phrasings == [train.phrasings[i] for i in (5, 0, 7)]
    assert part.attribute("colour") == [train.attribute("colour")[i] for i in (5, 0, 7)]
    assert len(train[2:6]) == 4 and len(train[train.labels == 3]) == 20 and train[4].captions == [train.captions[4]]
    moved = train.to("cpu")
    assert moved.tokenizer is train.tokenizer and moved.attributes["size"].device.type == "cpu"
    assert "4 phrasings × 12 tokens" in repr(train)


def test_matches_say_which_captions_describe_which_images(train):
    m = train.matches()
    assert m.dtype == torch.bool and m.shape == (200, 200) and m.diagonal().all() and torch.equal(m, m.T)
    same_caption = torch.tensor([[a == b for b in train.captions] for a in train.captions])
    assert torch.equal(m, same_caption)  # the full caption names every attribute, so equal attributes, equal text


def test_bad_arguments_are_refused_with_the_valid_choices():
    with pytest.raises(ValueError, match="valid splits are train, test, held_out, novel_colour"):
        data.make_captions(10, "validation")
    with pytest.raises(ValueError, match="phrasings must be between 1 and 6"):
        data.make_captions(10, phrasings=7)
    with pytest.raises(ValueError, match="must name a shape"):
        data.make_captions(10, held_out=(("circle", "cyan"),))
    with pytest.raises(ValueError, match="without one"):
        data.make_captions(10, "train", held_out=tuple(("circle", c) for c in cap.SEEN_COLOURS))
    with pytest.raises(ValueError, match="unknown attribute 'texture'"):
        data.make_captions(10).attribute("texture")
