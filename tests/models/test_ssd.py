"""The SSD (beyond the book): shapes, the loss on the book's 9.4 example, training through the CLI on
tiny generated data with mAP in validation, and `predict` writing boxes and images."""

import glob
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers.cli import QUIET, REPO, run_cli

from d2l_lightning.errors import ConfigError
from d2l_lightning.models import TinySSD

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = REPO / "configs/ch09/9.7_ssd.yaml"
TINY = ["--data.init_args.num_train", "16", "--data.init_args.num_val", "8",
        "--data.init_args.image_size", "32", "--data.init_args.batch_size", "8",
        "--data.init_args.predict_images", "3",
        "--model.init_args.base_channels", "[4, 8]", "--model.init_args.channels", "8"]


def test_outputs_match_the_anchors_of_every_scale():
    model = TinySSD(num_classes=5, base_channels=[4, 8], channels=8,
                    sizes=[[0.1, 0.15], [0.3, 0.4], [0.6, 0.7]], ratios=[1, 2, 0.5])
    anchors, cls_preds, bbox_preds = model(torch.rand(2, 3, 32, 32))
    per_pixel = 2 + 3 - 1
    count = (8 * 8 + 4 * 4 + 1) * per_pixel  # base net (1/4), one block (1/8), global max pooling
    assert anchors.shape == (1, count, 4) and cls_preds.shape == (2, count, 6)
    assert bbox_preds.shape == (2, count * 4)
    with pytest.raises(ConfigError, match="as many anchor sizes"):
        TinySSD(sizes=[[0.1, 0.2], [0.3]])


def test_loss_is_class_cross_entropy_plus_masked_l1_on_the_books_example():
    model = TinySSD(num_classes=2, base_channels=[4, 8], channels=8)
    anchors = torch.tensor([[[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
                             [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]]])
    truth = torch.tensor([[[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]]])
    cls_preds, bbox_preds = torch.randn(1, 5, 3), torch.randn(1, 20)
    labels, mask = torch.tensor([0, 1, 2, 0, 2]), torch.tensor([0.0] * 4 + [1.0] * 8 + [0.0] * 4 + [1.0] * 4)
    offsets = __import__("d2l_lightning").vision.multibox_target(anchors, truth)[0]
    expected = F.cross_entropy(cls_preds[0], labels) + ((bbox_preds - offsets).abs() * mask).mean()
    assert torch.allclose(model.loss((anchors, cls_preds, bbox_preds), truth), expected, atol=1e-6)


def test_a_few_steps_lower_the_loss():
    from d2l_lightning.datamodules import ShapeDetection

    torch.manual_seed(0)
    dm = ShapeDetection(num_train=8, num_val=8, image_size=32)
    dm.setup()
    X, Y = dm.example_batch(size=8)
    model = TinySSD(base_channels=[4, 8], channels=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(8):
        loss = model.loss(model(X), Y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_trains_validates_with_map_and_predicts_boxes_and_images(monkeypatch):
    run_dir, out = run_cli(["fit", "--config", str(CONFIG), *TINY, "--trainer.max_epochs", "1", *QUIET])
    metrics = pd.read_csv(run_dir / "metrics.csv")
    for name in ("train/loss", "train/cls_err", "val/loss", "val/map", "val/map_50", "val/bbox_mae"):
        assert name in metrics and metrics[name].notna().any(), name
    assert metrics["val/map_50"].dropna().between(0, 1).all()
    assert list((run_dir / "checkpoints").glob("best-*.ckpt"))  # chosen by val/map_50

    monkeypatch.setenv("WANDB_MODE", "offline")
    pred_dir, out = run_cli(["predict", "--config", str(run_dir / "config.yaml"), "--ckpt_path",
                             str(run_dir / "checkpoints" / "last.ckpt"),
                             "--model.init_args.detection_threshold", "0.05", *QUIET])
    boxes = pd.read_csv(pred_dir / "detections.csv")
    assert list(boxes.columns) == ["image_id", "class", "score", "x1", "y1", "x2", "y2"]
    assert len(boxes) > 0 and boxes["image_id"].between(0, 7).all() and (boxes["score"] >= 0.05).all()
    assert set(boxes["class"]) <= {"circle", "square", "triangle", "ring", "cross"}
    images = sorted(pred_dir.glob("detections_*.png"))
    assert [p.name for p in images] == ["detections_0.png", "detections_1.png", "detections_2.png"]
    from torchvision.io import read_image

    assert read_image(str(images[0])).shape == (3, 128, 128)  # 32 px, enlarged 4x
    # W&B: the boxes as a table, and the drawn pictures as images (rows are boxes, not images)
    [tables] = glob.glob(str(pred_dir / "wandb" / "offline-run-*" / "files" / "media" / "table"))
    [boxes_table] = glob.glob(tables + "/predictions_*.table.json")
    assert json.loads(Path(boxes_table).read_text())["columns"] == list(boxes.columns)
    [pictures] = glob.glob(tables + "/prediction_images_*.table.json")
    table = json.loads(Path(pictures).read_text())
    assert table["columns"] == ["image", "file"]
    assert [row[1] for row in table["data"]] == [p.name for p in images]
