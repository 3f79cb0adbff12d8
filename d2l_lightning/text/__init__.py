"""Text tools of our own (the book's chapters 6 and 10 without torchtext): the vocabulary with its
special tokens, tokenizing, truncating and padding sequences. Models and data modules import this
package; it imports neither."""

from d2l_lightning.text.bleu import bleu
from d2l_lightning.text.decoding import Hypothesis, beam_search, greedy_search
from d2l_lightning.text.embedding import (
    TokenEmbedding,
    get_analogy,
    get_similar_tokens,
    knn,
    load_pretrained_embedding,
)
from d2l_lightning.text.sequences import pad_batch, sequence_mask, tokenize, truncate_pad
from d2l_lightning.text.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = ["BOS", "EOS", "PAD", "SPECIALS", "UNK", "Vocab", "pad_batch", "sequence_mask",
           "tokenize", "truncate_pad"]
__all__ += ["Hypothesis", "beam_search", "bleu", "greedy_search"]  # chapter 10.10-10.12
__all__ += ["TokenEmbedding", "get_analogy", "get_similar_tokens", "knn",  # chapter 10.6-10.7
            "load_pretrained_embedding"]
