"""`EncoderDecoder`: the family of chapter 10's sequence-to-sequence models (10.9-10.12): an
encoder reads the source sentence, a decoder writes the target one token at a time.

What every such model shares lives here once:

- training by teacher forcing with no special step: the data module's batches are
  `(src, src_valid_len, dec_input, target)` with `dec_input` = `<bos>` + the target shifted by one,
  so `forward(src, src_valid_len, dec_input)` returns the logits of every target position at once
  and the base class's step contract does the rest;
- the loss: cross-entropy over the real target tokens only (the words and their `<eos>`, never
  `<pad>`), and epoch means weighted by the number of those tokens, so `train/loss` is the mean
  loss per target token. (The book's mask also counts the first `<pad>` after `<eos>`: its mask is
  updated after the loss of each step.)
- `val/bleu` (and `test/bleu`): each validation source is translated by greedy search, as the
  book's `translate`, and scored with the book's BLEU against its target (on token ids, so no
  vocabulary is needed), averaged over sentences;
- `predict`: greedy search, or beam search with `beam_size` > 1 (10.10); the data module turns the
  token ids into words, BLEU scores and attention heatmaps.

A concrete model states its network: `build_network(src_vocab_size, tgt_vocab_size)`, `forward`
for teacher forcing, and the three functions a search drives: `begin_decoding(src,
src_valid_len) -> state`, `decode_step(tokens, state) -> (logits, state, attention or None)` and
`reorder_state(state, index)` (see `d2l_lightning.text.decoding`).
"""

from abc import ABCMeta, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor

from d2l_lightning.core.module import D2LModule
from d2l_lightning.errors import ConfigError, check_range
from d2l_lightning.text import Hypothesis, Vocab, beam_search, bleu, greedy_search

# Where Vocab.for_sequences puts <pad>, <bos> and <eos> (a model rebuilt by `load` without a data
# module uses these; `build` takes them from the data's target vocabulary).
_LAYOUT = Vocab.for_sequences(())


