"""Chapter 5 models: the layer-by-layer output shapes the book prints in 5.5-5.12, a
forward/backward pass of every model at its input size, and the options every image classifier
shares (initialisation, channels_last, summaries with per-layer shapes)."""

import pytest
import torch
from pytorch_lightning.utilities.model_summary import ModelSummary
from torch import nn

from d2l_lightning.models import (
    VGG,
    AlexNet,
    BatchNormLeNet,
    BatchNormLeNetScratch,
    DenseNet,
    GoogLeNet,
    LeNet,
    NiN,
    ResNet18,
)
from d2l_lightning.models.cnn import (
    VGG11_ARCH,
    DenseBlock,
    Inception,
    Residual,
    resnet_block,
    transition_block,
    vgg,
    vgg_block,
)


def layer_shapes(net: nn.Module, size: int) -> dict[str, tuple[int, ...]]:
    """The book's loop: `for name, blk in net.named_children(): X = blk(X); print(name, X.shape)`.
    Networks built on the meta device compute shapes only (no arithmetic: fast tests)."""
    X = torch.rand(1, 1, size, size, device=next(net.parameters()).device)
    shapes = {}
    net.eval()
    with torch.no_grad():
        for name, blk in net.named_children():
            X = blk(X)
            shapes[name] = tuple(X.shape)
    return shapes


meta = torch.device("meta")


def test_lenet_and_alexnet_structure():
    fc = [m for m in LeNet().net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in fc] == [(256, 120), (120, 84), (84, 10)]
    assert layer_shapes(LeNet().net, 28)["6"] == (1, 256)
    with meta:
        alex = AlexNet().net
    convs = [(m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
             for m in alex if isinstance(m, nn.Conv2d)]
    assert convs == [(96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1)]
    assert [m for m in alex if isinstance(m, nn.Linear)][0].in_features == 6400
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.5 for m in alex) == 2


def test_vgg_shapes_and_small_vgg():
    with meta:
        net = vgg(VGG11_ARCH, 512 * 7 * 7)  # full VGG-11, as the book prints it
    assert layer_shapes(net, 224) == {
        "vgg_block_1": (1, 64, 112, 112), "vgg_block_2": (1, 128, 56, 56), "vgg_block_3": (1, 256, 28, 28),
        "vgg_block_4": (1, 512, 14, 14), "vgg_block_5": (1, 512, 7, 7), "fc": (1, 10)}
    small = VGG(ratio=8).net
    assert [blk[0].out_channels for name, blk in small.named_children() if name.startswith("vgg")] == \
        [8, 16, 32, 64, 64]
    assert [(m.in_features, m.out_features) for m in small.fc if isinstance(m, nn.Linear)] == \
        [(3136, 512), (512, 512), (512, 10)]
    blk = vgg_block(2, 3, 5)
    assert sum(isinstance(m, nn.Conv2d) for m in blk) == 2 and isinstance(blk[-1], nn.MaxPool2d)


def test_nin_shapes():
    with meta:
        shapes = list(layer_shapes(NiN().net, 224).values())
    assert shapes == [(1, 96, 54, 54), (1, 96, 26, 26), (1, 256, 26, 26), (1, 256, 12, 12), (1, 384, 12, 12),
                      (1, 384, 5, 5), (1, 384, 5, 5), (1, 10, 5, 5), (1, 10, 1, 1), (1, 10)]


def test_googlenet_shapes():
    with meta:
        net = GoogLeNet().net
    assert list(layer_shapes(net, 96).values()) == [
        (1, 64, 24, 24), (1, 192, 12, 12), (1, 480, 6, 6), (1, 832, 3, 3), (1, 1024, 1, 1), (1, 1024), (1, 10)]
    out = Inception(192, 64, (96, 128), (16, 32), 32)(torch.rand(2, 192, 12, 12))
    assert out.shape == (2, 64 + 128 + 32 + 32, 12, 12)


