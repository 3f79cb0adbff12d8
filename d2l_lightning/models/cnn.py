"""Chapter 5 convolutional networks, named as in the book: 5.1's learned edge kernel, LeNet (5.5),
AlexNet (5.6), VGG (5.7), NiN (5.8), GoogLeNet (5.9), LeNet with batch normalisation (5.10,
scratch and concise), ResNet-18 (5.11) and DenseNet (5.12).

Every image model is an `ImageClassifier`: `Classifier` (cross-entropy, accuracy, logging,
predict -> label names) plus what convolutional nets share: optional `channels_last` memory
format, the chapter 4 initialisation schemes chosen from the config, and per-layer input/output
shapes in the model summary (`example_input_array` from the data module's first batch). A
model states its network as `self.net`, built from the book's blocks (`vgg_block`, `nin_block`,
`Inception`, `Residual`, `resnet_block`, `DenseBlock`, `transition_block`), which are reusable
layers of their own.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2l_lightning.core import Classifier, Regressor
from d2l_lightning.layers import GlobalAvgPool2d, InitScheme, init_weights_
from d2l_lightning.models.linear import _ReportsWeights
from d2l_lightning.scratch import BatchNorm, Conv2D


class ImageClassifier(Classifier):
    """Base of the chapter 5 image classifiers; subclasses set `self.net` (input (n, c, h, w),
    output logits).

    Args:
        num_classes: output classes (Fashion-MNIST: 10).
        channels_last: keep weights and input batches in `torch.channels_last` memory format
            (faster convolutions on recent GPUs and with bf16 on CPU).
        init: weight initialisation of linear and convolutional layers (4.2): `default`
            (PyTorch's), `normal` (N(0, init_std^2)), `constant`, `xavier`, `book_custom`; biases 0.
        init_std: standard deviation for `init: normal`.
        optimizer, scheduler: see `D2LModule`.
    """

    #: depth of the model summary: the book's layers/blocks are children of `self.net`
    summary_depth = 2

    def __init__(self, num_classes: int = 10, channels_last: bool = False, init: InitScheme = "default",
                 init_std: float = 0.01, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.channels_last, self.init_scheme, self.init_std = channels_last, init, init_std

    def forward(self, X: Tensor) -> Tensor:
        if self.channels_last and X.dim() == 4:
            X = X.contiguous(memory_format=torch.channels_last)
        return self.net(X)

    def init_weights(self) -> None:
        """The configured initialisation, applied once by the build hook (before a checkpoint is
        restored, so resumed weights are never overwritten)."""
        init_weights_(self.net, self.init_scheme, std=self.init_std)

    def build(self, datamodule) -> None:
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.example_input_array is None and hasattr(datamodule, "example_batch"):
            # per-layer input/output shapes in the model summary; a tuple: it is unpacked into
            # forward(*inputs), and the data modules' batch hooks unpack (X, *rest)
            inputs, _ = self.split_batch(datamodule.example_batch(size=1))
            self.example_input_array = tuple(x.cpu() for x in inputs)


# VGG, NiN and GoogLeNet are deep stacks of convolutions with ReLU and no normalisation. PyTorch's
# default initialisation (weights uniform with variance 1/(3 fan_in)) multiplies the variance of the
# signal by about 1/6 per layer (1/3 from the weights, 1/2 from ReLU), so at the book's sizes the
# input's share of the logits is 1e-4 to 1e-6 of the biases' share: every image gets the same
# logits, the loss sits at ln 10 and these three stay at chance for their first hundreds of steps
# (the book's first epochs average only 0.51-0.76 train accuracy). Xavier initialisation (what
# d2l-en uses for its CNNs) keeps the input's share near 0.2-0.4 and they learn from the first steps.
# The shallower or normalised nets (LeNet, AlexNet, ResNet, DenseNet) keep PyTorch's default, the book's.
DEEP_PLAIN_INIT: InitScheme = "xavier"


# --- 5.1 learning the edge kernel -----------------------------------------------------------------
class EdgeDetector(_ReportsWeights, Regressor):
    """5.1: learn the kernel of our scratch `Conv2D` (kernel 1x2, weight and bias ~ N(0, 1)) from
    an image and its edge map, with the book's loss: the *sum* of squared errors. With the data
    module's true kernel ([1, -1], bias 0) it logs `val/w_err`, `val/b_err`."""

    def __init__(self, kernel_size: tuple[int, int] = (1, 2), **kwargs):
        super().__init__(**kwargs)
        self.conv2d = Conv2D(kernel_size)

    def forward(self, X: Tensor) -> Tensor:  # a batch of (h, w) images
        return torch.stack([self.conv2d(x) for x in X])

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return ((y_hat - y.reshape(y_hat.shape)) ** 2).sum()

    def weight_and_bias(self):
        return self.conv2d.weight, self.conv2d.bias


# --- 5.5 LeNet -----------------------------------------------------------------------------------
class LeNet(ImageClassifier):
    """5.5: conv 1->6 k5, sigmoid, max-pool 2/2, conv 6->16 k5, sigmoid, max-pool 2/2, then fully
    connected 256 -> 120 -> 84 -> 10 with sigmoids; for 28x28 inputs."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.Sigmoid(), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.MaxPool2d(2, 2), nn.Flatten(),
            nn.Linear(16 * 4 * 4, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, num_classes))


# --- 5.6 AlexNet ---------------------------------------------------------------------------------
class AlexNet(ImageClassifier):
    """5.6: the book's simplified AlexNet for 1-channel 224x224 inputs: conv 96 k11 s4, 256 k5 p2,
    384, 384, 256 k3 p1 (ReLU), three max-pools 3/2, fully connected 6400 -> 4096 -> 4096 -> 10 with
    dropout 0.5 (`fc_hidden_units`: the 4096)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.5,
                 fc_hidden_units: int = 4096, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, 4), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
            nn.Linear(256 * 5 * 5, fc_hidden_units), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(fc_hidden_units, fc_hidden_units), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(fc_hidden_units, num_classes))


