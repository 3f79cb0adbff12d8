"""BLEU as the book defines it in 10.12 (section "评价翻译结果").

For a prediction of `len_pred` tokens and a label of `len_label` tokens,

    BLEU = exp(min(0, 1 - len_label / len_pred)) * prod_{n=1..k} p_n ** (1 / 2**n)

where p_n is the clipped n-gram precision: the number of the prediction's n-grams that match an
n-gram of the label (each label n-gram matched at most as often as it occurs there), divided by
the prediction's number of n-grams, `len_pred - n + 1`. The first factor is the brevity penalty;
longer n-grams get larger exponents 1/2**n, so a poor long-n-gram precision costs more.

Where we differ from the book's `bleu` code, and why:

- n-grams are tuples of tokens. The book keys them by `''.join(tokens)`, so the bigrams
  ('a', 'bc') and ('ab', 'c') would count as the same; tuples also let the same function score
  token ids (the validation BLEU compares index sequences, no vocabulary needed).
- An empty prediction, or one with fewer than n tokens for some n <= k, has no n-grams to match:
  its precision is 0 and so is its BLEU (the book divides by zero there). torchmetrics does the
  same (a zero n-gram count makes its score 0).

Compared with `torchmetrics.functional.text.bleu_score`: for one prediction and one reference,
with `n_gram=k` and `weights=[1/2**n for n in 1..k]`, the two agree exactly (same brevity
penalty, same clipped counts; the book's weights need not sum to 1 and torchmetrics does not
require it). They differ otherwise: torchmetrics' default weights are uniform (1/k each, the
usual BLEU-4), it scores a whole corpus at once (n-gram counts and lengths summed over all
sentences, not a mean of sentence scores), accepts several references per sentence, and splits
strings on white space itself. tests/text/test_bleu.py checks the agreement.
"""

import math
from collections import Counter
from collections.abc import Hashable, Sequence


def ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    """How often each n-gram (a tuple of n consecutive tokens) occurs in `tokens`."""
    return Counter(tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1))


def ngram_precision(pred_tokens: Sequence[Hashable], label_tokens: Sequence[Hashable], n: int) -> float:
    """p_n: matched n-grams of the prediction (clipped by their count in the label) over the
    prediction's n-grams; 0 when the prediction has none."""
    pred, label = ngrams(pred_tokens, n), ngrams(label_tokens, n)
    total = sum(pred.values())
    if total == 0:
        return 0.0
    return sum(min(count, label[g]) for g, count in pred.items()) / total


def brevity_penalty(len_pred: int, len_label: int) -> float:
    """exp(min(0, 1 - len_label / len_pred)): 1 for predictions at least as long as the label."""
    if len_pred == 0:
        return 0.0
    return math.exp(min(0.0, 1.0 - len_label / len_pred))


def bleu(pred_tokens: Sequence[Hashable], label_tokens: Sequence[Hashable], k: int = 2) -> float:
    """The book's BLEU of one prediction against one label, n-grams up to `k` (book: 2)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    score = brevity_penalty(len(pred_tokens), len(label_tokens))
    for n in range(1, k + 1):
        if score == 0.0:
            break
        score *= ngram_precision(pred_tokens, label_tokens, n) ** (0.5 ** n)
    return score
