"""Lightning plugins the CLI configures."""

from pytorch_lightning.plugins.layer_sync import TorchSyncBatchNorm
from torch import nn

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
