"""10.12 BLEU: the book's worked examples, its printed scores, and agreement with torchmetrics'
BLEU where the two definitions agree (one sentence, one reference, weights 1/2**n)."""

import math
import random

import pytest
from torchmetrics.functional.text import bleu_score

from d2l_lightning.text import bleu
from d2l_lightning.text.bleu import brevity_penalty, ngram_precision

LABEL = list("ABCDEF")
PRED = list("ABBCD")


def test_the_books_clipped_precisions():
    # label A B C D E F, prediction A B B C D: p1 = 4/5, p2 = 3/4, p3 = 1/3, p4 = 0
    assert [ngram_precision(PRED, LABEL, n) for n in (1, 2, 3, 4)] == pytest.approx([4 / 5, 3 / 4, 1 / 3, 0])
    expected = math.exp(1 - 6 / 5) * (4 / 5) ** 0.5 * (3 / 4) ** 0.25 * (1 / 3) ** 0.125
    assert bleu(PRED, LABEL, k=3) == pytest.approx(expected)
    assert bleu(PRED, LABEL, k=4) == 0.0  # no 4-gram matches


def test_the_books_brevity_penalty_example():
    # AB against a 6-token label: p1 = p2 = 1, but the penalty exp(1 - 6/2) ~ 0.14
    assert ngram_precision(list("AB"), LABEL, 1) == ngram_precision(list("AB"), LABEL, 2) == 1.0
    assert brevity_penalty(2, 6) == pytest.approx(0.1353, abs=1e-4)
    assert bleu(list("AB"), LABEL, k=2) == pytest.approx(math.exp(-2))
    assert brevity_penalty(7, 6) == 1.0  # longer predictions are not penalised by it


def test_the_books_printed_scores():
    label = "they are watching .".split()
    assert bleu(label, label, k=2) == 1.0  # 'bleu 1.000'
    # 'bleu 0.658, predict: they are russian .' against 'they are canadian .': sqrt(3/4) * (1/3)^(1/4)
    assert round(bleu("they are russian .".split(), "they are canadian .".split(), k=2), 3) == 0.658


def test_ngrams_are_token_tuples_and_short_predictions_score_zero():
    # the book joins n-gram tokens into one string: ('a', 'bc') and ('ab', 'c') would collide
    assert bleu(["a", "bc"], ["ab", "c"], k=1) == 0.0
    assert bleu([], LABEL, k=2) == 0.0
    assert bleu(["A"], ["A"], k=2) == 0.0  # no bigram at all: p2 = 0 (the book divides by zero)
    assert bleu([3, 5, 7], [3, 5, 7], k=2) == 1.0  # token ids work as well
    with pytest.raises(ValueError):
        bleu(PRED, LABEL, k=0)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_agrees_with_torchmetrics_for_one_sentence_with_the_books_weights(k):
    rng = random.Random(k)
    words = ["a", "b", "c", "d", "e"]
    for _ in range(40):
        pred = rng.choices(words, k=rng.randint(1, 8))
        label = rng.choices(words, k=rng.randint(1, 8))
        theirs = float(bleu_score([" ".join(pred)], [[" ".join(label)]], n_gram=k,
                                  weights=[0.5 ** n for n in range(1, k + 1)]))
        assert bleu(pred, label, k) == pytest.approx(theirs, abs=1e-6), (pred, label)


def test_differs_from_torchmetrics_defaults():
    # torchmetrics' default is BLEU-4 with uniform weights 1/4: not the book's k=2, weights 1/2**n
    pred, label = "they are russian .".split(), "they are canadian .".split()
    assert float(bleu_score([" ".join(pred)], [[" ".join(label)]])) == 0.0  # no 4-gram matches
    # and it scores a corpus by summed counts, not by the mean of sentence scores
    preds, labels = ["a b c d", "a x"], [["a b c d"], ["a b"]]
    corpus = float(bleu_score(preds, labels, n_gram=2, weights=[0.5, 0.25]))
    mean = (bleu(*(s.split() for s in (preds[0], labels[0][0]))) + bleu(["a", "x"], ["a", "b"])) / 2
    assert corpus != pytest.approx(mean)
