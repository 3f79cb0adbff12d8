import os
import re
from pathlib import Path

import pytest
from fakedata import make_airfoil, make_fashion_mnist, make_kaggle_house, make_lyrics

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("D2L_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test runs in its own folder (logs/ lands there), offline, without W&B unless a test
    turns it on."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("D2L_OFFLINE", "1")
    monkeypatch.delenv("D2L_RUN_DIR", raising=False)
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory):
    return make_fashion_mnist(tmp_path_factory.mktemp("fashion"))


@pytest.fixture(scope="session")
def house_dir(tmp_path_factory):
    return make_kaggle_house(tmp_path_factory.mktemp("house"))


@pytest.fixture(scope="session")
def lyrics_dir(tmp_path_factory):
    return make_lyrics(tmp_path_factory.mktemp("lyrics"))


def tiny_data_args(config: str, fashion_dir: Path, house_dir: Path,
                   lyrics_dir: Path | None = None) -> list[str]:
    """CLI overrides that point a chapter config at the tiny generated copy of its dataset."""
    text = (REPO / config).read_text()
    if "JayChouLyrics" in text and lyrics_dir is not None:
        return ["--data.init_args.data_dir", str(lyrics_dir), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "4", "--data.init_args.num_steps", "6",
                "--data.init_args.pred_len", "5"]
    if "FashionMNIST" in text:
        args = ["--data.init_args.data_dir", str(fashion_dir), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "16"]
        # chapter 5's big CNNs on resized images: batches of 4; nets that end in global average
        # pooling (trained at 96 px) also run on 32 px. Those with fixed-size dense layers
        # (AlexNet, VGG at 224) keep their size; AlexNet's 4096-wide dense layers shrink to 256
        # (else each smoke run writes two checkpoints of ~560 MB with Adam's state).
        if "resize: " in text:
            args[-1] = "4"
            if "resize: 96" in text:
                args += ["--data.init_args.resize", "32"]
            if "class_path: AlexNet" in text:
                args += ["--model.init_args.fc_hidden_units", "256"]
        return args
    if "KaggleHouse" in text:
        return ["--data.init_args.data_dir", str(house_dir), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "16"]
    if "Airfoil" in text:
        airfoil = house_dir.parent / "airfoil"
        if not (airfoil / "airfoil_self_noise.dat").is_file():
            make_airfoil(airfoil)
        # 60 rows; batches as in the config but at most 60; validate every batch
        batch = min(int(re.search(r"batch_size: (\d+)", text).group(1)), 60)
        return ["--data.init_args.data_dir", str(airfoil), "--data.init_args.checksum", "false",
                "--data.init_args.num_examples", "50", "--trainer.val_check_interval", "1"] + \
            (["--data.init_args.batch_size", str(batch)] if batch != 1 else [])
    return []


def run_cli(args: list[str]) -> tuple[Path | None, str]:
    """Runs the CLI in-process; returns the printed run directory and everything printed."""
    from d2l_lightning.cli import run

    return run(args)


QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
