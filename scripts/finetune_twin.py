"""9.2's offline twin end to end: per seed, pretrain chapter 5's ResNet-18 on Fashion-MNIST classes
0-4 (`configs/ch09/9.2_fashion_pretrain.yaml`), fine-tune that run's `last.ckpt` with a new head (at
10x the learning rate) on 300 images of classes 5-9 (`9.2_fashion_finetune.yaml`,
`--model.init_args.init_from`), and train the same network from scratch on them
(`9.2_fashion_scratch.yaml`); prints the final `val/acc` of each run and the mean over seeds.

    python scripts/finetune_twin.py --seeds 0 1 2 [-- extra CLI arguments for every run]
"""

import argparse
import statistics
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {name: REPO / "configs" / "ch09" / f"9.2_fashion_{name}.yaml"
           for name in ("pretrain", "finetune", "scratch")}


def final(run_dir: Path, metric: str = "val/acc") -> float:
    return float(pd.read_csv(run_dir / "metrics.csv")[metric].dropna().iloc[-1])


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("extra", nargs="*", help="CLI arguments added to every run (after --)")
    args = parser.parse_args(argv)
    from d2l_lightning.cli import run

    results: dict[str, list[float]] = {"pretrain": [], "finetune": [], "scratch": []}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for seed in args.seeds:
        # runs of one invocation sit together (<stamp>/seed<N>); a new invocation never reuses them
        common = ["--seed_everything", str(seed), "--run_version", f"{stamp}/seed{seed}", *args.extra]
        pretrain_dir, _ = run(["fit", "--config", str(CONFIGS["pretrain"]), *common])
        ckpt = pretrain_dir / "checkpoints" / "last.ckpt"
        finetune_dir, text = run(["fit", "--config", str(CONFIGS["finetune"]), *common,
                                  "--model.init_args.init_from", str(ckpt)])
        print(*[line for line in text.splitlines() if line.startswith("init_from:")], sep="\n")
        scratch_dir, _ = run(["fit", "--config", str(CONFIGS["scratch"]), *common])
        for name, d in (("pretrain", pretrain_dir), ("finetune", finetune_dir), ("scratch", scratch_dir)):
            results[name].append(final(d))
    print("\nval/acc (pretrain: classes 0-4; fine-tune and scratch: classes 5-9)")
    print("seed   " + "  ".join(f"{n:>9}" for n in results))
    for i, seed in enumerate(args.seeds):
        print(f"{seed:<6} " + "  ".join(f"{v[i]:9.3f}" for v in results.values()))
    spread = {n: statistics.stdev(v) if len(v) > 1 else 0.0 for n, v in results.items()}
    print("mean   " + "  ".join(f"{statistics.mean(v):9.3f}" for v in results.values()))
    print("std    " + "  ".join(f"{spread[n]:9.3f}" for n in results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
