"""scripts/finetune_twin.py (9.2's offline twin) in miniature: per seed, pretrain, fine-tune that run's
last.ckpt with a new head at 10x the learning rate, and train from scratch, on tiny generated data."""

import sys

import torch
import yaml
from helpers.cli import REPO


def test_pretrain_then_finetune_its_checkpoint_with_a_new_head_and_scratch(fashion_dir, tmp_path, monkeypatch,
                                                                           capsys, one_torch_thread):
    sys.path.insert(0, str(REPO / "scripts"))
    import finetune_twin

    monkeypatch.chdir(tmp_path)
    results = finetune_twin.main(["--seeds", "0", "--", "--data.init_args.data_dir", str(fashion_dir),
                                  "--data.init_args.checksum", "false", "--data.init_args.batch_size", "16",
                                  "--data.init_args.train_subset", "32", "--trainer.limit_val_batches", "2",
                                  "--trainer.max_epochs", "1", "--trainer.check_val_every_n_epoch", "1",
                                  "--trainer.enable_progress_bar", "false"])
    assert set(results) == {"pretrain", "finetune", "scratch"} and all(len(v) == 1 for v in results.values())
    out = capsys.readouterr().out
    # every body tensor of the pretrained network, not its head (a new 5-class layer of the same shape)
    [loaded] = [line for line in out.splitlines() if line.startswith("init_from: loaded")]
    assert "net.fc.1.weight" in loaded and "net.fc.1.bias" in loaded
    [finetune_dir] = (tmp_path / "logs" / "9.2_fashion_finetune").glob("*/seed0")
    config = yaml.safe_load((finetune_dir / "config.yaml").read_text())
    assert config["model"]["init_args"]["init_from"].endswith("9.2_fashion_pretrain/" + finetune_dir.parent.name
                                                              + "/seed0/checkpoints/last.ckpt")
    state = torch.load(finetune_dir / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
    body, head = state["optimizer_states"][0]["param_groups"]
    assert (body["lr"], head["lr"]) == (0.001, 0.01) and len(head["params"]) == 2
