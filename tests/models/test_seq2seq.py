"""Chapter 10.9-10.12 encoder-decoders: the book's shapes, the attention decoder's sizes, padding
(never attended to, never changing the loss), greedy = beam search of size 1 on real networks,
and translation through the CLI: a checkpoint translates the same after reload, `predict` writes
translations.csv and attention heatmaps, unknown words warn, an empty sentence is one error."""

import pandas as pd
import pytest
import torch
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args

from d2l_lightning.core import load
from d2l_lightning.datamodules import TranslationPairs
from d2l_lightning.models import Seq2Seq, Seq2SeqAttention, TransformerSeq2Seq
from d2l_lightning.models.seq2seq import AttentionDecoder, MLPAttention, Seq2SeqEncoder, masked_softmax
from d2l_lightning.text import beam_search

MODELS = {
    "attention": lambda: Seq2SeqAttention(embed_size=8, num_hiddens=16, num_layers=2, attention_size=10),
    "seq2seq": lambda: Seq2Seq(embed_size=8, num_hiddens=16, num_layers=2),
    "transformer": lambda: TransformerSeq2Seq(num_hiddens=16, num_heads=2, ffn_num_hiddens=32, num_layers=2),
}


def _ragged_data() -> TranslationPairs:
    """Pairs of different lengths, so batches have padding on both sides."""
    dm = TranslationPairs(max_seq_len=7, batch_size=4)
    words = "a b c d e f".split()
    dm.set_pairs([(words[:n], words[: 7 - n][::-1]) for n in (1, 5, 3, 2)])
    return dm


def _model(name: str, dm: TranslationPairs):
    torch.manual_seed(0)
    model = MODELS[name]()
    model.configure_model(dm)
    return model.eval()


# --- the book's shapes ---------------------------------------------------------------------------
def test_encoder_and_attention_shapes_are_the_books():
    encoder = Seq2SeqEncoder(10, 8, 16, 2)  # the book's Encoder(vocab_size=10, 8, 16, num_layers=2)
    output, state = encoder(torch.zeros((4, 7)))
    assert output.shape == (7, 4, 16) and state.shape == (2, 4, 16)
    attention = MLPAttention(2 * 8, 10)  # attention_model(2*num_hiddens, 10)
    context, weights = attention(torch.zeros((10, 4, 8)), torch.zeros((4, 8)))
    assert context.shape == (4, 8) and weights.shape == (4, 10)
    assert torch.allclose(weights, torch.full((4, 10), 0.1))  # equal scores: uniform weights


def test_attention_decoder_gru_input_is_embedding_plus_context():
    # the book sizes the GRU input 2 * embed_size, right only when embed_size == num_hiddens
    decoder = AttentionDecoder(vocab_size=12, embed_size=8, num_hiddens=16, num_layers=2, attention_size=10)
    assert decoder.rnn.input_size == 8 + 16
    enc_outputs, enc_state = Seq2SeqEncoder(10, 8, 16, 2)(torch.ones(3, 5, dtype=torch.long))
    logits, state, weights = decoder(torch.tensor([1, 2, 3]), decoder.begin_state(enc_outputs, enc_state, None))
    assert logits.shape == (3, 12) and state[1].shape == (2, 3, 16) and weights.shape == (3, 5)


