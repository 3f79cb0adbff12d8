"""8.3 Automatic parallel computation on two GPUs: 20,000 products of a 100x100 matrix on GPU 1,
then on GPU 2, then on both at once. Kernels are queued asynchronously, so "both" takes about as
long as one alone (not the sum) when the two GPUs really work in parallel.

    python scripts/two_devices.py                      # needs 2 GPUs; skips with a message otherwise
    python scripts/two_devices.py --steps 2000
    python scripts/two_devices.py --devices cpu cpu    # the same code on the CPU (checks the script only)

The book (4x TITAN X): GPU1 0.2989 s, GPU2 0.3518 s, both 0.5076 s.
"""

import argparse
import sys

import torch

from d2l_lightning.benchmarking import Benchmark


def run(x: torch.Tensor, steps: int = 20000) -> None:
    """The book's workload: `steps` matrix products of x with itself (results discarded)."""
    for _ in range(steps):
        torch.mm(x, x)


def two_devices(devices: list[str], steps: int = 20000) -> dict[str, float]:
    """Times `run` on each device, then on both, each block waiting for the devices' queued work
    at its end (the book's `torch.cuda.synchronize()`); returns the seconds per block."""
    x1 = torch.rand(100, 100, device=devices[0])
    x2 = torch.rand(100, 100, device=devices[1])
    run(x1, 10)  # warm-up: CUDA context, kernels and allocator, outside the timings
    run(x2, 10)
    times = {}
    for label, xs in (("Run on GPU1.", [x1]), ("Then run on GPU2.", [x2]),
                      ("Run on both GPU1 and GPU2 in parallel.", [x1, x2])):
        with Benchmark(label, sync=devices) as timer:
            for x in xs:
                run(x, steps)
        times[label] = timer.elapsed
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=20000, help="matrix products per device (book: 20000)")
    p.add_argument("--devices", nargs=2, default=None, help="two devices (default: cuda:0 cuda:1)")
    args = p.parse_args(argv)
    devices = args.devices
    if devices is None:
        found = torch.cuda.device_count()
        if found < 2:
            print(f"8.3 two-device experiment skipped: it needs 2 CUDA GPUs and this machine has {found}. "
                  "Run it on a machine with two GPUs (or pass --devices cpu cpu to check the script).")
            return 0
        devices = ["cuda:0", "cuda:1"]
    times = two_devices(devices, args.steps)
    one, two, both = times.values()
    print(f"both / (GPU1 + GPU2) = {both / (one + two):.2f} (1.0: no overlap; 0.5: fully parallel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
