"""10.3 skip-gram and its family: the book's loss check, `bmm` shapes, the masked loss against
torch's BCE, exact epoch means through the step contract, nearest words through `predict`; GloVe's
scores and loss."""

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from helpers.cli import QUIET, REPO, run_cli
from helpers.fakedata import make_ptb

from d2l_lightning.core.word_embedding import SigmoidBinaryCrossEntropyLoss, sigmoid_binary_cross_entropy
from d2l_lightning.datamodules.ptb import PTB, PTBCooccurrence
from d2l_lightning.errors import ConfigError
from d2l_lightning.models.word2vec import GloVe, SkipGram, skip_gram
from d2l_lightning.text import Vocab
from d2l_lightning.text.cooccurrence import glove_loss

PRED = torch.tensor([[1.5, 0.3, -1, 2], [1.1, -0.6, 2.2, 0.4]])
LABEL = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])


@pytest.fixture(scope="module")
def ptb_dir(tmp_path_factory):
    return make_ptb(tmp_path_factory.mktemp("ptb"))


def test_the_books_masked_loss_check():
    book = SigmoidBinaryCrossEntropyLoss()(PRED, LABEL, MASK) * MASK.shape[1] / MASK.float().sum(dim=1)
    torch.testing.assert_close(book, torch.tensor([0.8740, 1.2100]), atol=5e-5, rtol=0)
    torch.testing.assert_close(sigmoid_binary_cross_entropy(PRED, LABEL, MASK), book)
    # the book's hand computation: -log sigmoid(x) for labels 1, -log sigmoid(-x) for labels 0
    nll = lambda x: -torch.log(torch.sigmoid(torch.tensor(x))).item()  # noqa: E731
    assert (nll(1.5) + nll(-0.3) + nll(1) + nll(-2)) / 4 == pytest.approx(0.8740, abs=5e-5)
    assert (nll(1.1) + nll(-0.6) + nll(-2.2)) / 3 == pytest.approx(1.2100, abs=5e-5)


def test_masked_loss_equals_torch_bce_on_the_real_entries():
    g = torch.Generator().manual_seed(0)
    pred, label = torch.randn(6, 9, generator=g), (torch.rand(6, 9, generator=g) < 0.3).float()
    mask = (torch.arange(9) < torch.randint(1, 10, (6, 1), generator=g)).float()
    rows = [F.binary_cross_entropy_with_logits(p[m.bool()], y[m.bool()]) for p, y, m in zip(pred, label, mask)]
    torch.testing.assert_close(sigmoid_binary_cross_entropy(pred, label, mask), torch.stack(rows))


def test_skip_gram_is_a_batched_inner_product():
    embed_v, embed_u = torch.nn.Embedding(20, 4), torch.nn.Embedding(20, 4)
    center, cn = torch.tensor([[1], [4]]), torch.tensor([[1, 2, 3, 5, 6, 0], [4, 5, 6, 7, 8, 9]])
    out = skip_gram(center, cn, embed_v, embed_u)
    assert out.shape == (2, 1, 6)  # book: bmm((2, 1, 4), (2, 4, 6))
    torch.testing.assert_close(out, torch.einsum("bod,bld->bol", embed_v(center), embed_u(cn)))


def test_similar_tokens_by_cosine():
    vocab = Vocab(["a", "b", "c", "d", "e"])
    model = SkipGram(vocab_size=5, embed_size=2)
    with torch.no_grad():
        model.embed_v.weight.copy_(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0], [0.5, 0.5]]))
    got = model.similar_tokens("a", 3, vocab)
    cos = F.cosine_similarity(model.embed_v.weight, model.embed_v.weight[0:1])
    assert [t for t, _ in got] == ["b", "e", "c"]  # the query itself is left out
    assert [c for _, c in got] == pytest.approx(cos[[1, 4, 2]].tolist(), abs=1e-6)
    with pytest.raises(ConfigError, match="'zz'"):
        model.similar_tokens("zz", 2, vocab)


