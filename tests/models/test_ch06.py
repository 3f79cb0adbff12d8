"""Chapter 6: the character vocabulary, the book's two samplers, the scratch RNN/GRU/LSTM layers
against nn.RNN/nn.GRU/nn.LSTM, gradient clipping against clip_grad_norm_, state handling across
minibatches, generation, and the lyrics configs through the CLI (fit, test, predict, bad input)."""

import sys

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from conftest import SHARED_DATA
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args
from torch import nn

from d2l_lightning.datamodules import CharSequenceData, JayChouLyrics
from d2l_lightning.errors import ConfigError
from d2l_lightning.models import GRUScratch, LSTMScratch, RNNModel, RNNScratch
from d2l_lightning.scratch import GRULayerScratch, LSTMLayerScratch, RNNLayerScratch, grad_clipping, one_hot
from d2l_lightning.text import Vocab

needs_lyrics = pytest.mark.skipif(not (SHARED_DATA / "jaychou_lyrics.txt.zip").is_file(),
                                  reason="real data (../shared/data) not present")


# --- vocabulary -----------------------------------------------------------------------------------
def test_vocab_orders_by_frequency_and_round_trips():
    v = Vocab("abbcccd")
    assert v.idx_to_token == ["c", "b", "a", "d"] and len(v) == 4
    assert v.encode("dab") == [3, 2, 1] and v.decode([3, 2, 1]) == "dab"
    assert v.decode(torch.tensor([0, 0])) == "cc"
    with pytest.raises(ConfigError, match="'x'"):
        v.encode("axb")
    assert v.unknown("axyx") == ["x", "y"]


def test_vocab_unk_reserved_and_min_freq():
    v = Vocab("the cat the hat".split(), min_freq=2, reserved=["<pad>"], unk_token="<unk>")
    assert v.idx_to_token == ["<unk>", "<pad>", "the"] and v.unk == 0
    assert v.encode(["the", "dog", "cat"]) == [2, 0, 0]  # unknown and rare tokens -> <unk>
    assert "cat" not in v and "the" in v


# --- sampling (the book's 6.3 examples: data_iter_random / data_iter_consecutive on range(30)) ----
def _batches(sampling, seq=range(30), batch_size=2, num_steps=6):
    dm = CharSequenceData(batch_size=batch_size, num_steps=num_steps, sampling=sampling)
    dm.set_corpus(list(seq))
    return [(X.clone(), Y.clone()) for X, Y in dm.train_dataloader()], dm


def test_consecutive_sampling_is_the_books():
    batches, dm = _batches("consecutive")
    assert len(batches) == 2 and dm.carries_state("train")
    (X1, Y1), (X2, Y2) = batches
    assert X1.tolist() == [[0, 1, 2, 3, 4, 5], [15, 16, 17, 18, 19, 20]]
    assert Y1.tolist() == [[1, 2, 3, 4, 5, 6], [16, 17, 18, 19, 20, 21]]
    assert X2.tolist() == [[6, 7, 8, 9, 10, 11], [21, 22, 23, 24, 25, 26]]
    assert Y2.tolist() == [[7, 8, 9, 10, 11, 12], [22, 23, 24, 25, 26, 27]]
    assert X1.dtype == torch.long


def test_random_sampling_properties():
    batches, dm = _batches("random")
    assert len(batches) == 2 and not dm.carries_state("train")
    starts = []
    for X, Y in batches:
        assert X.shape == (2, 6) and torch.equal(Y, X + 1)
        for row in X.tolist():
            assert row == list(range(row[0], row[0] + 6)) and row[0] % 6 == 0
            starts.append(row[0])
    assert sorted(starts) == [0, 6, 12, 18]  # (30 - 1) // 6 = 4 windows, each once per epoch
    orders = set()
    for epoch in range(6):  # the order depends on (seed, epoch) only
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        orders.add(tuple(X[0, 0].item() for X, _ in loader))
    assert len(orders) > 1