class EncoderDecoder(D2LModule, metaclass=ABCMeta):
    """Base of the encoder-decoder models (see the module docstring).

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes of the source and target language; null =
            take them from the data module's `src_vocab` and `tgt_vocab` (the checkpoint then
            records them).
        beam_size: `predict` decodes by greedy search (1, the book's `translate`) or beam search
            with this many beams (10.10). Validation BLEU always uses greedy search.
        alpha: beam search ranks final candidates by log P / L**alpha (book 0.75).
        bleu_k: longest n-gram BLEU counts (book 2), for `val/bleu` and the BLEU of `predict`.
        max_len: most tokens a translation may have (`<eos>` included); null = the data's
            `max_seq_len` (book: 7, `translate` loops `max_seq_len` times).
        optimizer, scheduler: see `D2LModule`.
    """

    monitor = "val/bleu"
    monitor_mode = "max"

    def __init__(self, src_vocab_size: int | None = None, tgt_vocab_size: int | None = None,
                 beam_size: int = 1, alpha: float = 0.75, bleu_k: int = 2, max_len: int | None = None,
                 optimizer: OptimizerCallable | None = None, scheduler: LRSchedulerCallable | None = None,
                 **kwargs):
        super().__init__(optimizer=optimizer, scheduler=scheduler, **kwargs)  # kwargs: init_from ...
        check_range("beam_size", beam_size, ">= 1", "1 = greedy search.")
        check_range("alpha", alpha, ">= 0", "The book uses 0.75.")
        check_range("bleu_k", bleu_k, ">= 1", "The book uses 2.")
        check_range("max_len", max_len, ">= 1", "null = the data's max_seq_len.", none_ok=True)
        self.beam_size, self.alpha, self.bleu_k, self.max_len = beam_size, alpha, bleu_k, max_len
        self.pad, self.bos, self.eos = _LAYOUT.pad, _LAYOUT.bos, _LAYOUT.eos
        self.src_vocab_size: int | None = None
        self.tgt_vocab_size: int | None = None
        if (src_vocab_size is None) != (tgt_vocab_size is None):
            raise ConfigError("give both model.init_args.src_vocab_size and tgt_vocab_size, or neither "
                              "(then they come from the data).")
        if src_vocab_size is not None:
            self._build_network(src_vocab_size, tgt_vocab_size)

    # --- the network (each model) ----------------------------------------------------------------
    @abstractmethod
    def build_network(self, src_vocab_size: int, tgt_vocab_size: int) -> None:
        """Creates the layers for the two vocabularies."""

    @abstractmethod
    def begin_decoding(self, src: Tensor, src_valid_len: Tensor) -> Any:
        """Encodes a batch of sources; returns the decoder's first state."""

    @abstractmethod
    def decode_step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any, Tensor | None]:
        """(logits (n, tgt vocab), new state, attention (n, source length) or None) for the
        previous tokens (n,)."""

    @abstractmethod
    def reorder_state(self, state: Any, index: Tensor) -> Any:
        """The state of the batch rows `index` (beam search keeps and repeats beams)."""

    def _build_network(self, src_vocab_size: int, tgt_vocab_size: int) -> None:
        check_range("src_vocab_size", src_vocab_size, ">= 4", "<unk>, <pad>, <bos>, <eos> and words.")
        check_range("tgt_vocab_size", tgt_vocab_size, ">= 4", "<unk>, <pad>, <bos>, <eos> and words.")
        self.build_network(src_vocab_size, tgt_vocab_size)
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        # saved in checkpoints, so `load` rebuilds the same network without the data
        self.hparams["src_vocab_size"], self.hparams["tgt_vocab_size"] = src_vocab_size, tgt_vocab_size

    def build(self, datamodule) -> None:
        src_vocab, tgt_vocab = getattr(datamodule, "src_vocab", None), getattr(datamodule, "tgt_vocab", None)
        if src_vocab is None or tgt_vocab is None:
            if self.src_vocab_size is None:
                raise ConfigError(f"{type(self).__name__} needs model.init_args.src_vocab_size and "
                                  "tgt_vocab_size, or a data module with vocabularies to take them from.")
            return
        sizes = (len(src_vocab), len(tgt_vocab))
        if self.src_vocab_size is None:
            self._build_network(*sizes)
        elif (self.src_vocab_size, self.tgt_vocab_size) != sizes:
            raise ConfigError(f"the model has vocabularies of {self.src_vocab_size} (source) and "
                              f"{self.tgt_vocab_size} (target) tokens but the data has {sizes[0]} and "
                              f"{sizes[1]}; leave model.init_args.src_vocab_size/tgt_vocab_size out.")
        self.pad, self.bos, self.eos = tgt_vocab.pad, tgt_vocab.bos, tgt_vocab.eos
        if self.max_len is None and getattr(datamodule, "max_seq_len", None):
            self.max_len = self.hparams["max_len"] = datamodule.max_seq_len

    # --- the step contract --------------------------------------------------------------------------
    def split_batch(self, batch: Any) -> tuple[tuple, Any]:
        """Training batches are (src, src_valid_len, dec_input, target); `predict` batches are the
        sources alone, (src, src_valid_len)."""
        if len(batch) == 2:
            return tuple(batch), None
        return super().split_batch(batch)

    def forward_batch(self, inputs: tuple, stage: str) -> Any:
        """Teacher-forced logits; validation and test add the greedy translations BLEU scores,
        `predict` returns the searches' hypotheses only."""
        if stage == "predict":
            return self.translate_ids(*inputs[:2])
        logits = self(*inputs)
        if stage in ("val", "test"):
            return logits, self.translate_ids(*inputs[:2], beam_size=1)
        return logits

    def loss(self, outputs: Any, target: Tensor) -> Tensor:
        """Mean cross-entropy over the real target tokens (every token up to and including `<eos>`)."""
        logits = outputs[0] if isinstance(outputs, tuple) else outputs
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=self.pad)

    def batch_weight(self, target: Tensor) -> Tensor:
        return (target != self.pad).sum()  # real target tokens: epoch means are per token

    def update_metrics(self, outputs: Any, target: Tensor, stage: str, weight: Tensor | int) -> None:
        if not isinstance(outputs, tuple):
            return
        _, hypotheses = outputs
        labels = [[t for t in row if t not in (self.pad, self.eos)] for row in target.tolist()]
        scores = [bleu(h.without(self.eos), label, self.bleu_k) for h, label in zip(hypotheses, labels)]
        self.log_mean(f"{stage}/bleu", torch.tensor(sum(scores) / len(scores), device=self.device), len(scores))

    def predict_outputs(self, outputs: list[Hypothesis], target: Any) -> dict[str, list]:
        """Per source: the output tokens (`<eos>` included when found) and, for models with
        attention, the (output tokens x source tokens) attention weights (else None)."""
        return {"tokens": [h.tokens for h in outputs], "attention": [h.attention for h in outputs]}

    # --- decoding ---------------------------------------------------------------------------------
    def _decode_len(self, max_len: int | None) -> int:
        max_len = max_len or self.max_len
        if max_len is None:
            raise ConfigError(f"{type(self).__name__} does not know how long a translation may be: set "
                              "model.init_args.max_len (or pass max_len), or build it from a data module.")
        return max_len

    @torch.no_grad()
    def translate_ids(self, src: Tensor, src_valid_len: Tensor, beam_size: int | None = None,
                      max_len: int | None = None) -> list[Hypothesis]:
        """The best hypothesis for each source of a batch: greedy search for `beam_size` 1, else beam
        search (one source at a time). Call it in eval mode (dropout off), as Lightning does."""
        beam_size = beam_size or self.beam_size
        max_len = self._decode_len(max_len)
        state = self.begin_decoding(src, src_valid_len)
        if beam_size == 1:
            return greedy_search(self.decode_step, state, src.shape[0], self.bos, self.eos, max_len,
                                 device=src.device)
        return [beam_search(self.decode_step, self.reorder_state(state, torch.tensor([i], device=src.device)),
                            self.reorder_state, self.bos, self.eos, max_len, beam_size, self.alpha,
                            device=src.device)[0]
                for i in range(src.shape[0])]

    def translate(self, sentences: list[str], datamodule, beam_size: int | None = None) -> list[str]:
        """Sentences in, translations out, with the data module's vocabularies (notebooks, tests)."""
        was_training = self.training
        self.eval()
        try:
            src, src_valid_len = datamodule.collate([(datamodule.encode_source(s),) for s in sentences])
            hypotheses = self.translate_ids(src.to(self.device), src_valid_len.to(self.device), beam_size)
        finally:
            self.train(was_training)
        return [datamodule.decode_target(h.tokens) for h in hypotheses]
