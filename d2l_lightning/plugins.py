"""Lightning plugins the CLI configures."""

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins import CheckpointIO, TorchCheckpointIO
from pytorch_lightning.plugins.layer_sync import TorchSyncBatchNorm
from torch import nn

from d2l_lightning.errors import CheckpointError
from d2l_lightning.scratch.conv import BatchNorm


class SyncBatchNorms(TorchSyncBatchNorm):
    """What `trainer.sync_batchnorm: true` applies under this CLI: torch's `nn.BatchNorm*` become
    `nn.SyncBatchNorm` (Lightning's own plugin; GPUs only), and our scratch `BatchNorm` (5.10)
    computes its statistics over all ranks (`sync`; any device). Without it each rank normalises
    with the statistics of its own part of the batch."""

    def apply(self, model: nn.Module) -> nn.Module:
        for module in model.modules():
            if isinstance(module, BatchNorm):
                module.sync = True
        return super().apply(model)

    def revert(self, model: nn.Module) -> nn.Module:
        for module in model.modules():
            if isinstance(module, BatchNorm):
                module.sync = False
        return super().revert(model)


def with_sync_batchnorms(plugins) -> list:
    """The trainer's `plugins` (None, one or a list) plus `SyncBatchNorms`."""
    return [*(plugins if isinstance(plugins, list) else [plugins] if plugins else []), SyncBatchNorms()]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint writes that never leave a partial file under a checkpoint's name, on any file
    system: the bytes go to a temporary file in the checkpoint's own folder, are flushed to disk,
    and only then renamed over the target (a rename within one folder is atomic; Lightning's
    default writes through a temporary file elsewhere and copies it when that is on another
    file system). A write that fails (full disk, read-only or unwritable folder) removes its
    temporary file, leaves every earlier checkpoint as it was, and is a one-paragraph error."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if "://" in str(path):  # remote storage (s3://, gs://): Lightning's own fsspec path
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            tmp = None
        except OSError as e:
            raise CheckpointError(
                f"could not write the checkpoint {path} ({e.strerror or e}). "
                f"{_WRITE_HINTS.get(e.errno, 'Check that the folder is writable and has free space.')} "
                f"Earlier checkpoints in {path.parent} are unchanged; the run stopped here.") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.remove(tmp)


_WRITE_HINTS = {
    errno.ENOSPC: "The disk is full: free space, or put runs on another disk with --trainer.default_root_dir.",
    errno.EDQUOT: "The disk quota is used up: free space, or put runs elsewhere (--trainer.default_root_dir).",
    errno.EROFS: "The file system is read-only: put runs elsewhere with --trainer.default_root_dir.",
    errno.EACCES: "The folder is not writable: fix its permissions or use --trainer.default_root_dir.",
}


def with_atomic_checkpoints(plugins) -> list:
    """The trainer's `plugins` plus `AtomicCheckpointIO`, unless the config chose a CheckpointIO."""
    plugins = plugins if isinstance(plugins, list) else [plugins] if plugins else []
    if any(isinstance(p, CheckpointIO) for p in plugins):
        return plugins
    return [*plugins, AtomicCheckpointIO()]