def test_bad_sampling_options():
    with pytest.raises(ConfigError, match="num_steps must be at least 1, got 0"):
        CharSequenceData(num_steps=0)
    with pytest.raises(ConfigError, match="sampling must be one of"):
        CharSequenceData(sampling="shuffled")
    with pytest.raises(ConfigError, match="non-empty"):
        CharSequenceData(prefixes=["分开", ""])
    with pytest.raises(ConfigError, match="gives no minibatch"):
        CharSequenceData(batch_size=32, num_steps=35).set_corpus(list(range(100)))
    with pytest.raises(ConfigError, match="not in the training text"):
        CharSequenceData(batch_size=2, num_steps=3, prefixes=["ax"]).set_corpus([0, 1] * 10, Vocab("ab"))


def test_lyrics_from_a_generated_zip(lyrics_dir):
    dm = JayChouLyrics(data_dir=str(lyrics_dir), checksum=False, batch_size=4, num_steps=6)
    dm.setup("fit")
    assert len(dm.vocab) == 22 and " " in dm.vocab and "\n" not in dm.vocab
    assert dm.vocab.decode(dm.corpus).startswith(dm.read_text()[:20])
    X, Y = next(iter(dm.train_dataloader()))
    assert X.shape == (4, 6) and torch.equal(X[:, 1:], Y[:, :-1])


@needs_lyrics
def test_real_lyrics_corpus(monkeypatch):
    monkeypatch.setenv("D2L_DATA_DIR", str(SHARED_DATA))
    dm = JayChouLyrics()
    dm.setup("fit")
    # the book's 6.3: the first 10,000 characters, a vocabulary of 1027
    assert len(dm.vocab) == 1027 and len(dm.corpus) == 10000
    first40 = "想要有直升机 想要和你飞到宇宙去 想要和你融化在一起 融化在宇宙里 我每天每天每"
    assert dm.vocab.decode(dm.corpus[:40]) == first40
    assert len(dm.train_set) == 8  # (10000 // 32 - 1) // 35 batches per epoch


# --- scratch pieces against torch -----------------------------------------------------------------
def test_one_hot_and_book_shapes():
    X = torch.arange(10).view(2, 5)
    assert torch.equal(one_hot(X, 1027), nn.functional.one_hot(X, 1027).float())
    inputs = one_hot(X.T, 1027)  # the book's to_onehot: 5 steps of (2, 1027)
    assert len(inputs) == 5 and inputs[0].shape == (2, 1027)
    model = RNNScratch(vocab_size=1027, num_hiddens=256)
    outputs, state = model(X)
    assert len(outputs) == 5 and outputs[0].shape == (2, 1027) and state[0][0].shape == (2, 256)  # B 6.4
    rnn_layer = nn.RNN(input_size=1027, hidden_size=256)
    Y, state_new = rnn_layer(torch.rand(35, 2, 1027), None)
    assert Y.shape == (35, 2, 256) and len(state_new) == 1 and state_new[0].shape == (2, 256)  # B 6.5


def test_grad_clipping_equals_clip_grad_norm():
    torch.manual_seed(0)
    for scale in (10.0, 1e-4):  # clipped and untouched
        a = [nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(7))]
        b = [nn.Parameter(p.detach().clone()) for p in a]
        for p, q in zip(a, b):
            p.grad = torch.randn_like(p) * scale
            q.grad = p.grad.clone()
        norm = grad_clipping(a, 0.01)
        ref = nn.utils.clip_grad_norm_(b, 0.01)
        assert norm == pytest.approx(float(ref), rel=1e-6)
        for p, q in zip(a, b):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-9)
    assert torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in a])) <= 0.01
    # unlike the book's (whose second loop gets an exhausted generator), ours clips model.parameters()
    model = nn.Linear(4, 3)
    model(torch.randn(2, 4)).pow(2).sum().mul(100).backward()
    grad_clipping(model.parameters(), 0.01)
    assert float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))) \
        == pytest.approx(0.01, rel=1e-5)


