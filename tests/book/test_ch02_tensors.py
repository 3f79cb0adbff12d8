"""2.2 Data manipulation: the behaviours the book prints, checked on today's PyTorch (creation,
views that share memory, `clone`, broadcasting, in-place updates against new memory, the NumPy
bridge, `torch.tensor` copying, `.to` with a dtype)."""

import numpy as np
import torch


def test_creation_and_shapes():
    torch.manual_seed(0)
    assert torch.allclose(torch.rand(5, 3)[0], torch.tensor([0.4963, 0.7682, 0.0885]), atol=1e-4)
    x = torch.zeros(5, 3, dtype=torch.long)
    assert x.dtype == torch.long and not x.any()
    assert torch.equal(torch.tensor([5.5, 3]), torch.tensor([5.5000, 3.0000]))
    x = x.new_ones(5, 3, dtype=torch.float64)  # keeps the device, takes the new dtype
    assert x.dtype == torch.float64 and x.size() == x.shape == torch.Size([5, 3])
    assert torch.randn_like(x, dtype=torch.float).dtype == torch.float32


def test_indexing_and_view_share_memory_clone_does_not():
    x = torch.rand(5, 3)
    first = x[0, :].clone()
    y = x[0, :]  # an index is a view
    y += 1
    # The book prints x[0, :] as first + 1 here, and then (after `x += 1` on the next view
    # example) prints the old row again where its own code gives first + 2: an inconsistent print
    # in the book, not a behaviour (the notebook it comes from shows first + 2).
    assert torch.allclose(x[0, :], first + 1)
    y, z = x.view(15), x.view(-1, 5)
    assert (x.size(), y.size(), z.size()) == (torch.Size([5, 3]), torch.Size([15]), torch.Size([3, 5]))
    x += 1
    assert torch.allclose(y[:3], first + 2) and y.data_ptr() == x.data_ptr()
    x_cp = x.clone().view(15)
    x -= 1
    assert torch.allclose(x_cp[:3], first + 2) and torch.allclose(x[0], first + 1)
    assert x_cp.data_ptr() != x.data_ptr()
    item = torch.randn(1)
    assert isinstance(item.item(), float) and item.item() == item[0].item()


def test_broadcasting():
    x, y = torch.arange(1, 3).view(1, 2), torch.arange(1, 4).view(3, 1)
    assert (x + y).tolist() == [[2, 3], [3, 4], [4, 5]]


def test_in_place_keeps_memory_new_result_does_not():
    x, y = torch.tensor([1, 2]), torch.tensor([3, 4])
    id_before = id(y)
    y = y + x  # a new tensor
    assert id(y) != id_before
    for update in (lambda x, y: y.__setitem__(slice(None), y + x),
                   lambda x, y: torch.add(x, y, out=y),
                   lambda x, y: y.add_(x),
                   lambda x, y: y.__iadd__(x)):
        y = torch.tensor([3, 4])
        id_before, ptr_before = id(y), y.data_ptr()
        update(x, y)
        assert id(y) == id_before and y.data_ptr() == ptr_before


def test_numpy_bridge_shares_memory_torch_tensor_copies():
    a = torch.ones(5)
    b = a.numpy()
    a += 1
    assert b.tolist() == [2.0] * 5
    b += 1
    assert a.tolist() == [3.0] * 5
    a = np.ones(5)
    b = torch.from_numpy(a)
    np.add(a, 1, out=a)
    b += 1
    assert a.tolist() == [3.0] * 5 and b.tolist() == [3.0] * 5
    c = torch.tensor(a)  # copies: no longer follows a
    a += 1
    assert a.tolist() == [4.0] * 5
    assert torch.equal(c, torch.full((5,), 3.0, dtype=torch.float64))


def test_to_moves_and_changes_dtype():
    x = torch.tensor([1, 2])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    y = torch.ones_like(x, device=device)
    z = (x.to(device) + y).to("cpu", torch.double)
    assert z.dtype == torch.float64 and z.tolist() == [2.0, 3.0]
    assert x.to(torch.int64) is x  # nothing to change: the same tensor, no copy