# --- 5.7 VGG -------------------------------------------------------------------------------------
VGG11_ARCH = ((1, 1, 64), (1, 64, 128), (2, 128, 256), (2, 256, 512), (2, 512, 512))


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """5.7: `num_convs` 3x3 convolutions (padding 1) with ReLU, then a 2x2 max-pool (halves h, w)."""
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.ReLU()]
    layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def vgg(conv_arch, fc_features: int, fc_hidden_units: int = 4096, num_classes: int = 10,
        dropout: float = 0.5) -> nn.Sequential:
    """5.7: `vgg_block_1` ... `vgg_block_k` from `conv_arch` ((num_convs, in, out) per block) and an
    `fc` head: flatten, two hidden layers of `fc_hidden_units` with dropout, output."""
    net = nn.Sequential()
    for i, (num_convs, c_in, c_out) in enumerate(conv_arch):
        net.add_module(f"vgg_block_{i + 1}", vgg_block(num_convs, c_in, c_out))
    net.add_module("fc", nn.Sequential(
        nn.Flatten(), nn.Linear(fc_features, fc_hidden_units), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(fc_hidden_units, fc_hidden_units), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(fc_hidden_units, num_classes)))
    return net


class VGG(ImageClassifier):
    """5.7: VGG-11 for 224x224 inputs, every width divided by `ratio` (book: 8, i.e. channels
    8-16-32-64-64 and fully connected 3136 -> 512 -> 512 -> 10; ratio 1 is the full VGG-11).
    Xavier-initialised by default (`DEEP_PLAIN_INIT`: PyTorch's default leaves it at chance)."""

    def __init__(self, num_classes: int = 10, ratio: int = 8, fc_hidden_units: int = 4096,
                 in_channels: int = 1, dropout: float = 0.5, init: InitScheme = DEEP_PLAIN_INIT,
                 **kwargs):
        super().__init__(num_classes=num_classes, init=init, **kwargs)
        arch = [(n, c_in // ratio if i else in_channels, c_out // ratio)
                for i, (n, c_in, c_out) in enumerate(VGG11_ARCH)]
        self.net = vgg(arch, 512 * 7 * 7 // ratio, fc_hidden_units // ratio, num_classes, dropout)


# --- 5.8 NiN -------------------------------------------------------------------------------------
def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int,
              padding: int) -> nn.Sequential:
    """5.8: a convolution followed by two 1x1 convolutions, ReLU after each."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1), nn.ReLU())


class NiN(ImageClassifier):
    """5.8: four NiN blocks (96, 256, 384, num_classes channels) with 3/2 max-pools and dropout 0.5
    before the last, then global average pooling; for 224x224 inputs. Xavier-initialised by default
    (`DEEP_PLAIN_INIT`)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.5,
                 init: InitScheme = DEEP_PLAIN_INIT, **kwargs):
        super().__init__(num_classes=num_classes, init=init, **kwargs)
        self.net = nn.Sequential(
            nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0), nn.MaxPool2d(3, 2),
            nin_block(96, 256, kernel_size=5, stride=1, padding=2), nn.MaxPool2d(3, 2),
            nin_block(256, 384, kernel_size=3, stride=1, padding=1), nn.MaxPool2d(3, 2), nn.Dropout(dropout),
            nin_block(384, num_classes, kernel_size=3, stride=1, padding=1),
            GlobalAvgPool2d(), nn.Flatten())


