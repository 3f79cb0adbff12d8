"""10.7/10.8 BiRNN and TextCNN: each network against a twin computed step by step (two one-way
LSTMs with the bidirectional one's weights; our scratch `corr1d_multi_in` for the convolutions),
GloVe vectors loaded by the build hook in the vocabulary's order, frozen embeddings left out of the
optimizer, configuration errors, and `predict` on texts never seen in training through the CLI."""

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args
from helpers.fakedata import make_glove, make_imdb
from torch import nn

from d2l_lightning.core import load
from d2l_lightning.datamodules import IMDb
from d2l_lightning.errors import ConfigError
from d2l_lightning.models import BiRNN, TextCNN
from d2l_lightning.models.sentiment import GlobalMaxPool1d
from d2l_lightning.scratch import corr1d_multi_in


@pytest.fixture(scope="module")
def imdb(tmp_path_factory):
    dm = IMDb(data_dir=str(make_glove(make_imdb(tmp_path_factory.mktemp("imdb")))), checksum=False,
              num_steps=40, batch_size=8)
    dm.setup("fit")
    return dm


def test_global_max_pool_1d_is_the_max_over_time():
    x = torch.randn(4, 3, 9)
    assert torch.equal(GlobalMaxPool1d()(x), x.amax(dim=2, keepdim=True))


def test_birnn_concatenates_the_first_and_last_outputs_of_both_directions():
    torch.manual_seed(0)
    net = BiRNN(vocab_size=20, embed_size=6, num_hiddens=5, num_layers=1, pretrained=False).eval()
    X = torch.randint(0, 20, (3, 7))
    # twin: one LSTM reads the sequence forwards, another (the "_reverse" weights) reads it reversed
    fwd, bwd = nn.LSTM(6, 5), nn.LSTM(6, 5)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        getattr(fwd, name).data.copy_(getattr(net.encoder, name))
        getattr(bwd, name).data.copy_(getattr(net.encoder, name + "_reverse"))
    e = net.embedding(X.T)  # (steps, batch, embed)
    f, _ = fwd(e)
    b, _ = bwd(e.flip(0))
    b = b.flip(0)  # b[t]: the backward direction's output at time t
    encoding = torch.cat([f[0], b[0], f[-1], b[-1]], dim=1)
    with torch.no_grad():
        assert torch.allclose(net(X), net.decoder(encoding), atol=1e-6)
    deep = BiRNN(vocab_size=20, embed_size=6, num_hiddens=5, num_layers=2, pretrained=False)
    assert deep(X).shape == (3, 2) and deep.decoder.in_features == 20


def test_textcnn_against_corr1d_multi_in():
    torch.manual_seed(0)
    net = TextCNN(vocab_size=15, embed_size=3, kernel_sizes=(2, 3), num_channels=(2, 4), pretrained=False)
    net.eval()
    X = torch.randint(0, 15, (2, 6))
    with torch.no_grad():
        pooled = []
        for x in X:
            inputs = torch.cat([net.embedding(x), net.constant_embedding(x)], dim=1).T  # (2 * embed, steps)
            for conv in net.convs:
                pooled += [F.relu(corr1d_multi_in(inputs, w) + b).max() for w, b in zip(conv.weight, conv.bias)]
        expected = net.decoder(torch.stack(pooled).reshape(2, 6))  # eval: dropout is the identity
        assert torch.allclose(net(X), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="at least 3 words"):
        net(X[:, :2])


@pytest.mark.parametrize("cls,frozen", [(BiRNN, ["embedding.weight"]),
                                        (TextCNN, ["constant_embedding.weight"])])
def test_build_hook_loads_glove_in_vocabulary_order_and_freezes_as_the_book(imdb, cls, frozen, capsys):
    model = cls(optimizer=lambda params: torch.optim.Adam(params, lr=0.1))
    model.configure_model(imdb)
    vectors = imdb.pretrained_vectors()
    assert model.embed_size == 50 and model.vocab_size == len(imdb.vocab)
    assert model.hparams["vocab_size"] == len(imdb.vocab) and model.hparams["embed_size"] == 50
    names = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert names == frozen
    for n, p in model.named_parameters():
        if "embedding" in n:
            assert torch.equal(p, vectors)
    # the optimizer gets the trainable parameters only; a step leaves the frozen ones as they were
    optimizer = model.configure_optimizers()
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters())) - 1
    X, y = next(iter(imdb.train_dataloader()))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.loss(model(X), y).backward()
    optimizer.step()
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) == (n in frozen), n


def test_configuration_errors(imdb):
    with pytest.raises(ConfigError, match="embed_size is 100 but the pretrained vectors have 50"):
        TextCNN(embed_size=100).configure_model(imdb)
    with pytest.raises(ConfigError, match="vocabulary of"):
        BiRNN(vocab_size=7, embed_size=50).configure_model(imdb)
    no_glove = IMDb(data_dir=imdb.data_dir, checksum=False, num_steps=40, glove=None)
    no_glove.setup()
    with pytest.raises(ConfigError, match="pretrained is true but the data has no pretrained vectors"):
        BiRNN().configure_model(no_glove)
    with pytest.raises(ConfigError, match="needs model.init_args.embed_size"):
        BiRNN(pretrained=False).configure_model(no_glove)
    scratch = BiRNN(pretrained=False, embed_size=8)
    scratch.configure_model(no_glove)
    assert all(p.requires_grad for p in scratch.parameters())
    with pytest.raises(ConfigError, match="same length"):
        TextCNN(kernel_sizes=(3, 4), num_channels=(100,))
    with pytest.raises(ConfigError, match="dropout"):
        TextCNN(dropout=1.0)


def test_predict_texts_never_seen_in_training_through_the_cli(house_dir, capsys):
    config = "configs/ch10/10.8_textcnn.yaml"
    data = tiny_data_args(config, None, house_dir)
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "1", *QUIET])
    saved, ckpt = run_dir / "config.yaml", run_dir / "checkpoints" / "last.ckpt"
    sentences = ["this movie is so great", "this movie is so bad", "qwxz unheard-of words", "",
                 " ".join(["wonderful"] * 10_000)]
    pred_dir, out = run_cli(["predict", "--config", str(saved), "--ckpt_path", str(ckpt), *QUIET,
                             "--data.init_args.sentences", str(sentences).replace("'", '"')])
    preds = pd.read_csv(pred_dir / "predictions.csv", keep_default_na=False)
    assert list(preds.columns[:3]) == ["sentence", "pred", "pred_label"]
    assert list(preds["sentence"]) == sentences
    assert set(preds["pred_label"]) <= {"positive", "negative"} and preds["prob"].between(0.5, 1).all()
    # the same answers from the checkpoint without the CLI (`load` rebuilds the model from its hparams)
    model = load(ckpt)
    dm = IMDb(data_dir=data[1], checksum=False, num_steps=40)
    dm.setup()
    with torch.no_grad():
        prob, pred = F.softmax(model(dm.encode(sentences)), dim=1).max(dim=1)
    assert pred.tolist() == preds["pred"].tolist() and torch.allclose(prob, torch.tensor(preds["prob"]).float())
    trained = model.embedding.weight.detach().clone()
    model.configure_model(dm)  # (as a Trainer would) keeps the trained embeddings, not GloVe's
    assert torch.equal(model.embedding.weight, trained)
    # an empty list of sentences is a one-line error, not a traceback
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_cli(["predict", "--config", str(saved), "--ckpt_path", str(ckpt), *QUIET,
                 "--data.init_args.sentences", "[]"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "sentences must be a list of texts" in err and "Traceback" not in err
