"""Apple GPUs (MPS) have no float64. There is no Mac here, so the code path MPS takes runs on the CPU:
`NO_FLOAT64` gets "cpu" added, and a dispatch mode fails any operation that makes a float64 tensor,
as MPS would. Fit, validation and a checkpoint's epoch sums run under it; the epoch means stay exact
to float32's precision."""

import pytest
import pytorch_lightning as pl
import torch
import yaml
from helpers.cli import REPO
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from d2l_lightning.cli import main
from d2l_lightning.core import D2LDataModule, Regressor
from d2l_lightning.core import module as core_module
from d2l_lightning.core.datamodule import TensorBatchDataset
from d2l_lightning.core.module import EpochMean, sum_dtype


class NoFloat64(TorchDispatchMode):
    """Fails the first operation that returns a float64 tensor (MPS cannot make one)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        made = [t for t in tree_leaves(out) if isinstance(t, Tensor) and t.dtype == torch.float64]
        if made:
            raise AssertionError(f"{func} made a float64 tensor, which MPS does not have")
        return out


class Line(D2LDataModule):
    """y = 2x + 1 on 37 samples: batches of 8 leave a smaller last batch, so weights matter."""

    def setup(self, stage=None):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(37, 1, generator=g)
        self.train_set = self.val_set = TensorBatchDataset(x, 2 * x + 1 + 0.1 * torch.randn(37, 1, generator=g))


class Linear(Regressor):
    def __init__(self):
        super().__init__(optimizer=lambda params: torch.optim.SGD(params, lr=0.0))  # weights stay put
        self.net = nn.Linear(1, 1)

    def forward(self, x):
        return self.net(x)


def test_sum_dtype_is_float64_where_the_device_has_it():
    assert sum_dtype("cpu") == sum_dtype(torch.device("cuda", 0)) == torch.float64
    assert sum_dtype("mps") == torch.float32


def test_epoch_mean_in_float32_mode(monkeypatch):
    monkeypatch.setattr(core_module, "NO_FLOAT64", {"cpu"})
    values = torch.rand(1000, generator=torch.Generator().manual_seed(1))
    weights = torch.randint(1, 64, (1000,), generator=torch.Generator().manual_seed(2))
    m = EpochMean(total=torch.tensor(3.0, dtype=torch.float64), count=5)  # as restored from a checkpoint
    with NoFloat64():
        for v, w in zip(values, weights):
            m.add(v, w)  # tensor weights (tokens), folded every 512 batches
        total = m.sum()
    assert total.dtype == torch.float32
    exact = 3.0 + (values.double() * weights.double()).sum().item()
    assert total.item() == pytest.approx(exact, rel=1e-6)


def test_fit_validate_and_checkpoint_sums_make_no_float64(monkeypatch, tmp_path):
    monkeypatch.setattr(core_module, "NO_FLOAT64", {"cpu"})
    torch.manual_seed(0)
    model, data = Linear(), Line(batch_size=8)
    ckpt = tmp_path / "mid_epoch.ckpt"
    save = pl.Callback()  # after the second batch: the checkpoint carries the epoch's sums so far

    def on_train_batch_end(trainer, module, outputs, batch, batch_idx):
        if batch_idx == 1:
            trainer.save_checkpoint(ckpt)

    save.on_train_batch_end = on_train_batch_end
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=tmp_path, callbacks=[save])
    with NoFloat64():
        trainer.fit(model, data)
    x, y = data.train_set.tensors
    with torch.no_grad():
        exact = ((model(x) - y) ** 2).mean().item()  # one mean over all 37 samples
    assert float(trainer.callback_metrics["train/loss"]) == pytest.approx(exact, rel=1e-6)
    assert float(trainer.callback_metrics["val/loss"]) == pytest.approx(exact, rel=1e-6)
    sums = torch.load(ckpt, weights_only=False)["d2l_train_sums"]
    assert sums["train/loss"][0].dtype == torch.float32 and sums["train/loss"][1] == 16


def test_the_mps_preset_chooses_the_apple_gpu(capsys):
    with pytest.raises(SystemExit) as e:  # --print_config: nothing is built, so no Mac is needed
        main(["fit", "--config", str(REPO / "configs/ch03/3.7_softmax.yaml"),
              "--config", str(REPO / "configs/trainer/mps.yaml"), "--print_config"])
    assert e.value.code == 0
    trainer = yaml.safe_load(capsys.readouterr().out)["trainer"]
    assert trainer["accelerator"] == "mps" and trainer["devices"] == 1


def test_gradient_clipping_and_the_house_score_make_no_float64(monkeypatch):
    from d2l_lightning.models.house import squared_log_error
    from d2l_lightning.scratch.rnn import grad_clipping

    w = nn.Parameter(torch.ones(3))
    (w * torch.tensor([3.0, 4.0, 0.0])).sum().backward()
    assert grad_clipping([w], 1.0).dtype == torch.float32 and w.grad.dtype == torch.float32
    exact = squared_log_error(torch.tensor([100.0, 0.5]), torch.tensor([110.0, 2.0]))
    assert exact.dtype == torch.float64  # where the device has float64
    monkeypatch.setattr(core_module, "NO_FLOAT64", {"cpu"})
    w.grad = torch.tensor([3.0, 4.0, 0.0])
    with NoFloat64():
        norm = grad_clipping([w], 1.0)
        score = squared_log_error(torch.tensor([100.0, 0.5]), torch.tensor([110.0, 2.0]))
    assert norm.item() == pytest.approx(5.0) and torch.allclose(w.grad, torch.tensor([0.6, 0.8, 0.0]))
    assert score.dtype == torch.float32 and score.item() == pytest.approx(exact.item(), rel=1e-6)