def _copy_layer(scratch, torch_layer, layer: int = 0) -> None:
    """Scratch parameters from the weights of layer `layer` of nn.RNN/nn.GRU/nn.LSTM (gates stacked
    r,z,n for GRU and i,f,g,o for LSTM; the two biases add up, except GRU's b_hn, which must be 0)."""
    W_ih = getattr(torch_layer, f"weight_ih_l{layer}").detach()
    W_hh = getattr(torch_layer, f"weight_hh_l{layer}").detach()
    b = (getattr(torch_layer, f"bias_ih_l{layer}") + getattr(torch_layer, f"bias_hh_l{layer}")).detach()
    H = scratch.num_hiddens
    if isinstance(scratch, GRULayerScratch):
        names = [("W_xr", "W_hr", "b_r"), ("W_xz", "W_hz", "b_z"), ("W_xh", "W_hh", "b_h")]
        b = torch.cat([b[:2 * H], getattr(torch_layer, f"bias_ih_l{layer}")[2 * H:].detach()])
    elif isinstance(scratch, LSTMLayerScratch):
        names = [("W_xi", "W_hi", "b_i"), ("W_xf", "W_hf", "b_f"), ("W_xc", "W_hc", "b_c"),
                 ("W_xo", "W_ho", "b_o")]
    else:
        names = [("W_xh", "W_hh", "b_h")]
    with torch.no_grad():
        for g, (wx, wh, bb) in enumerate(names):
            getattr(scratch, wx).copy_(W_ih[g * H:(g + 1) * H].T)
            getattr(scratch, wh).copy_(W_hh[g * H:(g + 1) * H].T)
            getattr(scratch, bb).copy_(b[g * H:(g + 1) * H])


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_scratch_models_equal_torch_layers(kind, num_layers):
    torch.manual_seed(0)
    V, H = 11, 8
    scratch_cls = {"rnn": RNNScratch, "gru": GRUScratch, "lstm": LSTMScratch}[kind]
    extra = {"reset_after": True} if kind == "gru" else {}  # nn.GRU's candidate: R * (H W_hn + b_hn)
    scratch = scratch_cls(vocab_size=V, num_hiddens=H, num_layers=num_layers, sigma=0.3, **extra)
    concise = RNNModel(vocab_size=V, rnn_type=kind, num_hiddens=H, num_layers=num_layers)
    with torch.no_grad():
        for layer in range(num_layers):
            if kind == "gru":
                getattr(concise.rnn, f"bias_hh_l{layer}")[2 * H:] = 0  # b_hn: the scratch GRU has no such bias
            _copy_layer(scratch.layers[layer], concise.rnn, layer)
        scratch.W_hq.copy_(concise.dense.weight.T)
        scratch.b_q.copy_(concise.dense.bias)
    X = torch.randint(0, V, (3, 7))
    out_s, state_s = scratch(X)
    out_c, state_c = concise(X)
    torch.testing.assert_close(out_s, out_c, rtol=1e-5, atol=1e-5)
    # torch: (layers, batch, H) for h (and c); ours: one (H,) or (H, C) tuple per layer
    hc = state_c if kind == "lstm" else (state_c,)
    for layer in range(num_layers):
        for k in range(len(hc)):
            torch.testing.assert_close(state_s[layer][k], hc[k][layer], rtol=1e-5, atol=1e-5)
    # continuing from a state gives the same outputs too
    X2 = torch.randint(0, V, (3, 4))
    torch.testing.assert_close(scratch(X2, state_s)[0], concise(X2, state_c)[0], rtol=1e-5, atol=1e-5)