# --- 5.9 GoogLeNet -------------------------------------------------------------------------------
class Inception(nn.Module):
    """5.9: four parallel paths, concatenated on channels: 1x1 conv (c1); 1x1 (c2[0]) then 3x3
    (c2[1]); 1x1 (c3[0]) then 5x5 (c3[1]); 3x3 max-pool then 1x1 (c4). ReLU after every conv.
    Output channels c1 + c2[1] + c3[1] + c4, same height and width."""

    def __init__(self, in_c: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_c, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_c, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_c, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_c, c4, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


class GoogLeNet(ImageClassifier):
    """5.9: blocks b1 ... b5 with the book's nine Inception blocks, global average pooling and
    Linear(1024, 10); for 96x96 inputs. (b2 has no ReLU between its convolutions, as the book.)
    Xavier-initialised by default (`DEEP_PLAIN_INIT`)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, init: InitScheme = DEEP_PLAIN_INIT,
                 **kwargs):
        super().__init__(num_classes=num_classes, init=init, **kwargs)
        b1 = nn.Sequential(nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b2 = nn.Sequential(nn.Conv2d(64, 64, kernel_size=1), nn.Conv2d(64, 192, kernel_size=3, padding=1),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32),
                           Inception(256, 128, (128, 192), (32, 96), 64),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64),
                           Inception(512, 160, (112, 224), (24, 64), 64),
                           Inception(512, 128, (128, 256), (24, 64), 64),
                           Inception(512, 112, (144, 288), (32, 64), 64),
                           Inception(528, 256, (160, 320), (32, 128), 128),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                           Inception(832, 384, (192, 384), (48, 128), 128),
                           GlobalAvgPool2d())
        self.net = nn.Sequential(OrderedDict(b1=b1, b2=b2, b3=b3, b4=b4, b5=b5, flatten=nn.Flatten(),
                                             fc=nn.Linear(1024, num_classes)))


# --- 5.10 batch normalisation --------------------------------------------------------------------
def _bn_lenet(in_channels: int, num_classes: int, bn2d, bn1d) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5), bn2d(6), nn.Sigmoid(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), bn2d(16), nn.Sigmoid(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), bn1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), bn1d(84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


class BatchNormLeNetScratch(ImageClassifier):
    """5.10: LeNet with our scratch `BatchNorm` after every conv/linear layer but the last
    (eps 1e-5, momentum 0.9, moving statistics from 0, as the book)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.net = _bn_lenet(in_channels, num_classes, lambda c: BatchNorm(c, num_dims=4),
                             lambda c: BatchNorm(c, num_dims=2))


class BatchNormLeNet(ImageClassifier):
    """5.10 concise: the same LeNet with `nn.BatchNorm2d` / `nn.BatchNorm1d`."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.net = _bn_lenet(in_channels, num_classes, nn.BatchNorm2d, nn.BatchNorm1d)


# --- 5.11 ResNet ---------------------------------------------------------------------------------
class Residual(nn.Module):
    """5.11: conv3x3 (stride) - BN - ReLU - conv3x3 - BN, plus the input (through a strided 1x1
    conv when `use_1x1conv`), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, use_1x1conv: bool = False, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, X: Tensor) -> Tensor:
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        return F.relu(Y + X)


