"""9.2 Fine-tuning: torchvision's ResNet-18 with ImageNet weights and a new output layer.

The pretrained body keeps the optimizer's learning rate and the new head gets `head_lr_mult` times
it, through parameter groups (every model's `lr_mult`; book: SGD lr 0.01, head 0.1, weight decay
0.001). The weights come from torchvision's own download and cache
(`~/.cache/torch/hub/checkpoints/`), or from a local file given as `weights_path`; they are loaded
when the model is built, so `load` and `--ckpt_path` (which restore trained weights) never need
them.
"""

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from d2l_lightning.core import Classifier
from d2l_lightning.core.weights import read_weights
from d2l_lightning.errors import CheckpointError, ConfigError, check_range


def imagenet_resnet18_weights(weights_path: str | None = None) -> dict[str, Tensor]:
    """The ImageNet state dict of torchvision's `resnet18`: from `weights_path`, else torchvision's
    cache, else downloaded by torchvision (not when `D2L_OFFLINE` is set)."""
    from torchvision.models import ResNet18_Weights

    if weights_path:
        return read_weights(weights_path, option="weights_path")
    weights = ResNet18_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    fix = (f"Download {weights.url} and put it at {cached} (torchvision's cache), or pass its path as "
           "model.init_args.weights_path; or set pretrained: false to train from scratch.")
    if not cached.is_file() and os.environ.get("D2L_OFFLINE", "") not in ("", "0"):
        raise CheckpointError(f"the ImageNet weights of resnet18 are not in {cached} and D2L_OFFLINE is set, "
                              f"so they are not downloaded. {fix}")
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError) as e:  # no network, or a corrupt download
        raise CheckpointError(f"the ImageNet weights of resnet18 could not be downloaded "
                              f"({type(e).__name__}: {str(e)[:200]}). {fix}") from None


class FineTuneResNet18(Classifier):
    """torchvision's `resnet18` whose 1000-class `fc` is replaced by `Linear(512, num_classes)`.

    Args:
        num_classes: classes of the target data set (hotdog: 2).
        pretrained: start from ImageNet weights (book 9.2); false = every weight random (the
            book's baseline from scratch).
        weights_path: a local copy of the ImageNet state dict (`resnet18-f37072fd.pth`) instead of
            torchvision's cache and download.
        head_lr_mult: the new head's learning rate as a multiple of the body's (book: 10).
        optimizer, scheduler, init_from: see `D2LModule`.
    """

    def __init__(self, num_classes: int = 2, pretrained: bool = True, weights_path: str | None = None,
                 head_lr_mult: float = 10.0, **kwargs):
        check_range("head_lr_mult", head_lr_mult, "> 0")
        if head_lr_mult != 1:  # the head's own parameter group, through the shared `lr_mult` option
            kwargs["lr_mult"] = {**(kwargs.get("lr_mult") or {}), "net.fc": head_lr_mult}
        super().__init__(num_classes=num_classes, **kwargs)
        from torchvision.models import resnet18

        if weights_path and not pretrained:
            raise ConfigError("weights_path is given but pretrained is false: set pretrained: true to start "
                              "from those weights, or drop weights_path to train from scratch.")
        self.pretrained, self.weights_path, self.head_lr_mult = pretrained, weights_path, head_lr_mult
        self.net = resnet18(weights=None)
        self.net.fc = nn.Linear(self.net.fc.in_features, num_classes)

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)

    def init_weights(self) -> None:
        """The ImageNet weights for everything but the new head (once, when the model is built)."""
        if not self.pretrained:
            return
        state = imagenet_resnet18_weights(self.weights_path)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the old 1000-class head
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        if unexpected or set(missing) != {"fc.weight", "fc.bias"}:
            raise CheckpointError(f"weights_path {self.weights_path} is not a torchvision resnet18 state dict "
                                  f"(missing {missing[:3]}, unexpected {unexpected[:3]}).")
