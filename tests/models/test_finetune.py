"""9.2 fine-tuning model: weights from a local state dict, a new head at 10x the learning rate."""

import pytest
import torch
import torchvision

from d2l_lightning.errors import CheckpointError, ConfigError
from d2l_lightning.models import FineTuneResNet18


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)  # stands in for ImageNet's
    return path


def test_body_from_weights_path_new_head_and_param_groups(weights):
    model = FineTuneResNet18(num_classes=2, weights_path=str(weights), optimizer=lambda p: torch.optim.SGD(
        p, lr=0.01, weight_decay=0.001))
    model.configure_model()
    saved = torch.load(weights, weights_only=True)
    assert torch.equal(model.net.conv1.weight, saved["conv1.weight"])
    assert torch.equal(model.net.layer4[1].bn2.running_var, saved["layer4.1.bn2.running_var"])
    assert model.net.fc.weight.shape == (2, 512)
    optimizer = model.configure_optimizers()
    body, head = optimizer.param_groups
    assert (body["lr"], head["lr"]) == (0.01, pytest.approx(0.1)) and head["weight_decay"] == 0.001
    assert {id(p) for p in head["params"]} == {id(p) for p in model.net.fc.parameters()}
    assert len(body["params"]) + 2 == len(list(model.parameters()))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 2)


def test_without_weights_offline_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(CheckpointError, match="resnet18-f37072fd.pth.*weights_path") as e:
        FineTuneResNet18().configure_model()
    assert str(tmp_path / "checkpoints") in str(e.value) and "\n" not in str(e.value)
    scratch = FineTuneResNet18(pretrained=False, head_lr_mult=1, optimizer=torch.optim.SGD)
    scratch.configure_model()  # from scratch: no weights needed
    with pytest.raises(ConfigError, match="pretrained is false"):
        FineTuneResNet18(pretrained=False, weights_path="x.pth")
