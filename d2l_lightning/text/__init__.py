"""Text tools of our own (the book's chapters 6 and 10 without torchtext): the vocabulary with its
special tokens, tokenizing, truncating and padding sequences. Models and data modules import this
package; it imports neither."""

from d2l_lightning.text.sequences import pad_batch, sequence_mask, tokenize, truncate_pad
from d2l_lightning.text.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = ["BOS", "EOS", "PAD", "SPECIALS", "UNK", "Vocab", "pad_batch", "sequence_mask",
           "tokenize", "truncate_pad"]
