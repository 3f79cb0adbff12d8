"""Book 9.1's augmentation figures for `img/cat1.jpg` as PNG grids (2 x 4 augmented copies each):
flips, `RandomResizedCrop(200, scale=(0.1, 1), ratio=(0.5, 2))`, colour jitter (brightness, hue,
contrast, all four), and their composition, with torchvision's per-image transforms as the book;
then the same augmentations with our batch transforms (`d2l_lightning.vision.transforms`), all 8
copies in one call. `--benchmark` times our batch code against torchvision v2 called per image.

    python scripts/augment_demo.py [--image path/to/cat1.jpg] [--out logs/augment_demo] [--benchmark]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torchvision.io import read_image
from torchvision.transforms import v2
from torchvision.utils import save_image

from d2l_lightning.vision.transforms import ColorJitter, RandomFlip, RandomResizedCrop


def book_augmentations() -> dict[str, tuple]:
    """name -> (torchvision's per-image transform, our batch transform), as in book 9.1."""
    color = dict(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5)
    shape = dict(size=200, scale=(0.1, 1), ratio=(0.5, 2))
    ours_all = torch.nn.Sequential(RandomFlip(0.5), ColorJitter(**color), RandomResizedCrop(**shape))
    return {
        "flip_left_right": (v2.RandomHorizontalFlip(), RandomFlip(horizontal=0.5)),
        "flip_up_down": (v2.RandomVerticalFlip(), RandomFlip(horizontal=0, vertical=0.5)),
        "random_resized_crop": (v2.RandomResizedCrop(**shape), RandomResizedCrop(**shape)),
        "brightness": (v2.ColorJitter(brightness=0.5), ColorJitter(brightness=0.5)),
        "hue": (v2.ColorJitter(hue=0.5), ColorJitter(hue=0.5)),
        "contrast": (v2.ColorJitter(contrast=0.5), ColorJitter(contrast=0.5)),
        "color_all": (v2.ColorJitter(**color), ColorJitter(**color)),
        "compose": (v2.Compose([v2.RandomHorizontalFlip(), v2.ColorJitter(**color),
                                v2.RandomResizedCrop(**shape)]), ours_all),
    }


def write_grids(image: Path, out: Path, seed: int = 0) -> list[Path]:
    torch.manual_seed(seed)
    img = read_image(str(image)).float() / 255  # (3, h, w) in [0, 1]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (per_image, batch) in book_augmentations().items():
        book = torch.stack([per_image(img) for _ in range(8)])
        ours = batch(img.expand(8, *img.shape).contiguous())
        for tag, grid in (("book", book), ("ours", ours)):
            path = out / f"{name}_{tag}.png"
            save_image(grid, path, nrow=4, padding=4, pad_value=1.0)
            written.append(path)
    return written


def benchmark(turns: int = 5, n: int = 256, size: int = 32) -> dict[str, float]:
    """Seconds per batch of `n` uint8->float images (size x size, 3 channels) for flip + crop +
    colour jitter: ours on the whole batch vs torchvision v2 per image; alternating turns, medians."""
    color = dict(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5)
    ours = torch.nn.Sequential(RandomFlip(0.5), RandomResizedCrop(size, scale=(0.1, 1), ratio=(0.5, 2)),
                               ColorJitter(**color))
    tv = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomResizedCrop(size, scale=(0.1, 1), ratio=(0.5, 2)),
                     v2.ColorJitter(**color)])
    X = torch.rand(n, 3, size, size)
    times: dict[str, list[float]] = {"ours (batch)": [], "torchvision v2 (per image)": []}
    for _ in range(turns):
        t = time.perf_counter()
        ours(X)
        times["ours (batch)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        torch.stack([tv(x) for x in X])
        times["torchvision v2 (per image)"].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = Path(os.environ.get("D2L_DATA_DIR") or "data")
    parser.add_argument("--image", type=Path, default=data / "img" / "cat1.jpg")
    parser.add_argument("--out", type=Path, default=Path("logs") / "augment_demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benchmark", action="store_true")
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.image.is_file():
        sys.exit(f"error: {args.image} not found: pass --image (the book's img/cat1.jpg) or set $D2L_DATA_DIR.")
    paths = write_grids(args.image, args.out, args.seed)
    print(f"{len(paths)} grids written to {args.out} (<augmentation>_book.png: torchvision per image; "
          "<augmentation>_ours.png: our batch transforms)")
    if args.benchmark:
        result = benchmark(args.turns)
        for name, seconds in result.items():
            print(f"{name:28s} {seconds * 1e3:8.1f} ms per batch of 256 (32x32)")
        ratio = result["torchvision v2 (per image)"] / result["ours (batch)"]
        print(f"ours is {ratio:.1f}x faster (median of {args.turns} alternating turns)")


if __name__ == "__main__":
    main()
