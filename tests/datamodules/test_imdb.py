"""10.7 IMDb data on a tiny generated aclImdb tarball and GloVe file: reading, the book's tokenizer,
vocabulary and padding, the data module's batches, GloVe vectors in the vocabulary's order, texts
never seen in training, and the file lookup's errors; the real data's counts (`slow`)."""

import pytest
import torch
from conftest import SHARED_DATA
from helpers.fakedata import make_glove, make_imdb

from d2l_lightning.datamodules import IMDb
from d2l_lightning.datamodules.glove_files import find_glove
from d2l_lightning.datamodules.imdb import (
    LABELED,
    ORIGINAL,
    get_vocab_imdb,
    preprocess_imdb,
    read_imdb,
    tokenize_review,
)
from d2l_lightning.errors import ConfigError, DataError
from d2l_lightning.text import PAD, UNK, TokenEmbedding, truncate_pad


@pytest.fixture(scope="module")
def imdb_dir(tmp_path_factory):
    return make_glove(make_imdb(tmp_path_factory.mktemp("imdb")))


def tiny(imdb_dir, **kwargs) -> IMDb:
    dm = IMDb(data_dir=str(imdb_dir), checksum=False, **{"num_steps": 40, "batch_size": 8, **kwargs})
    dm.setup("fit")
    return dm


def test_read_imdb_both_splits_lower_cased_without_line_breaks(imdb_dir):
    data = read_imdb(imdb_dir / LABELED.path)
    assert [len(data[s]) for s in ("train", "test")] == [40, 20]
    labels = [label for _, label in data["train"]]
    assert labels == [1] * 20 + [0] * 20  # positive first, as the book reads pos then neg
    for review, _ in data["train"] + data["test"]:
        assert review == review.lower() and "\n" not in review and "<br />" in review


def test_the_books_tokenizer_vocabulary_and_padding():
    assert tokenize_review("This movie.<br /><br />So  GOOD\n") == ["this", "movie.<br", "/><br", "/>so", "",
                                                                     "good"]
    tokenized = [["a", "b", "a"], ["a", "c", "a", "b"], ["a", "b", "d"]]
    vocab = get_vocab_imdb(tokenized, min_freq=2)
    assert vocab.idx_to_token == [UNK, PAD, "a", "b"] and vocab.pad == 1
    X = preprocess_imdb(tokenized, vocab, num_steps=3)
    assert X.tolist() == [truncate_pad(vocab.encode(t), 3, vocab.pad) for t in tokenized]
    assert X.tolist() == [[2, 3, 2], [2, 0, 2], [2, 3, 0]]


def test_batches_vocabulary_and_validation_on_the_test_reviews(imdb_dir):
    dm = tiny(imdb_dir)
    assert dm.val_set is dm.test_set and len(dm.train_set) == 40 and len(dm.test_set) == 20
    X, y = next(iter(dm.train_dataloader()))
    assert X.shape == (8, 40) and y.shape == (8,) and X.dtype == torch.long and set(y.tolist()) <= {0, 1}
    assert dm.vocab.idx_to_token[:2] == [UNK, PAD] and "great" in dm.vocab and "great" in dm.vocab.counts
    assert all(c >= 5 for t, c in dm.vocab.counts.items() if t in dm.vocab)  # min_freq 5
    long_review = dm.train_set.tensors[0][0]  # the 600-word review, cut to num_steps
    assert (long_review != dm.vocab.pad).all()
    held_out = tiny(imdb_dir, val_split=0.25)
    assert len(held_out.train_set) == 30 and len(held_out.val_set) == 10
    assert held_out.val_set is not held_out.test_set
    with pytest.raises(ConfigError, match="leaves no training data"):
        tiny(imdb_dir, val_split=40)


