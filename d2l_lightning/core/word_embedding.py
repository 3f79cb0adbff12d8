"""`WordEmbedding`: the family of chapter 10's word-vector models (10.3 skip-gram with negative
sampling; GloVe, beyond the book).

What they share lives here once: the embedding tables sized by the data's vocabulary (the build
hook), and `predict`, which answers query words with their nearest words by cosine similarity
(10.3.6 `get_similar_tokens`, with 10.6's `knn` from `d2l_lightning.text`). Two families say how a
model is trained:

- `NegativeSamplingEmbedding` (10.3): batches (centers, contexts_negatives, masks, labels) from
  `batchify`; the loss is the book's masked sigmoid binary cross-entropy, each row's loss divided by
  its number of real (unpadded) entries and averaged over the rows, so `train/loss` is the book's
  mask-normalised mean (1.97 after the first epoch, 0.32 after ten).
- `CooccurrenceEmbedding` (10.5): batches (i, j, x_ij) of non-zero co-occurrence counts; the loss is
  GloVe's weighted squared error (`d2l_lightning.text.cooccurrence.glove_loss`).
"""

from abc import ABCMeta, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from d2l_lightning.core.module import D2LModule, SizedByVocabulary
from d2l_lightning.errors import ConfigError, check_range
from d2l_lightning.text.cooccurrence import glove_loss
from d2l_lightning.text.embedding import knn


class WordEmbedding(SizedByVocabulary, D2LModule, metaclass=ABCMeta):
    """Base of the word-vector models. A concrete model defines `build_network(vocab_size)` (its
    embedding tables, made when the data's vocabulary is known) and `token_vectors()` (the vectors
    `predict` compares: the skip-gram's centre vectors, GloVe's centre + context sums).

    Args:
        vocab_size: size of the vocabulary; null = take it from the data module's `vocab` (the
            checkpoint then records it).
        embed_size: dimension of the word vectors (book 100).
        optimizer, scheduler: see `D2LModule`.
    """

    # no validation data: the book watches the training loss
    monitor = "train/loss"
    monitor_mode = "min"

    def __init__(self, vocab_size: int | None = None, embed_size: int = 100,
                 optimizer: OptimizerCallable | None = None, scheduler: LRSchedulerCallable | None = None,
                 **kwargs):
        super().__init__(optimizer=optimizer, scheduler=scheduler, **kwargs)  # kwargs: init_from ...
        check_range("embed_size", embed_size, ">= 1")
        self.embed_size = embed_size
        self.vocab_size: int | None = None
        if vocab_size is not None:
            self._build_network(vocab_size)

    @abstractmethod
    def build_network(self, vocab_size: int) -> None:
        """Creates the embedding tables for `vocab_size` words (each model defines it)."""

    @abstractmethod
    def token_vectors(self) -> Tensor:
        """(vocab_size, embed_size): the word vectors compared by `predict`."""

    @torch.no_grad()
    def similar_tokens(self, query_token: str, k: int, vocab) -> list[tuple[str, float]]:
        """10.3.6 `get_similar_tokens`: the `k` words whose vectors are most similar (cosine, 10.6's
        `knn`) to the query's, most similar first, the query itself left out. An unknown query is a
        `ConfigError` naming it."""
        if query_token not in vocab:
            raise ConfigError(f"query word {query_token!r} is not in the vocabulary ({len(vocab)} words); "
                              "change data.init_args.queries.")
        q = vocab.index(query_token)
        W = self.token_vectors().detach().float()
        topk, cos = knn(W, W[q], k + 1)  # the query is (almost always) its own nearest word
        return [(vocab.idx_to_token[i], c) for i, c in zip(topk, cos) if i != q][:k]

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0) -> dict[str, list]:
        """A batch of query words -> `similar.csv` rows (query, rank, token, cosine)."""
        dm = self.datamodule
        if getattr(dm, "vocab", None) is None:
            raise ConfigError(f"{type(self).__name__}.predict needs a data module with a vocabulary.")
        rows: dict[str, list] = {"query": [], "rank": [], "token": [], "cosine": []}
        for query in [batch] if isinstance(batch, str) else batch:
            for rank, (token, cos) in enumerate(self.similar_tokens(query, dm.k, dm.vocab), start=1):
                for key, value in zip(rows, (query, rank, token, round(cos, 4))):
                    rows[key].append(value)
        return rows


def sigmoid_binary_cross_entropy(inputs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Per row: the mean binary cross-entropy of sigmoid(inputs) against the 0/1 targets over the
    entries where mask is 1 (the book's `SigmoidBinaryCrossEntropyLoss` times max_len / mask sum;
    its check: [0.8740, 1.2100])."""
    mask = mask.float()
    losses = F.binary_cross_entropy_with_logits(inputs.float(), targets.float(), weight=mask, reduction="none")
    return losses.sum(dim=1) / mask.sum(dim=1)


class SigmoidBinaryCrossEntropyLoss(nn.Module):
    """10.3.5.1 as the book writes it: the masked binary cross-entropy averaged over all max_len
    positions of each row (padding counts as 0); the training loss rescales it by max_len / mask
    sum (`sigmoid_binary_cross_entropy` does both at once)."""

    def forward(self, inputs: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
        weight = mask.float() if mask is not None else None
        return F.binary_cross_entropy_with_logits(inputs.float(), targets.float(), weight=weight,
                                                  reduction="none").mean(dim=1)


class NegativeSamplingEmbedding(WordEmbedding):
    """10.3: a word-vector model trained with negative sampling. `forward(center,
    contexts_and_negatives)` returns the scores (batch, 1, max_len); the batch's other elements
    (masks, labels) are the loss's target, and each example (a centre) counts once in the epoch mean."""

    def split_batch(self, batch: Any) -> tuple[tuple, Any]:
        center, contexts_negatives, *rest = batch
        if not rest:  # inputs only (no masks and labels)
            return (center, contexts_negatives), None
        mask, label = rest
        return (center, contexts_negatives), (label, mask)

    def loss(self, pred: Tensor, target: tuple[Tensor, Tensor]) -> Tensor:
        label, mask = target
        return sigmoid_binary_cross_entropy(pred.view(label.shape), label, mask).mean()

    def batch_weight(self, target: tuple[Tensor, Tensor]) -> int:
        return target[0].shape[0]  # the book averages the rows' losses


class CooccurrenceEmbedding(WordEmbedding):
    """10.5 GloVe's training: `forward(i, j)` returns the scores s_ij = u_j . v_i + b_i + c_j of a batch
    of word pairs; the target is their co-occurrence counts x_ij and the loss is the weighted squared
    error h(x_ij) (s_ij - log x_ij)^2, averaged over the pairs.

    Args:
        x_max, alpha: the weighting h(x) = (x / x_max)^alpha below x_max, else 1 (book: c = 100, 0.75).
        vocab_size, embed_size, optimizer, scheduler: see `WordEmbedding`.
    """

    def __init__(self, vocab_size: int | None = None, embed_size: int = 100, x_max: float = 100.0,
                 alpha: float = 0.75, optimizer: OptimizerCallable | None = None,
                 scheduler: LRSchedulerCallable | None = None, **kwargs):
        check_range("x_max", x_max, "> 0")
        check_range("alpha", alpha, "> 0")
        super().__init__(vocab_size=vocab_size, embed_size=embed_size, optimizer=optimizer, scheduler=scheduler,
                         **kwargs)
        self.x_max, self.alpha = x_max, alpha

    def loss(self, scores: Tensor, x: Tensor) -> Tensor:
        return glove_loss(scores, x, self.x_max, self.alpha)
