"""10.3 PTB data: the book's reading, subsampling, centre/context pairs, negative sampling and
`batchify`, checked against the book's printed values and small exact cases; the data module on a
tiny generated ptb.train.txt; the book's counts on the real file (slow)."""

import math

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from helpers.fakedata import make_ptb

from d2l_lightning.core.datamodule import data_generator
from d2l_lightning.datamodules.ptb import (
    PTB,
    PTBCooccurrence,
    Ragged,
    SkipGramDataset,
    batchify,
    get_centers_and_contexts,
    get_negatives,
    read_ptb,
    subsample,
)
from d2l_lightning.errors import ConfigError, DataError
from d2l_lightning.text.cooccurrence import cooccurrence_counts


@pytest.fixture(scope="module")
def ptb_dir(tmp_path_factory):
    return make_ptb(tmp_path_factory.mktemp("ptb"))


def tiny(ptb_dir, **kwargs) -> PTB:
    kwargs.setdefault("subsample_t", None)
    kwargs.setdefault("seed", 0)
    return PTB(data_dir=str(ptb_dir), checksum=False, batch_size=16, **kwargs)


def test_the_books_tiny_dataset_centres_and_contexts():
    # book: [[0..6], [7, 8, 9]], max window 2 -> "center 5 has contexts [3, 4, 6]" ... each context
    # list is the window of a w in {1, 2} around its centre, left to right, the centre left out
    data = Ragged.from_lists([list(range(7)), list(range(7, 10))])
    centers, contexts = get_centers_and_contexts(data, 2, data_generator(0))
    assert centers.tolist() == list(range(10))
    sentence = [list(range(7))] * 7 + [list(range(7, 10))] * 3
    for c, ctx, st in zip(centers.tolist(), contexts.to_lists(), sentence):
        windows = [[t for t in st if t != c and abs(t - c) <= w] for w in (1, 2)]
        assert ctx in windows
    # with windows of exactly 1 the pairs are fixed
    _, ctx1 = get_centers_and_contexts(data, 1, data_generator(0))
    assert ctx1.to_lists() == [[1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5], [8], [7, 9], [8]]