def test_pretrained_vectors_in_vocabulary_order_with_the_oov_count(imdb_dir, capsys):
    dm = tiny(imdb_dir)
    vectors = dm.pretrained_vectors()
    glove = TokenEmbedding(imdb_dir / "glove" / "glove.6B.50d.txt.gz")
    assert vectors.shape == (len(dm.vocab), 50)
    missing = [t for t in dm.vocab.idx_to_token if t not in glove]
    for i, token in enumerate(dm.vocab.idx_to_token):
        assert torch.equal(vectors[i], glove[token])  # zeros for the missing ones
    assert UNK in missing and PAD in missing and "plot" in missing
    assert f"{len(missing)} of the {len(dm.vocab)} vocabulary words have no vector" in capsys.readouterr().err
    assert tiny(imdb_dir, glove=None).pretrained_vectors() is None


def test_sentences_never_seen_in_training(imdb_dir):
    sentences = ["This movie is so GREAT", "zyzzyva quux", "", " ".join(["boring"] * 10_000)]
    dm = tiny(imdb_dir, sentences=sentences)
    (X,) = dm.predict_set.tensors
    v = dm.vocab
    assert X.shape == (4, 40)
    assert X[0, :5].tolist() == v.encode(["this", "movie", "is", "so", "great"]) and (X[0, 5:] == v.pad).all()
    assert X[1, :2].tolist() == [v.unk, v.unk] and X[2, 0] == v.unk and (X[2, 1:] == v.pad).all()
    assert (X[3] == v.index("boring")).all()  # 10,000 words cut to num_steps
    assert tiny(imdb_dir, sentences="one text").predict_set.tensors[0].shape == (1, 40)
    with pytest.raises(ConfigError, match="sentences must be a list of texts"):
        IMDb(sentences=[])


def test_file_lookup_original_name_and_errors(tmp_path, imdb_dir, monkeypatch):
    # the original release's name is found too
    make_imdb(tmp_path / "orig", name=ORIGINAL.path)
    dm = IMDb(data_dir=str(tmp_path / "orig"), checksum=False)
    assert dm.reviews_file() == tmp_path / "orig" / ORIGINAL.path
    # verified lookup offline: the tiny file fails the checksum, the original cannot be downloaded
    with pytest.raises(DataError) as e:
        IMDb(data_dir=str(imdb_dir)).reviews_file()
    message = str(e.value)
    assert "checksum mismatch" in message and ORIGINAL.checksum.split(":")[1] in message
    assert LABELED.path in message and "D2L_OFFLINE" in message
    with pytest.raises(DataError, match="missing"):
        IMDb(data_dir=str(tmp_path / "empty"), checksum=False).reviews_file()
    # GloVe: by name (verified: the tiny file is not Stanford's), by path, unknown names
    with pytest.raises(DataError, match="checksum mismatch"):
        find_glove("glove.6B.50d", imdb_dir)
    own = imdb_dir / "glove" / "glove.6B.50d.txt.gz"
    assert find_glove(str(own)) == own
    with pytest.raises(DataError, match="glove.6B.zip"):
        find_glove("glove.6B.100d", tmp_path / "empty")
    with pytest.raises(DataError, match="unknown vectors 'glove.7B'"):
        find_glove("glove.7B", imdb_dir)
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="cannot read the reviews"):
        read_imdb(tmp_path / "bad.tar.gz")


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / LABELED.path).is_file(), reason="IMDb (../shared/data) not present")
def test_real_imdb_counts_vocabulary_and_glove(monkeypatch, capsys):
    monkeypatch.setenv("D2L_DATA_DIR", str(SHARED_DATA))
    dm = IMDb()
    dm.setup("fit")
    assert len(dm.train_set) == 25_000 and len(dm.test_set) == 25_000
    assert int(dm.train_set.tensors[1].sum()) == 12_500 == int(dm.test_set.tensors[1].sum())
    assert len(dm.vocab) == 46_152  # the book's repository; the printed book (older torchtext): 46,151
    loader = dm.train_dataloader()
    X, y = next(iter(loader))
    assert X.shape == (64, 500) and y.shape == (64,) and len(loader) == 391  # the book's shapes and #batches
    vectors = dm.pretrained_vectors()
    assert vectors.shape == (46_152, 50)
    assert "21202 of the 46152 vocabulary words have no vector" in capsys.readouterr().err
