"""10.12 translation data: the book's file and length filter, one vocabulary per language, batches
for teacher forcing with valid lengths, held-out pairs, the fra-eng zip (generated, in d2l's
layout), other files by path, checksums, and what `predict` is given."""

import pytest
import torch
from conftest import SHARED_DATA
from helpers.fakedata import make_translation_pairs

from d2l_lightning.datamodules import TranslationPairs
from d2l_lightning.datamodules.translation import normalize_fra_eng
from d2l_lightning.errors import ConfigError, DataError

needs_pairs = pytest.mark.skipif(not (SHARED_DATA / "fr-en-small.txt").is_file(),
                                 reason="real data (../shared/data) not present")


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return make_translation_pairs(tmp_path_factory.mktemp("pairs"))


def _data(pairs_dir, stage="fit", **kwargs) -> TranslationPairs:
    dm = TranslationPairs(data_dir=str(pairs_dir), checksum=False, **kwargs)
    dm.setup(stage)
    return dm


@needs_pairs
def test_the_books_20_pairs():
    dm = TranslationPairs(data_dir=str(SHARED_DATA))  # checksum verified
    dm.setup("fit")
    assert len(dm.train_set) == len(dm.val_set) == 20  # every pair fits max_seq_len 7; val = train
    assert dm.src_vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"]
    # the book's dataset[0] 'elle est vieille .' -> 'she is old .': 4 words and <eos>, each side
    src, tgt = dm.train_set[0]
    assert dm.src_vocab.decode(src, " ") == "elle est vieille . <eos>"
    assert dm.tgt_vocab.decode(tgt, " ") == "she is old . <eos>"
    # 'canadiens' of the book's second example is not in the training pairs; 'canadienne' is
    assert "canadiens" not in dm.src_vocab and "canadienne" in dm.src_vocab


def test_long_pairs_are_skipped_and_vocabularies_are_per_language(pairs_dir):
    dm = _data(pairs_dir)
    assert len(dm.train_set) == 24  # the 25th pair has 7 tokens: no room for <eos> in 7
    assert "tres" not in dm.src_vocab and "il" in dm.src_vocab and "il" not in dm.tgt_vocab
    assert len(_data(pairs_dir, max_seq_len=8).train_set) == 25
    assert len(_data(pairs_dir, num_examples=10).train_set) == 10


def test_a_batch_is_ready_for_teacher_forcing():
    dm = TranslationPairs()
    dm.set_pairs([("a b c".split(), "x".split()), ("a".split(), "y z x".split())])
    src, src_valid_len, dec_input, target = dm.collate(dm.train_set)
    bos, eos, pad = dm.tgt_vocab.bos, dm.tgt_vocab.eos, dm.tgt_vocab.pad
    assert src.shape == (2, 4) and src_valid_len.tolist() == [4, 2]  # words and <eos>
    assert src[1, 2:].tolist() == [dm.src_vocab.pad] * 2
    x, y, z = (dm.tgt_vocab.index(w) for w in "xyz")
    assert target.tolist() == [[x, eos, pad, pad], [y, z, x, eos]]
    assert dec_input.tolist() == [[bos, x, pad, pad], [bos, y, z, x]]  # <bos> + the target shifted
    # predict batches are sources alone
    assert len(dm.collate([(s,) for s, _ in dm.train_set])) == 2


def test_held_out_pairs(pairs_dir):
    dm = _data(pairs_dir, val_fraction=0.25)
    assert len(dm.train_set) == 18 and len(dm.val_set) == 6
    assert not {tuple(s) for s, _ in dm.val_set} & {tuple(s) for s, _ in dm.train_set}
    again = _data(pairs_dir, val_fraction=0.25)
    assert again.val_set == dm.val_set  # the same split every time
    with pytest.raises(ConfigError, match="val_fraction"):
        TranslationPairs(val_fraction=1.0)