def resnet_block(in_channels: int, out_channels: int, num_residuals: int, first_block: bool = False):
    """5.11: `num_residuals` Residual blocks; the first halves h and w and changes the channels
    (with a 1x1 shortcut) unless `first_block` (which keeps the channels)."""
    if first_block and in_channels != out_channels:
        raise ValueError("the first block keeps the number of channels")
    blocks = [Residual(in_channels, out_channels, use_1x1conv=True, stride=2) if i == 0 and not first_block
              else Residual(out_channels, out_channels) for i in range(num_residuals)]
    return nn.Sequential(*blocks)


class ResNet18(ImageClassifier):
    """5.11: 7x7/2 conv 64, BN, ReLU, 3x3/2 max-pool, four stages of two Residual blocks (64, 128,
    256, 512 channels), global average pooling, Linear(512, 10); the book trains at 96x96."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.net = nn.Sequential(OrderedDict([
            ("0", nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)),
            ("1", nn.BatchNorm2d(64)), ("2", nn.ReLU()),
            ("3", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ("resnet_block1", resnet_block(64, 64, 2, first_block=True)),
            ("resnet_block2", resnet_block(64, 128, 2)),
            ("resnet_block3", resnet_block(128, 256, 2)),
            ("resnet_block4", resnet_block(256, 512, 2)),
            ("global_avg_pool", GlobalAvgPool2d()),
            ("fc", nn.Sequential(nn.Flatten(), nn.Linear(512, num_classes))),
        ]))


# --- 5.12 DenseNet -------------------------------------------------------------------------------
def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """5.12: BN - ReLU - conv3x3 (padding 1)."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                         nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    """5.12: `num_convs` conv blocks, each seeing the concatenation of the input and all earlier
    outputs; output channels = in_channels + num_convs * out_channels (the growth rate)."""

    def __init__(self, num_convs: int, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.ModuleList(conv_block(in_channels + i * out_channels, out_channels)
                                 for i in range(num_convs))
        self.out_channels = in_channels + num_convs * out_channels

    def forward(self, X: Tensor) -> Tensor:
        for blk in self.net:
            X = torch.cat((X, blk(X)), dim=1)
        return X


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """5.12: BN - ReLU - 1x1 conv (fewer channels) - 2x2 average pool (halves h, w)."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                         nn.Conv2d(in_channels, out_channels, kernel_size=1),
                         nn.AvgPool2d(kernel_size=2, stride=2))


class DenseNet(ImageClassifier):
    """5.12: ResNet's stem, dense blocks of `num_convs_in_dense_blocks` convs with growth rate 32,
    transition blocks halving the channels between them, then BN, ReLU, global average pooling
    and a linear layer; the book trains at 96x96."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, num_channels: int = 64,
                 growth_rate: int = 32, num_convs_in_dense_blocks: tuple[int, ...] = (4, 4, 4, 4), **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        layers: list[tuple[str, nn.Module]] = [
            ("0", nn.Conv2d(in_channels, num_channels, kernel_size=7, stride=2, padding=3)),
            ("1", nn.BatchNorm2d(num_channels)), ("2", nn.ReLU()),
            ("3", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        for i, num_convs in enumerate(num_convs_in_dense_blocks):
            block = DenseBlock(num_convs, num_channels, growth_rate)
            layers.append((f"dense_block_{i}", block))
            num_channels = block.out_channels
            if i != len(num_convs_in_dense_blocks) - 1:
                layers.append((f"transition_block_{i}", transition_block(num_channels, num_channels // 2)))
                num_channels //= 2
        layers += [("BN", nn.BatchNorm2d(num_channels)), ("relu", nn.ReLU()),
                   ("global_avg_pool", GlobalAvgPool2d()),
                   ("fc", nn.Sequential(nn.Flatten(), nn.Linear(num_channels, num_classes)))]
        self.net = nn.Sequential(OrderedDict(layers))
