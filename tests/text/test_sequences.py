"""d2l_lightning.text: special tokens, tokenizing, truncating and padding."""

import pytest
import torch

from d2l_lightning.errors import ConfigError
from d2l_lightning.text import BOS, EOS, PAD, UNK, Vocab, pad_batch, sequence_mask, tokenize, truncate_pad


def test_sequence_vocabulary_has_the_special_tokens_first():
    v = Vocab.for_sequences("ils regardent . ils sont .".split())
    assert v.idx_to_token[:4] == [UNK, PAD, BOS, EOS] and (v.unk, v.pad, v.bos, v.eos) == (0, 1, 2, 3)
    assert v.encode(["ils", "canadiens"]) == [v.token_to_idx["ils"], 0]  # unknown words -> <unk>
    with pytest.raises(KeyError):
        _ = Vocab("abc").pad  # a character vocabulary has no padding token


def test_tokenize_truncate_pad():
    assert tokenize(["this movie is great"]) == [["this", "movie", "is", "great"]]
    assert tokenize(["ab"], token="char") == [["a", "b"]]
    with pytest.raises(ConfigError, match="token must be"):
        tokenize(["x"], token="byte")
    assert truncate_pad([5, 6, 7], 5, 0) == [5, 6, 7, 0, 0]
    assert truncate_pad(list(range(600)), 500, 0) == list(range(500))  # 10.7: reviews cut to 500


def test_pad_batch_keeps_valid_lengths_and_masks_them():
    X, valid = pad_batch([[4, 5, 6], [7], torch.tensor([8, 9])], padding_token=1)
    assert X.tolist() == [[4, 5, 6], [7, 1, 1], [8, 9, 1]] and valid.tolist() == [3, 1, 2]
    assert sequence_mask(valid, 3).tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    X, valid = pad_batch([[4, 5, 6]], padding_token=1, length=2)
    assert X.tolist() == [[4, 5]] and valid.tolist() == [2]