# --- padding -------------------------------------------------------------------------------------
def test_padding_is_never_attended_to():
    scores = torch.randn(3, 6)
    weights = masked_softmax(scores, torch.tensor([2, 6, 1]))
    assert (weights[0, 2:] == 0).all() and (weights[2, 1:] == 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    # the context ignores whatever the encoder puts at padded positions
    attention = MLPAttention(2 * 4, 5)
    enc, dec, valid = torch.randn(6, 3, 4), torch.randn(3, 4), torch.tensor([2, 6, 1])
    garbage = enc.clone()
    garbage[2:, 0], garbage[1:, 2] = 100.0, -100.0
    (c1, w1), (c2, w2) = attention(enc, dec, valid), attention(garbage, dec, valid)
    assert torch.allclose(c1, c2) and torch.equal(w1, w2) and (w1[0, 2:] == 0).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_padded_batch_has_the_loss_of_its_sentences_one_by_one(name):
    dm = _ragged_data()
    model = _model(name, dm)
    items = dm.train_set
    batch = dm.collate(items)
    assert (batch[1] < batch[0].shape[1]).any()  # some sources and targets are padded
    inputs, target = model.split_batch(batch)
    with torch.no_grad():
        loss, weight = model.loss(model(*inputs), target), model.batch_weight(target)
        singles = []
        for item in items:
            x, y = model.split_batch(dm.collate([item]))
            singles.append((model.loss(model(*x), y), model.batch_weight(y)))
    assert int(weight) == sum(len(t) for _, t in items)  # every word and its <eos>, no <pad>
    per_token = sum(l * w for l, w in singles) / sum(w for _, w in singles)
    assert loss.item() == pytest.approx(per_token.item(), rel=1e-5)
    # the padded batch translates every sentence as it translates it alone
    together = model.translate_ids(*batch[:2])
    alone = [model.translate_ids(*dm.collate([(item[0],)]))[0] for item in items]
    assert [h.tokens for h in together] == [h.tokens for h in alone]
    if together[0].attention is not None:
        for h, (src, _) in zip(together, items):
            assert (h.attention[:, len(src):] == 0).all()  # no weight on the batch's padding


@pytest.mark.parametrize("name", sorted(MODELS))
def test_beam_size_one_is_greedy_on_the_real_networks(name):
    dm = _ragged_data()
    model = _model(name, dm)
    src, valid = dm.collate([(item[0],) for item in dm.train_set])
    greedy = model.translate_ids(src, valid, beam_size=1, max_len=6)
    for i, g in enumerate(greedy):
        state = model.reorder_state(model.begin_decoding(src, valid), torch.tensor([i]))
        (best, *_) = beam_search(model.decode_step, state, model.reorder_state, model.bos, model.eos, 6, 1)
        assert best.tokens == g.tokens and best.log_prob == pytest.approx(g.log_prob, abs=1e-4)
    beams = model.translate_ids(src, valid, beam_size=3, max_len=6)
    assert len(beams) == len(greedy) and all(1 <= len(h.tokens) <= 6 for h in beams)


def test_transformer_decoder_is_causal():
    dm = _ragged_data()
    model = _model("transformer", dm)
    src, valid, dec_input, _ = dm.collate(dm.train_set)
    changed = dec_input.clone()
    changed[:, 3:] = 5
    with torch.no_grad():
        a, b = model(src, valid, dec_input), model(src, valid, changed)
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6) and not torch.allclose(a[:, 3:], b[:, 3:])


# --- through the CLI -------------------------------------------------------------------------------
def test_train_reload_and_translate_through_the_cli(house_dir):
    config = "configs/ch10/10.12_translation.yaml"
    data = tiny_data_args(config, house_dir, house_dir)
    run_dir, out = run_cli(["fit", "--config", str(REPO / config), *data, "--trainer.max_epochs", "2", *QUIET])
    assert "val bleu" in out
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert {"train/loss", "val/loss", "val/bleu"} <= set(metrics)
    ckpt, saved = run_dir / "checkpoints" / "last.ckpt", run_dir / "config.yaml"

    sentences = '["il est grand .", "nous sommes inconnus ."]'
    with pytest.warns(UserWarning, match="translated as <unk>: inconnus"):  # a warning, not a crash
        pred_dir, out = run_cli(["predict", "--config", str(saved), "--ckpt_path", str(ckpt),
                                 "--data.init_args.sentences", sentences,
                                 "--data.init_args.references", '["he is tall .", "we are unknown ."]',
                                 "--model.init_args.beam_size", "3", *QUIET])
    table = pd.read_csv(pred_dir / "translations.csv")
    assert list(table.columns) == ["source", "translation", "reference", "bleu"] and len(table) == 2
    assert table["bleu"].between(0, 1).all()
    assert sorted(p.name for p in pred_dir.glob("attention_*.png")) == ["attention_0.png", "attention_1.png"]

    # load() rebuilds the model from the checkpoint alone and translates as `predict` did
    model = load(ckpt)
    assert isinstance(model, Seq2SeqAttention) and model.max_len == 7
    dm = TranslationPairs(data_dir=str(data[1]), checksum=False)
    dm.setup("fit")
    again = model.translate(["il est grand .", "nous sommes inconnus ."], dm, beam_size=3)
    assert again == [t if isinstance(t, str) else "" for t in table["translation"]]


def test_an_empty_sentence_is_one_clear_error(house_dir, capsys):
    config = "configs/ch10/10.12_translation.yaml"
    with pytest.raises(SystemExit) as e:
        run_cli(["predict", "--config", str(REPO / config), *tiny_data_args(config, house_dir, house_dir),
                 "--data.init_args.sentences", '["il est grand .", " "]', *QUIET])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "sentences[1] is empty" in err and "Traceback" not in err
