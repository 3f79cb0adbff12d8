"""10.5 GloVe: co-occurrence counts x_ij and the weighted squared loss fitted to them.

The book gives the model without code:

    loss = sum over i, j with x_ij > 0 of  h(x_ij) (u_j . v_i + b_i + c_j - log x_ij)^2

with v_i, u_j the centre and context vectors, b_i, c_j their scalar biases, and the weight
h(x) = (x / c)^alpha for x < c, else 1 (the book: alpha = 0.75, c = 100). The book calls that
constant c, which is also the name of the context bias; here it is `x_max`, as in the GloVe paper.
Pairs with x_ij = 0 have h = 0 and are left out, so training samples minibatches of the non-zero
counts, computed once from the whole corpus.
"""

import torch
from torch import Tensor

from d2l_lightning.errors import check_range


def glove_weight(x: Tensor, x_max: float = 100.0, alpha: float = 0.75) -> Tensor:
    """h(x): (x / x_max)^alpha below x_max, 1 from there on (0 at x = 0)."""
    return torch.clamp(x / x_max, max=1.0) ** alpha


def glove_loss(scores: Tensor, x: Tensor, x_max: float = 100.0, alpha: float = 0.75) -> Tensor:
    """Mean over the pairs of h(x_ij) (s_ij - log x_ij)^2, where `scores` s_ij = u_j . v_i + b_i + c_j
    and `x` their co-occurrence counts (all > 0). (The book writes the sum; a minibatch mean keeps
    the learning rate independent of the batch size.)"""
    return (glove_weight(x, x_max, alpha) * (scores - torch.log(x)) ** 2).mean()


def cooccurrence_counts(tokens: Tensor, lengths: Tensor, window: int, vocab_size: int,
                        distance_weighting: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(i, j, x_ij) for every pair of words that occur within `window` positions of each other in
    the same sentence, counted both ways (x_ij = x_ji). With `distance_weighting` a pair d words
    apart adds 1/d, as the GloVe paper does; otherwise 1.

    Args:
        tokens: all sentences' token indices, one after another (1-D).
        lengths: the number of tokens of each sentence (they add up to len(tokens)).
        window: the largest distance counted (>= 1).
        vocab_size: indices are below it.
    Returns:
        i, j (int64) and x (float32), sorted by (i, j), one entry per non-zero count.
    """
    check_range("window", window, ">= 1")
    tokens = tokens.long()
    sentence = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    keys, weights = [], []
    for d in range(1, window + 1):
        same = sentence[:-d] == sentence[d:]  # both ends in one sentence
        a, b = tokens[:-d][same], tokens[d:][same]
        w = torch.full((len(a),), 1.0 / d if distance_weighting else 1.0, dtype=torch.float64)
        keys += [a * vocab_size + b, b * vocab_size + a]
        weights += [w, w]
    if not keys:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, torch.zeros(0)
    # one entry per distinct (i, j): unique keys and the summed weights of each
    key, inverse = torch.unique(torch.cat(keys), return_inverse=True)
    x = torch.zeros(len(key), dtype=torch.float64).index_add_(0, inverse, torch.cat(weights))
    return key // vocab_size, key % vocab_size, x.float()