def test_epoch_loss_is_the_mean_of_the_rows_mask_normalised_losses(ptb_dir):
    """No step override: with a zero learning rate the logged train/loss equals the loss of every
    centre computed by hand over the whole epoch (batches of different lengths included)."""
    torch.manual_seed(0)
    dm = PTB(data_dir=str(ptb_dir), checksum=False, batch_size=24, subsample_t=None, seed=0)
    model = SkipGram(embed_size=8, optimizer=lambda p: torch.optim.SGD(p, lr=0.0))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    c, cn, mask, label = dm.collate(dm.train_set.__getitems__(list(range(len(dm.train_set)))))
    with torch.no_grad():
        expected = sigmoid_binary_cross_entropy(model(c, cn).squeeze(1), label, mask).mean()
    assert len(dm.train_set) % 24 != 0  # a short last batch, weighted by its rows
    assert trainer.callback_metrics["train/loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_fit_then_predict_nearest_words(ptb_dir, capsys):
    data = ["--data.init_args.data_dir", str(ptb_dir), "--data.init_args.checksum", "false",
            "--data.init_args.subsample_t", "null", "--data.init_args.batch_size", "64"]
    run_dir, out = run_cli(["fit", "--config", str(REPO / "configs/ch10/10.3_word2vec.yaml"), *data,
                            "--trainer.max_epochs", "2", "--model.init_args.embed_size", "16", *QUIET])
    losses = pd.read_csv(run_dir / "metrics.csv")["train/loss"].dropna().tolist()
    assert len(losses) == 2 and losses[1] < losses[0]
    args = ["predict", "--config", str(run_dir / "config.yaml"),
            "--ckpt_path", str(run_dir / "checkpoints/last.ckpt")]
    pred_dir, out = run_cli([*args, "--data.init_args.queries", '["chip", "baby"]', "--data.init_args.k", "4",
                             *QUIET])
    sim = pd.read_csv(pred_dir / "similar.csv")
    assert list(sim.columns) == ["query", "rank", "token", "cosine"] and len(sim) == 8
    assert sim["query"].tolist() == ["chip"] * 4 + ["baby"] * 4 and sim["rank"].tolist() == [1, 2, 3, 4] * 2
    assert "chip" not in sim["token"][:4].tolist() and "baby" not in sim["token"][4:].tolist()
    assert sim.groupby("query")["cosine"].apply(lambda c: c.is_monotonic_decreasing).all()
    # the same words and similarities as the trained model's own get_similar_tokens
    from d2l_lightning.core import load
    model, dm = load(run_dir / "checkpoints/last.ckpt"), PTB(data_dir=str(ptb_dir), checksum=False)
    dm.setup("predict")
    expected = model.similar_tokens("chip", 4, dm.vocab)
    assert sim["token"][:4].tolist() == [t for t, _ in expected]
    assert sim["cosine"][:4].tolist() == pytest.approx([c for _, c in expected], abs=1e-4)
    # a query word the vocabulary lacks: one line, no traceback
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_cli([*args, "--data.init_args.queries", '["chip", "microprocessor"]', *QUIET])
    err = capsys.readouterr().err
    assert e.value.code not in (0, None) and "Traceback" not in err
    assert [line for line in err.splitlines() if "'microprocessor' not in the vocabulary" in line]


def test_glove_scores_and_loss(ptb_dir):
    dm = PTBCooccurrence(data_dir=str(ptb_dir), checksum=False, batch_size=32)
    dm.setup("fit")
    model = GloVe(embed_size=6)
    model.configure_model(dm)
    assert model.embed_v.weight.abs().max() <= 0.5 / 6  # the reference code's initialisation
    i, j, x = next(iter(dm.train_dataloader()))
    s = model(i, j)
    by_hand = (model.embed_v(i) * model.embed_u(j)).sum(1) + model.bias_v(i)[:, 0] + model.bias_u(j)[:, 0]
    torch.testing.assert_close(s, by_hand)
    assert model.loss(s, x).item() == pytest.approx(glove_loss(by_hand, x, 100.0, 0.75).item())
    torch.testing.assert_close(model.token_vectors(), model.embed_v.weight + model.embed_u.weight)
