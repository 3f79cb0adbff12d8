"""Running the CLI in tests: in-process, quiet, on tiny generated copies of each dataset."""

from pathlib import Path

import yaml

from helpers.fakedata import (
    make_airfoil,
    make_cifar10,
    make_glove,
    make_image_folder,
    make_imdb,
    make_ptb,
    make_translation_pairs,
)

REPO = Path(__file__).resolve().parents[2]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def run_cli(args: list[str]) -> tuple[Path | None, str]:
    """Runs the CLI in-process; returns the printed run directory and everything printed."""
    from d2l_lightning.cli import run

    return run(args)


def _short(class_path: str) -> str:
    return str(class_path).rsplit(".", 1)[-1]


def tiny_data_args(config: str, fashion_dir: Path | None, house_dir: Path | None,
                   lyrics_dir: Path | None = None) -> list[str]:
    """CLI overrides that point a chapter config at the tiny generated copy of its dataset, chosen by
    the config's data class (and, for chapter 5's big networks, its model class and image size)."""
    cfg = yaml.safe_load((REPO / config).read_text())
    data, init = _short(cfg["data"]["class_path"]), cfg["data"].get("init_args") or {}
    model = _short(cfg["model"]["class_path"])
    if data == "JayChouLyrics" and lyrics_dir is not None:
        return ["--data.init_args.data_dir", str(lyrics_dir), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "4", "--data.init_args.num_steps", "6",
                "--data.init_args.pred_len", "5"]
    if data == "FashionMNIST":
        args = ["--data.init_args.data_dir", str(fashion_dir), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "16"]
        # chapter 5's big CNNs on resized images: batches of 4; nets that end in global average
        # pooling (trained at 96 px) also run on 32 px. Those with fixed-size dense layers
        # (AlexNet, VGG at 224) keep their size; AlexNet's 4096-wide dense layers shrink to 256
        # (else each smoke run writes two checkpoints of ~560 MB with Adam's state).
        if init.get("resize"):
            args[-1] = "4"
            if init["resize"] == 96:
                args += ["--data.init_args.resize", "32"]
            if model == "AlexNet":
                args += ["--model.init_args.fc_hidden_units", "256"]
        if (cfg.get("trainer") or {}).get("check_val_every_n_epoch"):  # last.ckpt is written at validation
            args += ["--trainer.check_val_every_n_epoch", "1"]
        return args
    if data == "KaggleHouse":
        return ["--data.init_args.data_dir", str(house_dir), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "16"]
    if data == "Airfoil":
        airfoil = house_dir.parent / "airfoil"
        if not (airfoil / "airfoil_self_noise.dat").is_file():
            make_airfoil(airfoil)
        # 60 rows; batches as in the config but at most 60; validate every batch
        batch = min(int(init.get("batch_size", 10)), 60)
        return ["--data.init_args.data_dir", str(airfoil), "--data.init_args.checksum", "false",
                "--data.init_args.num_examples", "50", "--trainer.val_check_interval", "1"] + \
            (["--data.init_args.batch_size", str(batch)] if batch != 1 else [])
    if data == "IMDb":  # 10.7/10.8: a tiny aclImdb tarball and GloVe file, reviews cut to 40 words
        imdb = house_dir.parent / "imdb"
        if not (imdb / "aclImdb_v1_labeled.tar.gz").is_file():
            make_glove(make_imdb(imdb))
        return ["--data.init_args.data_dir", str(imdb), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "8", "--data.init_args.num_steps", "40"]
    if data in ("PTB", "PTBCooccurrence"):  # 10.3/10.5: a tiny ptb.train.txt of ~1,200 words
        ptb = house_dir.parent / "ptb"
        if not (ptb / "ptb" / "ptb.train.txt").is_file():
            make_ptb(ptb)
        args = ["--data.init_args.data_dir", str(ptb), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "16"]
        # t = 1e-4 would drop ~95% of a tiny corpus's tokens (every word is frequent in it)
        return args + (["--data.init_args.subsample_t", "0.01"] if data == "PTB" else [])
    if data == "TranslationPairs":  # 10.9-10.12: 24 generated pairs in the fr-en-small form
        pairs = house_dir.parent / "translation"
        if not (pairs / "fr-en-small.txt").is_file():
            make_translation_pairs(pairs)
        return ["--data.init_args.data_dir", str(pairs), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "4"]
    if data == "CIFAR10":  # 9.1: a tiny python-pickle tarball, 60 training images
        cifar = house_dir.parent / "cifar10"
        if not (cifar / "cifar-10-python.tar.gz").is_file():
            make_cifar10(cifar)
        return ["--data.init_args.data_dir", str(cifar), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "8"]
    if data == "ImageFolder":  # 9.2: a few JPEGs per class, cropped to 32 px; a saved state dict
        images = house_dir.parent / "image_folder"  # stands in for the ImageNet weights
        if not (images / "hotdog").is_dir():
            make_image_folder(images)
        args = ["--data.init_args.data_dir", str(images), "--data.init_args.checksum", "false",
                "--data.init_args.batch_size", "4", "--data.init_args.crop_size", "32",
                "--data.init_args.resize", "40", "--data.init_args.num_workers", "0"]
        if model == "FineTuneResNet18" and (cfg["model"].get("init_args") or {}).get("pretrained", True):
            weights = images / "resnet18_state_dict.pt"
            if not weights.is_file():
                import torch
                import torchvision

                torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
            args += ["--model.init_args.weights_path", str(weights)]
        return args
    return []
