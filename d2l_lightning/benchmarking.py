"""8.3's `Benchmark`: a context manager that prints how long its block took.

GPU work is asynchronous: a block that only launches kernels ends before they do. The book calls
`torch.cuda.synchronize()` inside its blocks; `Benchmark(sync=...)` waits for the given devices
before reading the clock, so the time printed is the work's, not the launch's."""

import time

import torch


class Benchmark:
    """`with Benchmark("Run on GPU1."): ...` prints `Run on GPU1. time: 0.2989 sec` (the book's
    format) and keeps the seconds in `.elapsed`.

    Args:
        prefix: text before `time:`.
        sync: CUDA devices to wait for at the start and the end of the block (e.g. `["cuda:0"]`).
        verbose: print the line (else only `.elapsed`).
    """

    def __init__(self, prefix: str = "", sync: list[str | torch.device] | tuple = (), verbose: bool = True):
        self.prefix = f"{prefix} " if prefix else ""
        self.sync = [torch.device(d) for d in sync]
        self.verbose = verbose
        self.elapsed: float | None = None

    def _synchronize(self) -> None:
        for device in self.sync:
            if device.type == "cuda":
                torch.cuda.synchronize(device)

    def __enter__(self) -> "Benchmark":
        self._synchronize()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._synchronize()
        self.elapsed = time.perf_counter() - self.start
        if self.verbose:
            print(f"{self.prefix}time: {self.elapsed:.4f} sec")
