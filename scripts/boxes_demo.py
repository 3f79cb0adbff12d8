"""Book 9.3-9.4 figures as PNGs: the dog and cat boxes on catdog.jpg, the five anchors centred on
pixel (250, 250), the ground truth with the five anchors that 9.4.3 labels, and the four boxes of
the NMS example before and after suppression.

    python scripts/boxes_demo.py [--out logs/boxes_demo] [--data_dir DIR]

catdog.jpg is looked up as img/catdog.jpg under --data_dir, else $D2L_DATA_DIR, else ./data.
"""

import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from d2l_lightning.errors import DataError  # noqa: E402
from d2l_lightning.vision import draw_boxes, multibox_detection, multibox_prior  # noqa: E402

DOG, CAT = [60.0, 45.0, 378.0, 516.0], [400.0, 112.0, 655.0, 493.0]  # 9.3, pixels


def find_image(data_dir: str | None) -> Path:
    places = [Path(p) for p in (data_dir, os.environ.get("D2L_DATA_DIR"), "data") if p]
    for place in places:
        if (place / "img" / "catdog.jpg").is_file():
            return place / "img" / "catdog.jpg"
    raise DataError("catdog.jpg was not found; looked for img/catdog.jpg under "
                    f"{', '.join(str(p) for p in places)}. Put the book's image there, or pass "
                    "--data_dir (or set D2L_DATA_DIR) to the folder whose img/ holds it.")


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="logs/boxes_demo", help="folder for the PNGs (created)")
    parser.add_argument("--data_dir", default=None, help="folder with img/catdog.jpg")
    args = parser.parse_args(argv)
    from torchvision.io import read_image, write_png

    image = read_image(str(find_image(args.data_dir)))[:3]
    h, w = image.shape[1:]
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "9.3_bounding_boxes": draw_boxes(image, torch.tensor([DOG, CAT]), ["dog", "cat"], ["blue", "red"]),
    }
    anchors = multibox_prior(image[None].float(), sizes=[0.75, 0.5, 0.25], ratios=[1, 2, 0.5])
    at_250 = anchors.reshape(h, w, 5, 4)[250, 250] * scale
    figures["9.4_anchors_at_250_250"] = draw_boxes(
        image, at_250, ["s=0.75, r=1", "s=0.5, r=1", "s=0.25, r=1", "s=0.75, r=2", "s=0.75, r=0.5"])
    truth = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.55, 0.2, 0.9, 0.88]])
    labelled = torch.tensor([[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
                             [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]])
    figure = draw_boxes(image, truth * scale, ["dog", "cat"], "black")
    figures["9.4_anchors_to_label"] = draw_boxes(figure, labelled * scale, ["0", "1", "2", "3", "4"])
    boxes = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95], [0.15, 0.3, 0.62, 0.91],
                          [0.55, 0.2, 0.9, 0.88]])
    probs = torch.tensor([[0.0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])
    figures["9.4_before_nms"] = draw_boxes(image, boxes * scale, ["dog=0.9", "dog=0.8", "dog=0.7", "cat=0.9"])
    kept = [row for row in multibox_detection(probs[None], torch.zeros(1, 16), boxes[None], 0.5)[0].tolist()
            if row[0] >= 0]
    figures["9.4_after_nms"] = draw_boxes(image, torch.tensor([r[2:] for r in kept]) * scale,
                                          [f"{('dog', 'cat')[int(r[0])]}={r[1]:.1f}" for r in kept])
    paths = []
    for name, figure in figures.items():
        write_png(figure, str(out / f"{name}.png"))
        paths.append(out / f"{name}.png")
    print(f"boxes_demo: {len(paths)} PNGs in {out}")
    return paths


if __name__ == "__main__":
    from d2l_lightning.errors import D2LError

    try:
        main()
    except D2LError as e:
        sys.exit(f"boxes_demo: {e}")
