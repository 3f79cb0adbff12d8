"""Loading weights only (`init_from`) and `module.`-prefixed keys (book 8.4: a model saved from
DataParallel/DDP loads into a plain model, and the reverse): in Python, through `load`, and
through the CLI (`--model.init_args.init_from`, `--ckpt_path`)."""

import pandas as pd
import pytest
import torch
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args
from torch import nn

from d2l_lightning.core import load
from d2l_lightning.core.weights import align_keys, load_initial_weights, strip_prefixes
from d2l_lightning.errors import CheckpointError
from d2l_lightning.models import MLP, LeNet

CONFIG = "configs/ch03/3.7_softmax.yaml"


def _net():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_dataparallel_state_dict_loads_into_a_plain_model_and_the_reverse():
    torch.manual_seed(0)
    wrapped = nn.DataParallel(_net())  # on the CPU it only wraps: keys gain `module.`
    saved = wrapped.state_dict()
    assert all(k.startswith("module.") for k in saved)
    plain = _net()
    plain.load_state_dict(align_keys(saved, plain.state_dict()))
    x = torch.randn(5, 4)
    assert torch.equal(plain(x), wrapped(x))
    back = nn.DataParallel(_net())
    back.load_state_dict(align_keys(plain.state_dict(), back.state_dict()))
    assert torch.equal(back(x), plain(x))
    compiled_keys = {f"_orig_mod.{k}": v for k, v in plain.state_dict().items()}  # torch.compile's
    assert strip_prefixes(compiled_keys).keys() == plain.state_dict().keys()


def test_init_from_loads_what_fits_and_keeps_a_new_head(tmp_path):
    torch.manual_seed(0)
    source = MLP(num_outputs=10)
    torch.save({"module." + k: v for k, v in source.state_dict().items()}, tmp_path / "dp.pt")
    target = MLP(num_outputs=5)  # a new head: 5 classes
    head = target.net[3].weight.clone()
    left = load_initial_weights(target, tmp_path / "dp.pt")
    assert left == ["net.3.weight", "net.3.bias"]
    assert torch.equal(target.net[1].weight, source.net[1].weight) and torch.equal(target.net[3].weight, head)
    with pytest.raises(CheckpointError, match="init_strict is true.*net.3.weight"):
        load_initial_weights(MLP(num_outputs=5), tmp_path / "dp.pt", strict=True)
    # a new head of the same shape: skipped by its key prefix
    same = MLP(num_outputs=10)
    head = same.net[3].weight.clone()
    assert load_initial_weights(same, tmp_path / "dp.pt", strict=True, skip=["net.3"]) == left
    assert torch.equal(same.net[3].weight, head) and torch.equal(same.net[1].bias, source.net[1].bias)
    # a state dict of the bare network (no `net.` attribute) is matched by its prefix
    torch.save(source.net.state_dict(), tmp_path / "bare.pt")
    again = MLP(num_outputs=10)
    assert load_initial_weights(again, tmp_path / "bare.pt", strict=True) == []
    assert torch.equal(again.net[3].bias, source.net[3].bias)


def test_lr_mult_gives_a_new_head_its_own_learning_rate_within_each_group():
    from d2l_lightning.errors import ConfigError

    sgd = lambda params: torch.optim.SGD(params, lr=0.01, weight_decay=0.001)  # noqa: E731
    model = MLP(num_outputs=5, lr_mult={"net.3": 10}, optimizer=sgd)
    body, head = model.configure_optimizers().param_groups
    assert (body["lr"], head["lr"]) == (0.01, pytest.approx(0.1))
    assert head["weight_decay"] == body["weight_decay"] == 0.001
    assert [id(p) for p in head["params"]] == [id(model.net[3].weight), id(model.net[3].bias)]
    assert len(body["params"]) == 2
    # groups a model already has (weight decay on weights only) are each split, keeping their settings

    class DecayWeights(MLP):
        def param_groups(self):
            named = list(self.named_parameters())
            return [{"params": [p for n, p in named if n.endswith("weight")], "lr": 0.5},
                    {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": 0}]

    model = DecayWeights(num_outputs=5, lr_mult={"net.3": 4}, optimizer=sgd)
    groups = model.configure_optimizers().param_groups
    assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in groups] == [
        (0.5, 0.001, 1), (2.0, 0.001, 1), (0.01, 0, 1), (pytest.approx(0.04), 0, 1)]
    with pytest.raises(ConfigError, match=r"lr_mult names \['net.fc'\].*net.1, net.3"):
        MLP(lr_mult={"net.fc": 10}, optimizer=sgd).configure_optimizers()
    with pytest.raises(ConfigError, match="lr_mult"):
        MLP(lr_mult={"net.3": 0}, optimizer=sgd)


def test_init_from_errors_are_one_paragraph(tmp_path):
    with pytest.raises(CheckpointError, match="no such file.*checkpoints/last.ckpt") as e:
        load_initial_weights(MLP(), tmp_path / "missing.ckpt")
    assert "\n" not in str(e.value)
    torch.save(LeNet().state_dict(), tmp_path / "lenet.pt")
    with pytest.raises(CheckpointError, match="none of its 10 tensors fits MLP") as e:
        load_initial_weights(MLP(), tmp_path / "lenet.pt")
    assert "\n" not in str(e.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a file that can be read as weights"):
        load_initial_weights(MLP(), tmp_path / "junk.pt")


def _val_acc(run_dir) -> float:
    return float(pd.read_csv(run_dir / "metrics.csv")["val/acc"].dropna().iloc[-1])


def test_cli_init_from_and_ckpt_path_accept_module_prefixed_weights(fashion_dir, tmp_path):
    args = ["--config", str(REPO / CONFIG), *tiny_data_args(CONFIG, fashion_dir, None), *QUIET]
    run_dir, _ = run_cli(["fit", *args, "--trainer.max_epochs", "1"])
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["state_dict"] = {"module." + k: v for k, v in ckpt["state_dict"].items()}  # saved under DDP
    prefixed = tmp_path / "prefixed.ckpt"
    torch.save(ckpt, prefixed)
    trained = load(run_dir / "checkpoints" / "last.ckpt")
    assert all(torch.equal(a, b) for a, b in zip(load(prefixed).state_dict().values(),
                                                 trained.state_dict().values()))
    # --ckpt_path with prefixed keys
    by_ckpt, _ = run_cli(["validate", *args, "--ckpt_path", str(prefixed)])
    by_init, _ = run_cli(["validate", *args, "--model.init_args.init_from", str(prefixed)])
    assert _val_acc(by_init) == _val_acc(by_ckpt)
