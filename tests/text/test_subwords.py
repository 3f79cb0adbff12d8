"""10.4 fastText subwords and 10.5 GloVe's weighting, loss and co-occurrence counts, on cases small
enough to compute by hand."""

import math
import random
from collections import defaultdict

import pytest
import torch
from torch import nn

from d2l_lightning.errors import ConfigError
from d2l_lightning.text.cooccurrence import cooccurrence_counts, glove_loss, glove_weight
from d2l_lightning.text.subwords import subword_ids, subwords


def test_trigrams_of_where_with_boundary_markers():
    # the book prints "<wh>" and "<re>"; a trigram of "<where>" has three characters
    assert subwords("where", 3) == ["<wh", "whe", "her", "ere", "re>", "<where>"]


def test_fasttext_lengths_3_to_6_and_short_words():
    grams = subwords("where")  # "<where>" has 7 characters: 5 + 4 + 3 + 2 n-grams, then the word
    assert len(grams) == 15 and grams[-1] == "<where>" and "<whe" in grams and "where>" in grams
    assert all(3 <= len(g) <= 6 for g in grams[:-1])
    assert subwords("a", 3) == ["<a>"]  # the only trigram is the marked word itself: listed once
    assert subwords("go", [3, 4]) == ["<go", "go>", "<go>"]
    with pytest.raises(ConfigError, match="n-gram lengths"):
        subwords("where", 0)
    with pytest.raises(ConfigError, match="non-empty"):
        subwords("")


def test_a_word_vector_is_the_sum_of_its_subword_vectors():
    table = {g: i for i, g in enumerate(dict.fromkeys(subwords("where", 3) + subwords("here", 3)))}
    bag = nn.EmbeddingBag(len(table), 4, mode="sum")
    # "there" was never seen: it gets the n-grams it shares with known words ("her", "ere", "re>")
    ids = subword_ids(["where", "there"], table, 3)
    assert [table_key for table_key, i in table.items() if i in ids[1]] == ["her", "ere", "re>"]
    vec = bag(torch.tensor(ids[0]).unsqueeze(0))[0]
    torch.testing.assert_close(vec, bag.weight[ids[0]].sum(0))


def test_glove_weight_by_hand():
    h = glove_weight(torch.tensor([0.0, 50.0, 100.0, 250.0]), x_max=100, alpha=0.75)
    torch.testing.assert_close(h, torch.tensor([0.0, 0.5 ** 0.75, 1.0, 1.0]))
    assert glove_weight(torch.tensor(1.0)).item() == pytest.approx(0.01 ** 0.75)


def test_glove_loss_by_hand():
    scores, x = torch.tensor([1.0, 0.5, 3.0]), torch.tensor([1.0, math.e, 200.0])
    by_hand = [0.01 ** 0.75 * (1.0 - 0.0) ** 2,            # log 1 = 0
               (math.e / 100) ** 0.75 * (0.5 - 1.0) ** 2,   # log e = 1
               1.0 * (3.0 - math.log(200.0)) ** 2]          # x >= x_max: weight 1
    assert glove_loss(scores, x).item() == pytest.approx(sum(by_hand) / 3, rel=1e-6)


def test_cooccurrence_counts_by_hand():
    # sentences [0 1 2] and [1 0]; window 2: d=1 pairs add 1, the d=2 pair (0, 2) adds 1/2;
    # 2 (end of the first sentence) and 1 (start of the second) are not neighbours
    i, j, x = cooccurrence_counts(torch.tensor([0, 1, 2, 1, 0]), torch.tensor([3, 2]), window=2, vocab_size=3)
    got = {(a, b): c for a, b, c in zip(i.tolist(), j.tolist(), x.tolist())}
    assert got == {(0, 1): 2.0, (1, 0): 2.0, (1, 2): 1.0, (2, 1): 1.0, (0, 2): 0.5, (2, 0): 0.5}
    _, _, plain = cooccurrence_counts(torch.tensor([0, 1, 2, 1, 0]), torch.tensor([3, 2]), 2, 3,
                                      distance_weighting=False)
    assert sorted(plain.tolist()) == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0]


def test_cooccurrence_counts_match_a_python_loop():
    rng = random.Random(0)
    sentences = [[rng.randrange(7) for _ in range(rng.randrange(1, 9))] for _ in range(30)]
    expected = defaultdict(float)
    for st in sentences:
        for a in range(len(st)):
            for b in range(len(st)):
                if a != b and abs(a - b) <= 3:
                    expected[st[a], st[b]] += 1 / abs(a - b)
    tokens = torch.tensor([t for st in sentences for t in st])
    i, j, x = cooccurrence_counts(tokens, torch.tensor([len(st) for st in sentences]), 3, 7)
    got = {(a, b): c for a, b, c in zip(i.tolist(), j.tolist(), x.tolist())}
    assert got.keys() == expected.keys()
    assert all(got[k] == pytest.approx(v, rel=1e-6) for k, v in expected.items())
