"""Interventions on ``nn.Sequential`` stages of residual blocks, against hand-written forwards.

A tiny torchvision-free CNN whose stages are ``nn.Sequential`` lists of residual blocks, the
second stage opening with a strided block that has a ``downsample`` projection (the ResNet
convention); then the encoder of a segmentation-models-pytorch FPN (resnet18, no weights).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable

import pytest
import torch
from torch import nn

from interplab.core.errors import ConfigError
from interplab.robustness.interventions import (
    Ablate,
    Delete,
    Permute,
    Repeat,
    Swap,
    changes_shape,
    find_blocks,
    intervene,
)
from interplab.robustness.interventions.blocks import check_shapes

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


class Residual(nn.Module):
    """x + tanh(conv(x)): keeps the shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.conv(x))


class Down(nn.Module):
    """downsample(x) + tanh(conv(x)) with stride 2 and more channels (a ResNet stage opener)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.downsample = nn.Conv2d(cin, cout, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + torch.tanh(self.conv(x))


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.stage1 = nn.Sequential(Residual(4), Residual(4), Residual(4))
        self.stage2 = nn.Sequential(Down(4, 8), Residual(8), Residual(8))
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stage2(self.stage1(self.stem(x))))


def hand_forward(
    net: TinyCNN, x: torch.Tensor, stage1: list[nn.Module], stage2: list[nn.Module]
) -> torch.Tensor:
    """The forward written out, running the given blocks in the given order."""
    h = net.stem(x)
    for block in stage1:
        h = block(h)
    for block in stage2:
        h = block(h)
    return net.head(h)


def image(seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


Edit = Callable[[list[nn.Module]], list[nn.Module]]
CASES: dict[str, tuple[str, tuple, Edit]] = {
    "delete-1": ("stage1", (Delete(1),), lambda b: [b[0], b[2]]),
    "delete-0-2": ("stage1", (Delete((0, 2)),), lambda b: [b[1]]),
    "swap-adjacent": ("stage1", (Swap(0, 1),), lambda b: [b[1], b[0], b[2]]),
    "swap-any-pair": ("stage1", (Swap(0, 2),), lambda b: [b[2], b[1], b[0]]),
    "permute": ("stage1", (Permute((2, 0, 1)),), lambda b: [b[2], b[0], b[1]]),
    "repeat": ("stage1", (Repeat(1, 3),), lambda b: [b[0], b[1], b[1], b[1], b[2]]),
    "composed": ("stage1", (Swap(0, 1), Delete(2)), lambda b: [b[1], b[0]]),
    "after-downsample-delete": ("stage2", (Delete(2),), lambda b: [b[0], b[1]]),
    "after-downsample-swap": ("stage2", (Swap(1, 2),), lambda b: [b[0], b[2], b[1]]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_ops_on_a_sequential_match_the_hand_written_forward(case: str) -> None:
    net = TinyCNN().eval()
    x = image()
    stage, ops, edit = CASES[case]
    blocks = {"stage1": list(net.stage1), "stage2": list(net.stage2)}
    clean = net(x)
    with intervene(net, *ops, blocks=stage) as edited:
        assert edited is getattr(net, stage)
        got = net(x)
        assert list(edited) == edit(blocks[stage])
    want = hand_forward(net, x, **{**blocks, stage: edit(blocks[stage])})
    assert torch.equal(got, want)
    assert (got - clean).abs().max() > 1e-4  # the op changed something
    assert torch.equal(net(x), hand_forward(net, x, **blocks))


def state_of(net: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in net.state_dict().items()},
        "pointers": {k: v.data_ptr() for k, v in net.state_dict().items()},
        "children": {
            name: (id(m._modules), [(n, id(c)) for n, c in m._modules.items()])
            for name, m in net.named_modules()
        },
        "hooks": {
            id(m): (dict(m._forward_pre_hooks), dict(m._forward_hooks)) for m in net.modules()
        },
    }


def assert_same_state(net: nn.Module, before: dict) -> None:
    after = state_of(net)
    assert after["state"].keys() == before["state"].keys()
    for key, value in after["state"].items():
        assert torch.equal(value, before["state"][key]), key
    assert after["pointers"] == before["pointers"]
    assert after["children"] == before["children"]  # names, modules, order, the dicts themselves
    assert after["hooks"] == before["hooks"]


RESTORE = {
    "delete": ("stage1", (Delete((0, 2)),)),
    "swap-weights": ("stage1", (Swap(0, 2, mode="weights"),)),
    "repeat-and-ablate": ("stage2", (Repeat(1, 2), Ablate(3, "zero"))),
    "everything": ("stage1", (Permute((2, 1, 0)), Repeat(0, 2), Delete(3), Ablate(2, "zero"))),
}


@pytest.mark.parametrize("case", list(RESTORE))
def test_the_model_is_bit_identical_after_the_block(case: str) -> None:
    net = TinyCNN().eval()
    x = image(1)
    clean = net(x)
    before = state_of(net)
    stage, ops = RESTORE[case]
    with intervene(net, *ops, blocks=stage):
        net(x)
    assert_same_state(net, before)
    assert torch.equal(net(x), clean)


def test_a_named_sequential_gets_its_names_back() -> None:
    torch.manual_seed(1)
    blocks = nn.Sequential(
        OrderedDict([("first", Residual(2)), ("second", Residual(2)), ("third", Residual(2))])
    )
    x = torch.randn(1, 2, 4, 4)
    names = list(blocks._modules.items())
    with intervene(blocks, Delete(1)) as edited:
        assert edited is blocks
        assert [m for _, m in blocks.named_children()] == [names[0][1], names[2][1]]
        assert torch.equal(blocks(x), names[2][1](names[0][1](x)))
    assert list(blocks._modules.items()) == names
    assert list(blocks.state_dict()) == [
        f"{n}.conv.{p}" for n, _ in names for p in ("weight", "bias")
    ]


def test_an_exception_inside_the_block_still_restores() -> None:
    net = TinyCNN().eval()
    before = state_of(net)
    with pytest.raises(RuntimeError, match="boom"), intervene(net, Delete(1), blocks="stage2"):
        raise RuntimeError("boom")
    assert_same_state(net, before)


def test_find_blocks_takes_a_sequential_by_path_or_itself() -> None:
    net = TinyCNN()
    assert find_blocks(net, "stage2") is net.stage2
    assert find_blocks(net.stage1) is net.stage1
    with pytest.raises(ConfigError, match=r"no nn.ModuleList of blocks at any of.*'stage1'"):
        find_blocks(net)  # the default search looks for a ModuleList only, and lists what exists
    with pytest.raises(ConfigError, match=r"at 'stage3'"):
        find_blocks(net, "stage3")


def test_a_shape_changing_block_cannot_be_deleted_moved_or_repeated() -> None:
    net = TinyCNN().eval()
    before = state_of(net)
    assert [changes_shape(b) for b in net.stage2] == [True, False, False]
    assert not any(changes_shape(b) for b in net.stage1)
    refused = {
        "delete": (Delete(0), r"`delete-L0`: block\(s\) \[0\] change the shape"),
        "swap": (Swap(0, 1), r"`swap-L0-L1`: block 1 would run at position 0"),
        "repeat": (Repeat(0, 2), r"`repeat-L0-x2`: block\(s\) \[0\] change the shape"),
        "ablate": (Ablate(0, "zero"), r"ablate-zero-L0: block 0 changes the shape"),
    }
    for op, message in refused.values():
        with pytest.raises(ConfigError, match=message), intervene(net, op, blocks="stage2"):
            pytest.fail("the block must not be entered")  # pragma: no cover
        assert_same_state(net, before)
    with intervene(net, Ablate(0, "zero", part="conv"), blocks="stage2"):
        net(image())  # a submodule's write keeps the shape: allowed


def test_one_list_across_a_downsample_keeps_blocks_on_their_side() -> None:
    net = TinyCNN().eval()
    flat = nn.Sequential(*net.stage1, *net.stage2)  # 0 1 2 | D 4 5
    original = list(flat)
    check_shapes(original, [original[i] for i in (1, 0, 2, 3, 5, 4)], "permute")  # allowed
    with (
        pytest.raises(ConfigError, match=r"block 4 would run at position 2"),
        intervene(flat, Swap(2, 4)),
    ):
        pass  # pragma: no cover
    extra = Down(8, 8)
    with pytest.raises(ConfigError, match=r"would run in another order"):
        check_shapes([*original, extra], [original[0], extra, *original[1:]], "x")
    assert list(flat) == original


def test_an_unconventional_shape_change_is_left_to_the_forward() -> None:
    """A strided block without a `downsample`/`shortcut` is not detected: torch raises."""

    class Strided(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 3, stride=2, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.conv(x))

    torch.manual_seed(2)
    stage = nn.Sequential(Strided(), Residual(8))
    with intervene(stage, Delete(0)), pytest.raises(RuntimeError):
        stage(torch.randn(1, 4, 8, 8))
    assert isinstance(stage[0], Strided) and len(stage) == 2


@pytest.fixture(scope="module")
def fpn() -> nn.Module:
    smp = pytest.importorskip(
        "segmentation_models_pytorch", reason="segmentation-models-pytorch is not installed"
    )
    torch.manual_seed(0)
    model = smp.FPN(encoder_name="resnet18", encoder_weights=None, classes=3)
    return model.eval()


STAGES = ("layer1", "layer2", "layer3", "layer4")


def test_the_resnet18_encoder_blocks_are_classified(fpn: nn.Module) -> None:
    flags = {s: [changes_shape(b) for b in getattr(fpn.encoder, s)] for s in STAGES}
    assert flags == {"layer1": [False, False], **{s: [True, False] for s in STAGES[1:]}}


SMP_CASES = {
    "layer1-delete-0": ("layer1", Delete(0), lambda b: [b[1]]),
    "layer1-swap": ("layer1", Swap(0, 1), lambda b: [b[1], b[0]]),
    **{f"{s}-delete-1": (s, Delete(1), lambda b: [b[0]]) for s in STAGES},
}


@pytest.mark.parametrize("case", list(SMP_CASES))
def test_smp_encoder_ops_match_the_model_with_its_stage_replaced(fpn: nn.Module, case: str) -> None:
    stage, op, edit = SMP_CASES[case]
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    clean = fpn(x)
    before = state_of(fpn)
    with intervene(fpn, op, blocks=f"encoder.{stage}"):
        got = fpn(x)
    assert_same_state(fpn, before)
    assert torch.equal(fpn(x), clean)
    reference = copy.deepcopy(fpn)
    setattr(reference.encoder, stage, nn.Sequential(*edit(list(getattr(reference.encoder, stage)))))
    torch.testing.assert_close(got, reference(x), rtol=0, atol=1e-6)
    assert (got - clean).abs().max() > 1e-4


def test_smp_downsampling_blocks_are_refused_before_any_forward(fpn: nn.Module) -> None:
    before = state_of(fpn)
    for stage in STAGES[1:]:
        with (
            pytest.raises(ConfigError, match=r"change the shape"),
            intervene(fpn, Delete(0), blocks=f"encoder.{stage}"),
        ):
            pass  # pragma: no cover
        with (
            pytest.raises(ConfigError, match=r"would run at position 0"),
            intervene(fpn, Swap(0, 1), blocks=f"encoder.{stage}"),
        ):
            pass  # pragma: no cover
    assert_same_state(fpn, before)