def test_scratch_gru_uses_the_texts_candidate_formula():
    torch.manual_seed(0)
    layer = GRULayerScratch(4, 3, sigma=0.5)
    X, H = torch.randn(1, 2, 4), torch.randn(2, 3)
    out, (H1,) = layer(X, (H,))
    p = layer
    Z = torch.sigmoid(X[0] @ p.W_xz + H @ p.W_hz + p.b_z)
    R = torch.sigmoid(X[0] @ p.W_xr + H @ p.W_hr + p.b_r)
    H_tilda = torch.tanh(X[0] @ p.W_xh + (R * H) @ p.W_hh + p.b_h)
    torch.testing.assert_close(H1, Z * H + (1 - Z) * H_tilda)
    layer.reset_after = True  # the book's code: R * (H W_hh), a different cell
    assert not torch.allclose(layer(X, (H,))[1][0], H1)


def test_rnn_layer_and_lstm_layer_zero_state():
    layer = LSTMLayerScratch(5, 4)
    out, (H, C) = layer(torch.zeros(3, 2, 5))
    assert out.shape == (3, 2, 4) and H.shape == C.shape == (2, 4)
    assert RNNLayerScratch(5, 4).init_state(2)[0].abs().sum() == 0


def test_bidirectional_and_deep_shapes():
    model = RNNModel(vocab_size=20, rnn_type="lstm", num_hiddens=8, num_layers=2, bidirectional=True)
    out, (h, c) = model(torch.randint(0, 20, (3, 5)))
    assert out.shape == (5, 3, 20) and h.shape == c.shape == (4, 3, 8)
    with pytest.raises(ConfigError, match="rnn_type"):
        RNNModel(rnn_type="transformer")


# --- the language-model family --------------------------------------------------------------------
class Recording(RNNScratch):
    """Records the state each training batch starts from."""

    def forward(self, X, state=None):
        if self.training:
            self.seen.append(state)
        out, new = super().forward(X, state)
        if self.training:
            self.ends.append(new)
        return out, new


@pytest.mark.parametrize("sampling", ["consecutive", "random"])
def test_state_carried_and_detached_only_under_consecutive_sampling(sampling):
    torch.manual_seed(0)
    vocab = Vocab("abcdefgh")
    dm = CharSequenceData(batch_size=2, num_steps=3, sampling=sampling, prefixes=["a"])
    dm.set_corpus(torch.randint(0, 8, (40,)), vocab)
    model = Recording(num_hiddens=6, optimizer=torch.optim.Adam)
    model.seen, model.ends = [], []
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    per_epoch = len(dm.train_dataloader())
    assert model.vocab_size == 8 and len(model.seen) == 2 * per_epoch and per_epoch > 2
    for i, state in enumerate(model.seen):
        if sampling == "random" or i % per_epoch == 0:
            assert state is None  # zeros: a new epoch, or random sampling
        else:
            H = state[0][0]
            assert not H.requires_grad  # detached
            torch.testing.assert_close(H, model.ends[i - 1][0][0].detach())  # the last batch's end state
    metrics = trainer.callback_metrics
    assert float(metrics["train/ppl"]) == pytest.approx(float(torch.exp(metrics["train/loss"])), rel=1e-5)


def test_generation_is_the_books_greedy_predict_and_checks_prefixes():
    torch.manual_seed(0)
    vocab = Vocab("分开不我想你的爱 ")
    model = RNNModel(vocab_size=len(vocab), rnn_type="gru", num_hiddens=16).eval()
    text = model.generate("不分开", 12, vocab)
    assert text.startswith("不分开") and len(text) == 3 + 12 and set(text) <= set(vocab.idx_to_token)

    # the book's predict_rnn_pytorch: one character at a time, the state carried
    out, state = [vocab.token_to_idx["不"]], None
    prefix = "不分开"
    for t in range(12 + len(prefix) - 1):
        Y, state = model(torch.tensor([[out[-1]]]), state)
        out.append(vocab.token_to_idx[prefix[t + 1]] if t < len(prefix) - 1 else int(Y[-1, 0].argmax()))
    assert vocab.decode(out) == text

    sampled = [model.generate("分开", 20, vocab, temperature=1.0, generator=torch.Generator().manual_seed(s))
               for s in (1, 1, 2)]
    assert sampled[0] == sampled[1] and sampled[0] != sampled[2] and sampled[0].startswith("分开")
    with pytest.raises(ConfigError, match="empty prefix"):
        model.generate("", 5, vocab)
    with pytest.raises(ConfigError, match="'X'"):
        model.generate("分X开", 5, vocab)


