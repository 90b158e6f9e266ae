"""The tokenizer (clkit.data.tokens) and the text transformer (clkit.models.text)."""

import doctest

import pytest
import torch
import torch.nn.functional as F

from clkit.data import Tokenizer, tokens, words
from clkit.models import TextTransformer, text_transformer
from clkit.models.vit import Attention


def test_doctests():
    assert doctest.testmod(tokens).failed == 0


def test_words_split_punctuation_and_lower_case():
    assert words("A Red, striped  SQUARE.") == ["a", "red", ",", "striped", "square", "."]


def test_fit_orders_by_frequency_then_alphabet_and_is_deterministic():
    texts = ["b a", "c a", "a b"]
    tok = Tokenizer.fit(texts)
    assert tok.vocabulary == ["[PAD]", "[UNK]", "[EOS]", "a", "b", "c"]
    assert Tokenizer.fit(list(reversed(texts))).vocabulary == tok.vocabulary
    assert Tokenizer.fit(texts, min_count=2).vocabulary[3:] == ["a", "b"]


def test_encode_pads_ends_and_truncates():
    tok = Tokenizer(["a", "red", "square"])
    ids = tok.encode(["a red square", "square", "a blue square"])
    assert ids.dtype == torch.int64 and ids.shape == (3, 4)
    assert ids.tolist() == [[3, 4, 5, 2], [5, 2, 0, 0], [3, 1, 5, 2]]
    assert tok.encode(["a red square"], length=3).tolist() == [[3, 4, 2]]  # cut to L − 1 words, then [EOS]
    assert tok.decode(ids) == ["a red square", "square", "a [UNK] square"]


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="reserved"):
        Tokenizer(["[PAD]", "a"])
    with pytest.raises(ValueError, match="more than once"):
        Tokenizer(["a", "a"])
    with pytest.raises(TypeError, match="wrap a single sentence"):
        Tokenizer(["a"]).encode("a")
    with pytest.raises(ValueError, match="length must be"):
        Tokenizer(["a"]).encode(["a"], length=0)


def test_masked_attention_matches_attention_over_the_real_tokens_alone():
    torch.manual_seed(0)
    attention = Attention(12, 3)
    x = torch.randn(1, 5, 12)
    keep = torch.tensor([[True, True, True, False, False]])
    masked = attention(x, keep)[:, :3]
    alone = attention(x[:, :3])
    torch.testing.assert_close(masked, alone)


def test_features_ignore_padding_and_follow_word_order():
    torch.manual_seed(0)
    tok = Tokenizer(["a", "red", "square", "on", "stripes"])
    net = TextTransformer(len(tok), max_length=16, dim=24, heads=2).eval()
    short, long = tok.encode(["a red square"], length=6), tok.encode(["a red square"], length=16)
    torch.testing.assert_close(net(short), net(long), atol=1e-5, rtol=1e-5)
    swapped = tok.encode(["square red a"], length=6)
    assert not torch.allclose(net(short), net(swapped), atol=1e-4)  # positions make order matter


def test_a_slow_reference_forward_pass():
    """The encoder written out step by step for one sentence: embedding + positions, blocks, masked mean, LN."""
    torch.manual_seed(1)
    net = TextTransformer(10, max_length=8, dim=12, depth=2, heads=3).eval()
    ids = torch.tensor([[4, 7, 2, 0, 0]])
    x = net.embed.weight[ids[0, :3]] + net.positions[0, :3]  # the three real tokens alone
    for block in net.blocks:
        x = x + block.attention(block.norm1(x)[None])[0]
        x = x + block.mlp(block.norm2(x))
    expected = F.layer_norm(x.mean(0), (12,), net.norm.weight, net.norm.bias)
    torch.testing.assert_close(net(ids)[0], expected, atol=1e-5, rtol=1e-5)


def test_dropout_makes_two_training_passes_differ_and_eval_deterministic():
    torch.manual_seed(0)
    net = TextTransformer(10, dim=24, heads=2, dropout=0.1)
    ids = torch.tensor([[4, 5, 6, 2]])
    assert not torch.allclose(net(ids), net(ids))
    net.eval()
    torch.testing.assert_close(net(ids), net(ids))
    assert TextTransformer(10, dim=24, heads=2, dropout=0.0)(ids).shape == (1, 24)


def test_encoder_wrapper_and_errors():
    enc = text_transformer(20, dim=24, heads=2, max_length=4)
    assert enc.dim == 24 and enc.name == "text_transformer"
    with pytest.raises(ValueError, match="longer than max_length"):
        enc(torch.ones(1, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64"):
        enc(torch.ones(1, 3))
    with pytest.raises(ValueError, match="dropout"):
        TextTransformer(20, dropout=1.0)
    empty = torch.zeros(2, 3, dtype=torch.int64)  # all padding: defined features, not NaN
    assert torch.isfinite(enc(empty)).all()