def test_window_sizes_are_uniform_and_short_sentences_have_no_centre():
    data = Ragged.from_lists([list(range(200)) * 50, [5]])  # one long sentence and a 1-word one
    centers, contexts = get_centers_and_contexts(data, 5, data_generator(1))
    assert len(centers) == 10_000  # the 1-word sentence gives no centre (the book skips it)
    interior = contexts.lengths[5:-5]  # 2 w contexts away from the sentence ends
    assert set(interior.unique().tolist()) == {2, 4, 6, 8, 10}
    share = torch.bincount(interior // 2)[1:].double() / len(interior)
    assert torch.all((share - 0.2).abs() < 0.02)


def test_subsampling_keeps_sqrt_t_over_f_and_every_rare_word():
    # word 0 is 90% of the tokens; word 1 has f = 1e-5 <= t = 1e-4: never dropped
    n = 200_000
    values = torch.zeros(n, dtype=torch.long)
    values[:2] = 1
    values[2: n // 10] = 2
    counts = torch.bincount(values)
    out = subsample(Ragged(values, torch.tensor([n])), counts, 1e-4, data_generator(0))
    kept = torch.bincount(out.values, minlength=3)
    assert kept[1] == 2 and out.lengths.tolist() == [len(out.values)]
    expected = math.sqrt(1e-4 / (counts[0].item() / n))
    assert kept[0].item() / counts[0].item() == pytest.approx(expected, rel=0.05)


def test_negatives_follow_the_weights_and_are_never_context_words():
    contexts = Ragged.from_lists([[0, 1], [2], [3, 0, 1]] * 1000)
    weights = torch.tensor([8.0, 4.0, 2.0, 1.0, 1.0]) ** 0.75
    neg = get_negatives(contexts, weights, 5, data_generator(0))
    assert neg.lengths.tolist() == (contexts.lengths * 5).tolist()
    for ctx, ng in zip(contexts.to_lists()[:300], neg.to_lists()[:300]):
        assert not set(ctx) & set(ng)
    # rows with contexts {2}: the noise words follow the weights of {0, 1, 3, 4}, renormalised
    rows = neg.values[neg.row_ids() % 3 == 1]
    freq = np.bincount(rows.numpy(), minlength=5) / len(rows)
    p = weights.clone()
    p[2] = 0
    np.testing.assert_allclose(freq, (p / p.sum()).numpy(), atol=0.02)
    with pytest.raises(DataError, match="cannot draw noise words"):  # every word is a context word
        get_negatives(Ragged.from_lists([[0, 1]]), torch.ones(2), 5, data_generator(0))


def test_batchify_pads_masks_and_labels_as_the_book():
    data = [(1, [2, 3], [4, 5, 6, 7]), (8, [9], [10, 11])]
    centers, contexts_negatives, masks, labels = batchify(data)
    assert centers.tolist() == [[1], [8]]
    assert contexts_negatives.tolist() == [[2, 3, 4, 5, 6, 7], [9, 10, 11, 0, 0, 0]]
    assert masks.tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert labels.tolist() == [[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]]
    # the dataset's gathered items give the same batch as the book's list of items
    ds = SkipGramDataset(torch.tensor([1, 8]), Ragged.from_lists([[2, 3], [9]]),
                         Ragged.from_lists([[4, 5, 6, 7], [10, 11]]))
    assert ds[1][0] == 8 and ds[1][1].tolist() == [9] and ds[1][2].tolist() == [10, 11]
    for a, b in zip(batchify(ds.__getitems__([1, 0])), batchify([data[1], data[0]])):
        assert torch.equal(a, b)


def test_data_module_on_a_tiny_ptb(ptb_dir):
    assert len(read_ptb(ptb_dir / "ptb" / "ptb.train.txt")) == 150
    dm = tiny(ptb_dir)
    dm.setup("fit")
    assert "chip" in dm.vocab and "rareword" not in dm.vocab and "<unk>" in dm.vocab  # min_freq 5
    assert len(dm.dataset) == 150 and len(dm.dataset.values) == sum(dm.counts().tolist())
    centers, contexts_negatives, masks, labels = next(iter(dm.train_dataloader()))
    assert centers.shape == (16, 1) and contexts_negatives.shape == masks.shape == labels.shape
    assert contexts_negatives.shape[1] <= 2 * 5 * (1 + 5)
    assert torch.all(labels <= masks) and torch.all((masks.sum(1) / labels.sum(1)) == 6)  # 1 + K per context
    assert masks.dtype == labels.dtype == torch.float32 and centers.dtype == torch.long
    with pytest.raises(ConfigError, match="no test split"):
        dm.test_dataloader()


def test_the_draws_depend_on_the_seed_only(ptb_dir):
    def pairs(**kwargs):
        dm = tiny(ptb_dir, subsample_t=0.01, **kwargs)
        dm.setup("fit")
        return batchify(dm.train_set.__getitems__(list(range(len(dm.train_set)))))

    torch.manual_seed(3)
    run_seed = pairs(seed=None)
    torch.manual_seed(3)
    torch.rand(1000)  # whatever else used the global RNG meanwhile (a resumed run)
    again = pairs(seed=None)
    assert all(torch.equal(a, b) for a, b in zip(run_seed, again))
    assert all(torch.equal(a, b) for a, b in zip(pairs(seed=1), pairs(seed=1)))
    assert not torch.equal(pairs(seed=1)[1], pairs(seed=2)[1])


def test_predict_queries(ptb_dir):
    dm = tiny(ptb_dir, queries=["chip", "baby"])
    dm.setup("predict")
    assert dm.train_set is None and next(iter(dm.predict_dataloader())) == ["chip", "baby"]
    bad = tiny(ptb_dir, queries=["chip", "microprocessor"])
    with pytest.raises(ConfigError, match="'microprocessor' not in the vocabulary"):
        bad.setup("predict")
    with pytest.raises(ConfigError, match="queries must be"):
        tiny(ptb_dir, queries=[])


def test_cooccurrence_batches(ptb_dir):
    dm = PTBCooccurrence(data_dir=str(ptb_dir), checksum=False, batch_size=32, window=3)
    dm.setup("fit")
    i, j, x = cooccurrence_counts(dm.dataset.values, dm.dataset.lengths, 3, len(dm.vocab))
    assert [torch.equal(a, b) for a, b in zip(dm.train_set.tensors, (i, j, x))] == [True] * 3
    bi, bj, bx = next(iter(dm.train_dataloader()))
    assert bi.shape == bj.shape == bx.shape == (32,) and torch.all(bx > 0)


def test_checksum_and_missing_file(tmp_path):
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_text(" not the real file \n")
    with pytest.raises(DataError, match="checksum mismatch.*fcea919f"):
        PTB(data_dir=str(tmp_path)).setup("fit")
    with pytest.raises(DataError, match="missing"):
        PTB(data_dir=str(tmp_path / "nowhere"), checksum=False).setup("fit")


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "ptb" / "ptb.train.txt").is_file(), reason="real data not present")
def test_the_books_counts_on_the_real_ptb():
    dm = PTB(data_dir=str(SHARED_DATA), seed=0)
    dm.setup("fit")
    assert len(dm.dataset) == 42068 and len(dm.dataset.values) == 887100  # sentences, tokens >= 5
    assert 370_000 < len(dm.subsampled.values) < 381_000  # book: 375,875 (a random draw)
    the, join = dm.vocab.index("the"), dm.vocab.index("join")
    assert (dm.dataset.values == the).sum() == 50770 and 1900 < (dm.subsampled.values == the).sum() < 2150
    assert (dm.dataset.values == join).sum() == (dm.subsampled.values == join).sum() == 45  # f < t: kept
    batch = next(iter(dm.train_dataloader()))
    assert batch[0].shape == (512, 1) and batch[1].shape[0] == 512 and batch[1].shape[1] <= 60
