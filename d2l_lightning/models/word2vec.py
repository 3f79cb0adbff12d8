"""Word vectors: 10.3's skip-gram (two embedding tables and a batched matrix product) and, beyond
the book, GloVe (10.5) trained on PTB's co-occurrence counts. The loss, the vocabulary-sized build
and the nearest-words `predict` are the family's (`d2l_lightning.core.word_embedding`)."""

import torch
from torch import Tensor, nn

from d2l_lightning.core.word_embedding import CooccurrenceEmbedding, NegativeSamplingEmbedding


def skip_gram(center: Tensor, contexts_and_negatives: Tensor, embed_v: nn.Embedding,
              embed_u: nn.Embedding) -> Tensor:
    """10.3.4.3: the inner product of each centre's vector with the vectors of its context and
    noise words, (batch, 1, max_len), by one `bmm` of (batch, 1, d) and (batch, d, max_len)."""
    v = embed_v(center)
    u = embed_u(contexts_and_negatives)
    return torch.bmm(v, u.permute(0, 2, 1))


class SkipGram(NegativeSamplingEmbedding):
    """10.3: skip-gram with negative sampling. `embed_v` holds the centre vectors (the word vectors
    `predict` compares, as the book's `net[0]`), `embed_u` the context vectors; both start as
    `nn.Embedding`'s N(0, 1), as in the book."""

    def build_network(self, vocab_size: int) -> None:
        self.embed_v = nn.Embedding(vocab_size, self.embed_size)
        self.embed_u = nn.Embedding(vocab_size, self.embed_size)

    def forward(self, center: Tensor, contexts_and_negatives: Tensor) -> Tensor:
        return skip_gram(center, contexts_and_negatives, self.embed_v, self.embed_u)

    def token_vectors(self) -> Tensor:
        return self.embed_v.weight


class GloVe(CooccurrenceEmbedding):
    """Beyond the book (10.5 describes it without code): centre vectors v_i and context vectors u_j
    with scalar biases b_i and c_j; the score of a pair is u_j . v_i + b_i + c_j. Initialised
    uniformly in [-0.5, 0.5] / embed_size as the GloVe reference code does. The final word vector is
    v + u, as the book says."""

    def build_network(self, vocab_size: int) -> None:
        self.embed_v = nn.Embedding(vocab_size, self.embed_size)
        self.embed_u = nn.Embedding(vocab_size, self.embed_size)
        self.bias_v = nn.Embedding(vocab_size, 1)
        self.bias_u = nn.Embedding(vocab_size, 1)

    def init_weights(self) -> None:
        for table in (self.embed_v, self.embed_u, self.bias_v, self.bias_u):
            nn.init.uniform_(table.weight, -0.5 / self.embed_size, 0.5 / self.embed_size)

    def forward(self, i: Tensor, j: Tensor) -> Tensor:
        return ((self.embed_v(i) * self.embed_u(j)).sum(dim=-1)
                + self.bias_v(i).squeeze(-1) + self.bias_u(j).squeeze(-1))

    def token_vectors(self) -> Tensor:
        return self.embed_v.weight + self.embed_u.weight
