"""The base classes' contract, shown with a family of our own that overrides no step: a batch of
four tensors `(tokens, scale, mask, target)` from ragged items padded by the data module's collate,
a model that builds its embedding from the data's vocabulary (build hook) and returns a tuple, a
loss averaged over real tokens, and epoch means weighted by token count, exactly."""

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from d2l_lightning.core import D2LDataModule, D2LModule

PAD = -100  # target value of padded positions (cross-entropy's ignore_index)


class Ragged(Dataset):
    """Items of different lengths: (tokens (n,), scale (), target (n,))."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            length = int(torch.randint(1, 7, (1,), generator=g))
            tokens = torch.randint(0, 5, (length,), generator=g)
            self.items.append((tokens, torch.rand((), generator=g), (tokens + 1) % 5))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class RaggedData(D2LDataModule):
    vocab_size = 5

    def __init__(self, batch_size: int = 4, augment_sign: bool = False):
        super().__init__(batch_size=batch_size)
        self.augment_sign = augment_sign

    def setup(self, stage=None):
        self.train_set, self.val_set = Ragged(11, 0), Ragged(9, 1)
        self.test_set = self.val_set

    def collate(self, items):
        tokens, scale, target = zip(*items)
        length = max(len(t) for t in tokens)
        mask = torch.stack([torch.arange(length) < len(t) for t in tokens])
        pad = lambda seqs, value: torch.stack([F.pad(s, (0, length - len(s)), value=value) for s in seqs])  # noqa: E731
        return pad(tokens, 0), torch.stack(scale), mask, pad(target, PAD)

    def augment(self, batch):
        tokens, scale, mask, target = batch
        return (tokens, -scale if self.augment_sign else scale, mask, target)


class TokenTagger(D2LModule):
    """Predicts a tag per token; `forward(tokens, scale, mask)` returns (logits, a side output)."""

    def __init__(self, num_hiddens: int = 8, optimizer=None):
        super().__init__(optimizer=optimizer)
        self.num_hiddens = num_hiddens
        self.builds = 0
        self.seen_scales: dict[str, list] = {"train": [], "val": []}
        self.out = nn.LazyLinear(5)  # sized from the data: the build hook materialises it

    def build(self, datamodule):
        self.builds += 1
        self.embedding = nn.Embedding(datamodule.vocab_size, self.num_hiddens)

    def forward(self, tokens, scale, mask):
        H = self.embedding(tokens) * scale[:, None, None]
        return self.out(H), mask.sum()

    def forward_batch(self, inputs, stage):
        self.seen_scales.setdefault(stage, []).append(inputs[1].clone())
        return super().forward_batch(inputs, stage)

    def loss(self, outputs, target):
        logits, _ = outputs
        return F.cross_entropy(logits.reshape(-1, 5), target.reshape(-1), ignore_index=PAD)

    def batch_weight(self, target):
        return (target != PAD).sum()  # a tensor: no device synchronisation per step

    def update_metrics(self, outputs, target, stage, weight):
        logits, _ = outputs
        real = target != PAD
        acc = (logits.argmax(-1)[real] == target[real]).float().mean()
        self.log_mean(f"{stage}/acc", acc, weight)

    def predict_outputs(self, outputs, target):
        return {"tags": outputs[0].argmax(-1)}


def _trainer(**kwargs):
    return pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, **kwargs)


def _per_token(model, dataset):
    """The exact mean loss and accuracy over every real token of a dataset."""
    losses, hits = [], []
    with torch.no_grad():
        for tokens, scale, target in dataset.items:
            logits, _ = model(tokens[None], scale[None], torch.ones(1, len(tokens), dtype=torch.bool))
            losses.append(F.cross_entropy(logits[0], target, reduction="none"))
            hits.append(logits[0].argmax(-1) == target)
    return torch.cat(losses).mean().item(), torch.cat(hits).float().mean().item()


def test_a_new_family_needs_no_step_override_and_its_epoch_means_are_per_token():
    torch.manual_seed(0)
    model = TokenTagger(optimizer=lambda params: torch.optim.SGD(params, lr=0.0))  # weights stay put
    dm = RaggedData(batch_size=4)
    trainer = _trainer(max_epochs=1)
    trainer.fit(model, dm)
    assert model.builds == 1 and model.out.weight.shape == (5, 8)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    model.eval()
    train_loss, train_acc = _per_token(model, dm.train_set)
    val_loss, val_acc = _per_token(model, dm.val_set)
    assert logged["train/loss"] == pytest.approx(train_loss, rel=1e-6)
    assert logged["train/acc"] == pytest.approx(train_acc, rel=1e-6)
    assert logged["val/loss"] == pytest.approx(val_loss, rel=1e-6)
    assert logged["val/acc"] == pytest.approx(val_acc, rel=1e-6)
    # weighting by samples instead would give another number: the check above can fail
    lengths = torch.tensor([len(t) for t, _, _ in dm.val_set.items], dtype=torch.float64)
    assert lengths.std() > 0
    # a second command in the same process builds nothing again, and predict goes through the split
    tags = torch.cat([o["tags"].flatten() for o in trainer.predict(model, dm.val_dataloader())])
    assert model.builds == 1 and tags.dtype == torch.int64


def test_build_runs_before_a_checkpoint_is_restored(tmp_path):
    torch.manual_seed(0)
    model = TokenTagger(optimizer=lambda params: torch.optim.SGD(params, lr=0.5))
    trainer = _trainer(max_epochs=2)
    trainer.fit(model, RaggedData())
    path = tmp_path / "tagger.ckpt"
    trainer.save_checkpoint(path)
    fresh = TokenTagger()  # no embedding and a lazy layer until the build hook has run
    metrics = _trainer().validate(fresh, RaggedData(), ckpt_path=str(path), weights_only=True)[0]
    assert torch.equal(fresh.embedding.weight, model.embedding.weight)
    assert metrics["val/loss"] == pytest.approx(_per_token(model.eval(), Ragged(9, 1))[0])


def test_ragged_items_make_an_example_batch_through_the_collate_hook():
    dm = RaggedData()
    dm.setup()
    tokens, scale, mask, target = dm.example_batch(size=3)
    assert tokens.shape == mask.shape == target.shape and tokens.shape[0] == 3
    assert ((target == PAD) == ~mask).all()


def test_augmentation_touches_training_batches_only():
    torch.manual_seed(0)
    model = TokenTagger(optimizer=lambda params: torch.optim.SGD(params, lr=0.0))
    _trainer(max_epochs=1).fit(model, RaggedData(augment_sign=True))
    assert model.seen_scales["train"] and model.seen_scales["val"]
    assert all((s <= 0).all() for s in model.seen_scales["train"])  # augmented: sign flipped
    assert all((s >= 0).all() for s in model.seen_scales["val"])  # validation untouched


def test_split_batch_default():
    m = TokenTagger()
    X, y = torch.zeros(2, 3), torch.ones(2)
    assert m.split_batch((X, y))[1] is y and m.split_batch((X, y))[0][0] is X
    assert m.split_batch(X) == ((X,), None)  # unlabelled data: inputs only
    inputs, target = m.split_batch([X, X, y])
    assert len(inputs) == 2 and target is y


@pytest.mark.parametrize("base, hooks", [
    ("d2l_lightning.core.encoder_decoder.EncoderDecoder",
     {"build_network", "begin_decoding", "decode_step", "reorder_state"}),
    ("d2l_lightning.core.word_embedding.WordEmbedding", {"build_network", "token_vectors"}),
    ("d2l_lightning.models.sentiment.TextClassifier", {"build_network", "embeddings"}),
    ("d2l_lightning.datamodules.ptb.PTBWords", {"make_train_set"}),
])
def test_family_bases_name_the_hooks_a_model_must_define(base, hooks):
    """A family's hooks are abstract: a model that misses one cannot be made, and the error names it."""
    import importlib

    module, name = base.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert cls.__abstractmethods__ == hooks
    with pytest.raises(TypeError, match="abstract method"):
        type("Incomplete", (cls,), {})()