def test_vocab_size_mismatch_is_a_clear_error(lyrics_dir, capsys):
    config = "configs/ch06/6.5_rnn.yaml"
    with pytest.raises(SystemExit):
        run_cli(["fit", "--config", str(REPO / config), *tiny_data_args(config, None, None, lyrics_dir),
                 "--model.init_args.vocab_size", "1027", *QUIET])
    err = capsys.readouterr().err
    assert "vocab_size is 1027 but the data has a vocabulary of 22" in err and "Traceback" not in err


# --- through the CLI ------------------------------------------------------------------------------
def test_fit_samples_test_and_predict_from_checkpoint(lyrics_dir, capsys):
    config = "configs/ch06/6.7_gru.yaml"
    data = tiny_data_args(config, None, None, lyrics_dir)
    run_dir, out = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "2",
                            "--trainer.limit_train_batches", "12", "--model.init_args.pred_period", "2",
                            "--model.init_args.num_hiddens", "32", *QUIET])
    assert "epoch 2, loss " in out and "train ppl " in out
    samples = [line for line in out.splitlines() if line.startswith(" - ")]
    assert len(samples) == 2 and samples[0].startswith(" - 分开") and samples[1].startswith(" - 不分开")
    metrics = pd.read_csv(run_dir / "metrics.csv").groupby("epoch").last()
    assert list(metrics.index) == [0, 1] and metrics["train/ppl"].iloc[-1] < 22  # below the vocabulary size
    last_loss = torch.tensor(metrics["train/loss"].iloc[-1])
    assert metrics["train/ppl"].iloc[-1] == pytest.approx(float(last_loss.exp()), rel=1e-5)

    saved, ckpt = run_dir / "config.yaml", run_dir / "checkpoints" / "last.ckpt"
    test_dir, out = run_cli(["test", "--config", str(saved), "--ckpt_path", str(ckpt), *QUIET])
    assert "test/ppl" in pd.read_csv(test_dir / "metrics.csv")

    pred_dir, out = run_cli(["predict", "--config", str(saved), "--ckpt_path", str(ckpt),
                             "--data.init_args.prefixes", '["分开", "不分开", "我"]',
                             "--data.init_args.pred_len", "10", *QUIET])
    gen = pd.read_csv(pred_dir / "generated.csv")
    assert list(gen["prefix"]) == ["分开", "不分开", "我"]
    for prefix, text in zip(gen["prefix"], gen["text"]):
        assert text.startswith(prefix) and len(text) == len(prefix) + 10

    from d2l_lightning.core import load
    model = load(ckpt)
    assert isinstance(model, RNNModel) and model.vocab_size == 22 and model.rnn.hidden_size == 32


@pytest.mark.parametrize("args, message", [
    (["--data.init_args.num_steps", "0"], "num_steps must be at least 1, got 0"),
    (["--data.init_args.prefixes", '["分开", ""]'], "non-empty"),
    (["--data.init_args.prefixes", '["分开X"]'], "not in the training text"),
    (["--data.init_args.sampling", "shuffled"], "sampling must be one of"),
    (["--model.init_args.clip_theta", "-1"], "clip_theta must be greater than 0 (or null)"),
])
def test_bad_lyrics_input_is_one_clear_error(args, message, lyrics_dir, capsys):
    config = "configs/ch06/6.4_rnn_scratch_random.yaml"
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", "--config", str(REPO / config), *tiny_data_args(config, None, None, lyrics_dir),
                 "--trainer.max_epochs", "1", *args, *QUIET])
    assert e.value.code not in (0, None)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    wandb = sys.modules.get("wandb")
    assert wandb is None or wandb.run is None  # no W&B run left open for the next command to reuse


