"""10.10 greedy and beam search on a hand-made decoder whose probabilities are the book's worked
example (words A, B, C, <eos>): greedy finds A B C <eos> (0.5 x 0.4 x 0.4 x 0.6 = 0.048), beam
search the better A C B <eos> (0.5 x 0.3 x 0.6 x 0.6 = 0.054); beam size 1 is greedy search."""

import math

import pytest
import torch

from d2l_lightning.text import Hypothesis, beam_search, greedy_search

A, B, C, EOS, BOS = 0, 1, 2, 3, 4
# P(next | output so far), columns A, B, C, <eos>; the figures' rows (and rows summing to 1 for the
# prefixes the figures do not show)
TABLE = {
    (): [0.5, 0.2, 0.2, 0.1],
    (A,): [0.1, 0.4, 0.3, 0.2],
    (A, B): [0.2, 0.2, 0.4, 0.2],
    (A, B, C): [0.2, 0.1, 0.1, 0.6],
    (A, C): [0.1, 0.6, 0.2, 0.1],
    (A, C, B): [0.1, 0.2, 0.1, 0.6],
}
OTHER = [0.25, 0.25, 0.25, 0.25]


def step(tokens, prefixes):
    """The decoder: its state is each row's output so far; logits are log-probabilities (no
    probability for <bos>)."""
    prefixes = [p + ([] if t == BOS else [t]) for p, t in zip(prefixes, tokens.tolist())]
    probs = torch.tensor([TABLE.get(tuple(p), OTHER) + [0.0] for p in prefixes])
    return probs.log(), prefixes, None


def reorder(prefixes, index):
    return [list(prefixes[i]) for i in index.tolist()]


def test_greedy_search_finds_the_books_0_048_sequence():
    (h,) = greedy_search(step, [[]], 1, BOS, EOS, max_len=10)
    assert h.tokens == [A, B, C, EOS]
    assert math.exp(h.log_prob) == pytest.approx(0.048)


def test_beam_search_finds_the_better_0_054_sequence():
    best, *others = beam_search(step, [[]], reorder, BOS, EOS, max_len=10, beam_size=2, alpha=0.75)
    assert best.tokens == [A, C, B, EOS]
    assert math.exp(best.log_prob) == pytest.approx(0.054)
    # the greedy sequence is a candidate too, ranked below; every candidate ends in <eos>
    assert [A, B, C, EOS] in [h.tokens for h in others]
    assert all(h.tokens[-1] == EOS for h in [best, *others])
    assert best.score(0.75) == pytest.approx(math.log(0.054) / 4 ** 0.75)


def test_beam_size_one_is_greedy_search():
    (greedy,) = greedy_search(step, [[]], 1, BOS, EOS, max_len=10)
    best = beam_search(step, [[]], reorder, BOS, EOS, max_len=10, beam_size=1)[0]
    assert best.tokens == greedy.tokens and best.log_prob == pytest.approx(greedy.log_prob)


def test_length_limit_and_length_normalisation():
    # cut after 2 tokens: no <eos> yet, the open sequences are the candidates
    (h,) = greedy_search(step, [[]], 1, BOS, EOS, max_len=2)
    assert h.tokens == [A, B]
    assert beam_search(step, [[]], reorder, BOS, EOS, max_len=2, beam_size=1)[0].tokens == [A, B]
    # log P / L^alpha: a longer sequence can win over a shorter, likelier one
    short, long = Hypothesis([A, EOS], math.log(0.1)), Hypothesis([A, C, B, EOS], math.log(0.054))
    assert short.log_prob > long.log_prob and long.score(0.75) > short.score(0.75)
    assert short.score(0.0) > long.score(0.0)


def test_greedy_search_decodes_a_batch_row_by_row():
    hs = greedy_search(step, [[], [A, C]], 2, BOS, EOS, max_len=10)
    # row 2 starts after the prefix A C (its state), so it continues with B then <eos>
    assert [h.tokens for h in hs] == [[A, B, C, EOS], [B, EOS]]