def test_fra_eng_in_d2ls_layout_is_read_french_to_english(pairs_dir):
    dm = _data(pairs_dir, dataset="fra-eng")
    assert len(dm.train_set) == 24
    src, tgt = dm.train_set[0]
    # 'He is tall.<TAB>Il est grand\u202f!<TAB>CC-BY ...': lower case, punctuation split off
    assert dm.src_vocab.decode(src, " ") == "il est grand ! <eos>"
    assert dm.tgt_vocab.decode(tgt, " ") == "he is tall . <eos>"
    assert dm.tokens("Il est Grand!") == ["il", "est", "grand", "!"]  # sentences to translate too
    assert "he" in _data(pairs_dir, dataset="fra-eng", swap=True).src_vocab  # English to French
    assert normalize_fra_eng("Va, vite\xa0!") == "va , vite !"


def test_other_files_checksums_and_missing_data(pairs_dir, tmp_path):
    own = tmp_path / "mine.tsv"
    own.write_text("un chat .\ta cat .\n\nun chien .\ta dog .\n", encoding="utf-8")
    assert len(_data(tmp_path, path="mine.tsv").train_set) == 2  # relative to the data folder
    assert len(_data(pairs_dir, path=str(own)).train_set) == 2
    own.write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1"):
        _data(tmp_path, path=str(own))
    with pytest.raises(DataError, match="no file of pairs"):
        _data(tmp_path, path="missing.tsv")
    # the generated file is not the book's: refused by its checksum (offline: no download)
    with pytest.raises(DataError, match="checksum mismatch"):
        TranslationPairs(data_dir=str(pairs_dir)).setup("fit")
    # fra-eng is not here: the error names the file, its checksum and where to put it
    with pytest.raises(DataError, match=r"fra-eng.zip.*94646ad1522d915e7b0f9296181140edcf86a4f5"):
        TranslationPairs(dataset="fra-eng", data_dir=str(tmp_path)).setup("fit")
    with pytest.raises(ConfigError, match="dataset must be one of"):
        TranslationPairs(dataset="de-en")


def test_what_predict_translates(pairs_dir):
    dm = _data(pairs_dir, "predict", sentences=["il est grand ."])
    assert dm.references is None and len(dm.predict_set) == 1
    book = TranslationPairs()
    assert book.sentences == ["ils regardent .", "ils sont canadienne ."]
    assert book.references == ["they are watching .", "they are canadian ."]
    with pytest.warns(UserWarning, match="translated as <unk>: inconnu, mot"):
        dm = _data(pairs_dir, "predict", sentences=["il est inconnu mot ."])
    assert dm.predict_set[0][0][3] == dm.src_vocab.unk
    with pytest.raises(ConfigError, match=r"sentences\[1\] is empty"):
        TranslationPairs(sentences=["il est grand .", " "])
    with pytest.raises(ConfigError, match="references has 1 sentences but sentences has 2"):
        TranslationPairs(sentences=["a", "b"], references=["x"])
    assert dm.decode_target(torch.tensor([dm.tgt_vocab.index("he"), dm.tgt_vocab.eos, 5])) == "he"


def test_translations_table_and_heatmaps(pairs_dir, tmp_path):
    dm = _data(pairs_dir, "predict", sentences=["il est grand .", "elle est petit ."],
               references=["he is tall .", "she is small ."])
    he, is_, tall, dot, eos = (dm.tgt_vocab.index(w) for w in ("he", "is", "tall", ".", "<eos>"))
    outputs = {"tokens": [[he, is_, tall, dot, eos], [he, eos]],
               "attention": [torch.full((5, 5), 0.2), None]}  # the second: a model without attention
    table = dm.prediction_frame(outputs)
    assert table["translation"].tolist() == ["he is tall .", "he"]
    assert table["bleu"].tolist() == [1.0, 0.0]  # 'he' has no bigram: BLEU (k=2) 0
    files = dm.prediction_files(outputs, tmp_path)
    assert [p.name for p in files] == ["attention_0.png"] and files[0].stat().st_size > 0