def test_samples_go_to_the_wandb_run_as_a_table(lyrics_dir, monkeypatch):
    import glob

    from helpers import wandb_reader

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(lyrics_dir))  # no ~/.netrc login: must stay offline
    config = "configs/ch06/6.4_rnn_scratch_consecutive.yaml"
    data = tiny_data_args(config, None, None, lyrics_dir)
    run_dir, out = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "2",
                            "--trainer.limit_train_batches", "2", "--model.init_args.pred_period", "1",
                            "--model.init_args.num_hiddens", "16", *QUIET])
    assert sum(line.startswith(" - ") for line in out.splitlines()) == 4  # 2 prefixes x 2 epochs
    files = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1
    tables = [row for row in wandb_reader.history(files[0]) if "samples/_type" in row]
    assert len(tables) == 2
    assert all(t["samples/_type"] == "table-file" and t["samples/nrows"] == 2 for t in tables)


def test_resume_equals_uninterrupted_run(lyrics_dir):
    # consecutive sampling: the carried state starts from zeros each epoch, so an epoch-boundary
    # checkpoint is enough (random sampling uses EpochShuffleSampler, covered in test_cli)
    sampling = "consecutive"
    config = "configs/ch06/6.4_rnn_scratch_random.yaml"
    base = ["fit", "--config", str(REPO / config), *tiny_data_args(config, None, None, lyrics_dir),
            "--data.init_args.sampling", sampling, "--model.init_args.num_hiddens", "16",
            "--trainer.limit_train_batches", "6", *QUIET]
    straight, _ = run_cli([*base, "--trainer.max_epochs", "2"])
    first, _ = run_cli([*base, "--trainer.max_epochs", "1"])
    resumed, _ = run_cli([*base, "--trainer.max_epochs", "2",
                          "--ckpt_path", str(first / "checkpoints/last.ckpt")])
    a = pd.read_csv(straight / "metrics.csv").groupby("epoch").last()
    b = pd.read_csv(resumed / "metrics.csv").groupby("epoch").last()
    assert a.loc[1, "train/ppl"] == b.loc[1, "train/ppl"]
    sa = torch.load(straight / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    sb = torch.load(resumed / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_last_checkpoint_is_the_last_epoch_even_without_improvement(lyrics_dir):
    # lr 1e-30 leaves the weights bitwise unchanged: the perplexity never improves after epoch 0
    config = "configs/ch06/6.4_rnn_scratch_consecutive.yaml"
    data = tiny_data_args(config, None, None, lyrics_dir)
    run_dir, _ = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "3",
                          "--trainer.limit_train_batches", "3", "--model.init_args.num_hiddens", "8",
                          "--model.init_args.optimizer.init_args.lr", "1e-30", *QUIET])
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["best-001.ckpt", "last.ckpt"]  # epochs counted from 1, as the book line
    assert torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 2


def test_validation_split_logs_val_perplexity(lyrics_dir):
    config = "configs/ch06/6.5_rnn.yaml"
    data = tiny_data_args(config, None, None, lyrics_dir)
    run_dir, out = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "1",
                            "--data.init_args.val_fraction", "0.3", *QUIET])
    metrics = pd.read_csv(run_dir / "metrics.csv")
    val = metrics["val/ppl"].dropna()
    assert len(val) == 1 and val.iloc[0] > 1 and "val ppl" in out
    with pytest.raises(ConfigError):
        JayChouLyrics(val_fraction=1.0)