def test_resnet_shapes():
    X = torch.rand(4, 3, 6, 6)
    assert Residual(3, 3)(X).shape == (4, 3, 6, 6)
    assert Residual(3, 6, use_1x1conv=True, stride=2)(X).shape == (4, 6, 3, 3)
    with meta:
        net = ResNet18().net
    assert layer_shapes(net, 224) == {
        "0": (1, 64, 112, 112), "1": (1, 64, 112, 112), "2": (1, 64, 112, 112), "3": (1, 64, 56, 56),
        "resnet_block1": (1, 64, 56, 56), "resnet_block2": (1, 128, 28, 28), "resnet_block3": (1, 256, 14, 14),
        "resnet_block4": (1, 512, 7, 7), "global_avg_pool": (1, 512, 1, 1), "fc": (1, 10)}
    assert len(resnet_block(64, 128, 2)) == 2
    with pytest.raises(ValueError):
        resnet_block(64, 128, 2, first_block=True)


def test_densenet_shapes():
    blk = DenseBlock(2, 3, 10)
    Y = blk(torch.rand(4, 3, 8, 8))
    assert Y.shape == (4, 23, 8, 8) and blk.out_channels == 23
    assert transition_block(23, 10)(Y).shape == (4, 10, 4, 4)
    with meta:
        shapes = layer_shapes(DenseNet().net, 96)
    assert shapes == {
        "0": (1, 64, 48, 48), "1": (1, 64, 48, 48), "2": (1, 64, 48, 48), "3": (1, 64, 24, 24),
        "dense_block_0": (1, 192, 24, 24), "transition_block_0": (1, 96, 12, 12),
        "dense_block_1": (1, 224, 12, 12), "transition_block_1": (1, 112, 6, 6),
        "dense_block_2": (1, 240, 6, 6), "transition_block_2": (1, 120, 3, 3),
        "dense_block_3": (1, 248, 3, 3), "BN": (1, 248, 3, 3), "relu": (1, 248, 3, 3),
        "global_avg_pool": (1, 248, 1, 1), "fc": (1, 10)}


@pytest.mark.parametrize("model_cls, size", [
    (LeNet, 28), (AlexNet, 224), (VGG, 224), (NiN, 224), (GoogLeNet, 96), (BatchNormLeNetScratch, 28),
    (BatchNormLeNet, 28), (ResNet18, 96), (DenseNet, 96)])
def test_forward_backward_every_model(model_cls, size):
    torch.manual_seed(0)
    model = model_cls()
    model.train()
    X, y = torch.rand(2, 1, size, size), torch.tensor([3, 7])
    logits = model(X)
    assert logits.shape == (2, 10)
    loss = model.loss(logits, y)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_initialisation_schemes_from_the_model_options():
    torch.manual_seed(0)
    m = LeNet(init="normal", init_std=0.01)
    m.configure_model()
    w = torch.cat([l.weight.flatten() for l in m.net if isinstance(l, (nn.Linear, nn.Conv2d))])
    assert abs(w.std().item() - 0.01) < 0.001 and all(l.bias.abs().sum() == 0 for l in m.net
                                                       if isinstance(l, (nn.Linear, nn.Conv2d)))
    m2 = LeNet(init="xavier")
    m2.configure_model()
    fc = m2.net[7]
    bound = (6 / (fc.in_features + fc.out_features)) ** 0.5
    assert fc.weight.abs().max() <= bound and fc.weight.abs().max() > 0.9 * bound
    before = m2.net[0].weight.clone()
    m2.configure_model()  # once only: never overwrites trained or restored weights
    assert torch.equal(before, m2.net[0].weight)
    m3 = BatchNormLeNetScratch(init="constant")
    m3.configure_model()
    assert m3.net[0].weight.abs().sum() == 0 and torch.equal(m3.net[1].gamma, torch.ones_like(m3.net[1].gamma))


def test_channels_last_gives_the_same_logits():
    torch.manual_seed(0)
    a = ResNet18()
    b = ResNet18(channels_last=True)
    b.load_state_dict(a.state_dict())
    b.to(memory_format=torch.channels_last)
    a.eval()
    b.eval()
    X = torch.rand(2, 1, 64, 64)
    assert b.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(a(X), b(X), rtol=1e-4, atol=1e-4)


def test_summary_shows_each_layers_input_and_output_shape():
    model = LeNet()
    model.example_input_array = (torch.zeros(1, 1, 28, 28),)
    summary = ModelSummary(model, max_depth=2)
    rows = dict(zip(summary.layer_names, zip(summary.in_sizes, summary.out_sizes)))
    assert rows["net.0"] == ([1, 1, 28, 28], [1, 6, 24, 24])
    assert rows["net.6"] == ([1, 16, 4, 4], [1, 256])
    assert rows["net.11"][1] == [1, 10]
