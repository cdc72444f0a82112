"""Interventions against hand-written forwards of the Hugging Face model with its layers edited."""

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from robustness_helpers import boot
from torch import nn

from interplab.core.errors import ConfigError
from interplab.robustness.interventions import (
    Ablate,
    Delete,
    ExecutionRecorder,
    Permute,
    Repeat,
    Swap,
    find_blocks,
    intervene,
    logits,
    record_residuals,
)

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


@pytest.fixture(scope="module")
def models(tiny_gpt2_dir: Path, tiny_neox_dir: Path) -> dict[str, tuple[Path, nn.Module]]:
    """A fresh HF model per family (never bridged), the reference for the hand-written edits."""
    from transformers import AutoModelForCausalLM

    return {
        family: (path, AutoModelForCausalLM.from_pretrained(path).eval())
        for family, path in (("gpt2", tiny_gpt2_dir), ("neox", tiny_neox_dir))
    }


@pytest.fixture(params=["gpt2", "neox"])
def family(request: pytest.FixtureRequest) -> str:
    return request.param


def layer_list(hf: nn.Module) -> tuple[nn.Module, str]:
    return (hf.transformer, "h") if hasattr(hf, "transformer") else (hf.gpt_neox, "layers")


def hand_edited(
    hf: nn.Module,
    ids: torch.Tensor,
    edit: Callable[[list[nn.Module]], list[nn.Module]],
    **kwargs: object,
) -> torch.Tensor:
    """Logits of a deep copy of ``hf`` whose layer list was replaced by ``edit(layers)``."""
    model = copy.deepcopy(hf)
    owner, name = layer_list(model)
    setattr(owner, name, nn.ModuleList(edit(list(getattr(owner, name)))))
    return model(ids, use_cache=False, **kwargs).logits


def ids_for(seed: int = 0, batch: int = 2, seq: int = 12) -> torch.Tensor:
    return torch.randint(300, (batch, seq), generator=torch.Generator().manual_seed(seed))


STRUCTURAL = {
    "delete-1": ((Delete(1),), lambda h: [h[0], h[2], h[3]]),
    "delete-0-2": ((Delete((0, 2)),), lambda h: [h[1], h[3]]),
    "delete-last": ((Delete(3),), lambda h: h[:3]),
    "swap-adjacent": ((Swap(1, 2),), lambda h: [h[0], h[2], h[1], h[3]]),
    "swap-any-pair": ((Swap(0, 3),), lambda h: [h[3], h[1], h[2], h[0]]),
    "permute": ((Permute((2, 0, 3, 1)),), lambda h: [h[2], h[0], h[3], h[1]]),
    "repeat": ((Repeat(1, 3),), lambda h: [h[0], h[1], h[1], h[1], h[2], h[3]]),
    # each op edits the list left by the one before: [1 0 2 3] -> [1 0 3] -> [1 1 0 3]
    "composed": ((Swap(0, 1), Delete(2), Repeat(0, 2)), lambda h: [h[1], h[1], h[0], h[3]]),
}


@pytest.mark.parametrize("case", list(STRUCTURAL))
def test_structural_ops_match_the_hf_model_with_its_layer_list_edited(
    models: dict, family: str, case: str
) -> None:
    path, hf = models[family]
    ops, edit = STRUCTURAL[case]
    bridge = boot(path)
    ids = ids_for()
    with intervene(bridge, *ops):
        got = logits(bridge, ids)
    want = hand_edited(hf, ids, edit)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert (got - logits(bridge, ids)).abs().max() > 1e-3  # the op changed something


class Zero(nn.Module):
    def __init__(self, attention: bool) -> None:
        super().__init__()
        self.attention = attention

    def forward(self, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> object:
        zeros = torch.zeros_like(hidden_states)
        return (zeros, None) if self.attention else zeros


class Constant(nn.Module):
    def __init__(self, value: torch.Tensor, attention: bool = False) -> None:
        super().__init__()
        self.value, self.attention = value, attention

    def forward(self, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> object:
        out = self.value.to(hidden_states.dtype).expand_as(hidden_states)
        return (out, None) if self.attention else out


class AddConstant(nn.Module):
    """A whole block replaced by x -> x + mean write."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> object:
        return hidden_states + self.value.to(hidden_states.dtype)


def attn_name(layer: nn.Module) -> str:
    return "attn" if hasattr(layer, "attn") else "attention"


def layer_of(hf: nn.Module, index: int) -> nn.Module:
    return getattr(*layer_list(hf))[index]


def replaced(index: int, part: str, module: nn.Module) -> Callable[[list], list]:
    def edit(layers: list[nn.Module]) -> list[nn.Module]:
        setattr(layers[index], attn_name(layers[index]) if part == "attn" else part, module)
        return layers

    return edit


def captured(hf: nn.Module, module_of: Callable, ids: torch.Tensor) -> list[tuple]:
    """(inputs, output) of a module of a clean HF forward, by plain torch hooks."""
    seen: list[tuple] = []
    handle = module_of(hf).register_forward_hook(lambda m, a, o: seen.append((a, o)))
    hf(ids, use_cache=False)
    handle.remove()
    return seen


def test_zero_ablations_match_hand_written_zero_modules(models: dict, family: str) -> None:
    path, hf = models[family]
    bridge = boot(path)
    ids = ids_for(1)
    with intervene(bridge, Ablate(1, "zero", part="attn")):
        attn = logits(bridge, ids)
    with intervene(bridge, Ablate(2, "zero", part="mlp")):
        mlp = logits(bridge, ids)
    torch.testing.assert_close(attn, hand_edited(hf, ids, replaced(1, "attn", Zero(True))))
    torch.testing.assert_close(mlp, hand_edited(hf, ids, replaced(2, "mlp", Zero(False))))


def test_mean_ablation_uses_the_mean_write_over_real_positions(models: dict, family: str) -> None:
    from interplab.robustness.tokens import TokenBatch

    path, hf = models[family]
    bridge = boot(path)
    ids = ids_for(2)
    ref_ids = ids_for(3, batch=3, seq=10)
    mask = torch.ones_like(ref_ids, dtype=torch.bool)
    mask[1, 6:] = False
    mask[2, 3:] = False
    reference = TokenBatch(ref_ids, mask, ("a", "b", "c"))
    # the MLP's write: its output, averaged over the 10 + 6 + 3 real positions
    ((_, out),) = captured(hf, lambda m: layer_of(m, 1).mlp, ref_ids)
    mlp_mean = out.double()[mask].mean(0).float()
    # the whole block's write: output - input
    ((args, block_out),) = captured(hf, lambda m: layer_of(m, 2), ref_ids)
    block_mean = (block_out - args[0]).double()[mask].mean(0).float()
    with intervene(bridge, Ablate(1, "mean", part="mlp", reference=reference)):
        got_mlp = logits(bridge, ids)
    with intervene(bridge, Ablate(2, "mean", part="block", reference=reference)):
        got_block = logits(bridge, ids)
    want_mlp = hand_edited(hf, ids, replaced(1, "mlp", Constant(mlp_mean)))
    want_block = hand_edited(hf, ids, lambda h: [h[0], h[1], AddConstant(block_mean), h[3]])
    torch.testing.assert_close(got_mlp, want_mlp, rtol=0, atol=1e-5)
    torch.testing.assert_close(got_block, want_block, rtol=0, atol=1e-5)


def test_resample_ablation_takes_each_rows_write_from_another_row(
    models: dict, family: str
) -> None:
    path, hf = models[family]
    bridge = boot(path)
    ids = ids_for(4, batch=3)
    ((_, out),) = captured(hf, lambda m: getattr(layer_of(m, 1), attn_name(layer_of(m, 1))), ids)
    writes = out[0]  # [3, T, d] attention output of layer 1
    with intervene(bridge, Ablate(1, "resample", part="attn", seed=7)):
        got = logits(bridge, ids)
    sources = []
    for row in range(3):
        matches = [
            j
            for j in range(3)
            if torch.allclose(
                got[row : row + 1],
                hand_edited(
                    hf, ids[row : row + 1], replaced(1, "attn", Constant(writes[j : j + 1], True))
                ),
                atol=1e-5,
            )
        ]
        assert len(matches) == 1 and matches[0] != row, (row, matches)
        sources.append(matches[0])
    assert sorted(sources) == [0, 1, 2]  # a derangement
    with intervene(bridge, Ablate(1, "resample", part="attn", seed=7)):
        assert torch.equal(logits(bridge, ids), got)  # seeded


def tl_hook_delete(bridge: nn.Module, layer: int, ids: torch.Tensor) -> torch.Tensor:
    zero = lambda tensor, hook: torch.zeros_like(tensor)  # noqa: E731
    hooks = [(f"blocks.{layer}.hook_attn_out", zero), (f"blocks.{layer}.hook_mlp_out", zero)]
    return bridge.run_with_hooks(ids, fwd_hooks=hooks, use_cache=False)


@pytest.mark.parametrize("layer", [0, 2])
def test_deletion_by_removal_equals_zeroing_the_residual_writes(
    models: dict, family: str, layer: int
) -> None:
    bridge = boot(models[family][0])
    ids = ids_for(5)
    with intervene(bridge, Delete(layer)):
        removed = logits(bridge, ids)
    with intervene(bridge, Ablate(layer, "zero")):
        block_zero = logits(bridge, ids)
    with intervene(bridge, Ablate(layer, "zero", part="attn"), Ablate(layer, "zero", part="mlp")):
        parts_zero = logits(bridge, ids)
    hooks_zero = tl_hook_delete(bridge, layer, ids)  # TransformerLens's own hook points
    for other in (block_zero, parts_zero, hooks_zero):
        assert (removed - other).abs().max().item() <= 1e-6


def renamed_state_dict_swap(path: Path, family: str, a: int, b: int) -> nn.Module:
    """The reference's swap: rename ``layers.a.`` <-> ``layers.b.`` keys, load a fresh model."""
    from transformers import AutoModelForCausalLM

    prefix = "transformer.h." if family == "gpt2" else "gpt_neox.layers."
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    state = {}
    for key, value in model.state_dict().items():
        for src, dst in ((a, b), (b, a)):
            if key.startswith(f"{prefix}{src}."):
                key = f"{prefix}{dst}." + key[len(f"{prefix}{src}.") :]
                break
        state[key] = value.clone()  # not a view of the parameter it will be copied into
    model.load_state_dict(state)
    return model


@pytest.mark.parametrize(("a", "b"), [(1, 2), (0, 3)])
def test_module_swap_equals_weight_swap_equals_a_renamed_state_dict(
    models: dict, family: str, a: int, b: int
) -> None:
    path = models[family][0]
    bridge = boot(path)
    ids = ids_for(6)
    with intervene(bridge, Swap(a, b)):
        module = logits(bridge, ids)
    with intervene(bridge, Swap(a, b, mode="weights")):
        weights = logits(bridge, ids)
    reference = renamed_state_dict_swap(path, family, a, b)(ids, use_cache=False).logits
    assert (module - weights).abs().max().item() <= 1e-5
    assert (module - reference).abs().max().item() <= 1e-5


def snapshot(bridge: nn.Module) -> dict:
    hf = bridge.original_model
    return {
        "state": {k: v.clone() for k, v in hf.state_dict().items()},
        "pointers": {k: v.data_ptr() for k, v in hf.state_dict().items()},
        "blocks": list(bridge.blocks),
        "hooks": hooks_of(bridge),
    }


def hooks_of(bridge: nn.Module) -> dict[int, tuple]:
    """Every torch hook of every module (HF installs its own output-capturing hooks lazily)."""
    modules = {id(m): m for m in [*bridge.modules(), *bridge.original_model.modules()]}
    return {
        key: (tuple(m._forward_pre_hooks), tuple(m._forward_hooks)) for key, m in modules.items()
    }


def assert_restored(bridge: nn.Module, before: dict) -> None:
    hf = bridge.original_model
    state = hf.state_dict()
    assert state.keys() == before["state"].keys()
    for key, value in state.items():
        assert torch.equal(value, before["state"][key]), key
        assert value.data_ptr() == before["pointers"][key], key
    assert len(bridge.blocks) == len(before["blocks"])
    assert all(x is y for x, y in zip(bridge.blocks, before["blocks"], strict=True))
    assert getattr(*layer_list(hf)) is bridge.blocks
    assert hooks_of(bridge) == before["hooks"]  # no hook added or removed


RESTORE = {
    "delete": (Delete((0, 2)),),
    "swap-module": (Swap(0, 3),),
    "swap-weights": (Swap(1, 2, mode="weights"),),
    "permute": (Permute((3, 2, 1, 0)),),
    "repeat": (Repeat(2, 3),),
    "ablations": (
        Ablate(0, "zero", part="attn"),
        Ablate(1, "resample", part="mlp"),
        Ablate(2, "mean", part="block", reference=ids_for(9)),
    ),
    "everything": (Repeat(0, 2), Swap(1, 3, mode="weights"), Delete(4), Ablate(2, "zero")),
}


@pytest.mark.parametrize("case", list(RESTORE))
def test_the_model_is_bit_identical_after_the_block(models: dict, family: str, case: str) -> None:
    bridge = boot(models[family][0])
    ids = ids_for(7)
    clean = logits(bridge, ids)
    before = snapshot(bridge)
    with intervene(bridge, *RESTORE[case]) as blocks:
        assert blocks is bridge.blocks
        logits(bridge, ids)
    assert_restored(bridge, before)
    assert torch.equal(logits(bridge, ids), clean)


def test_an_exception_inside_the_block_still_restores(models: dict, family: str) -> None:
    bridge = boot(models[family][0])
    before = snapshot(bridge)
    with (
        pytest.raises(RuntimeError, match="boom"),
        intervene(bridge, Swap(0, 1, mode="weights"), Repeat(1, 2), Ablate(0, "zero", part="mlp")),
    ):
        raise RuntimeError("boom")
    assert_restored(bridge, before)


def test_a_failing_op_undoes_the_ones_before_it(models: dict, family: str) -> None:
    bridge = boot(models[family][0])
    before = snapshot(bridge)
    with (
        pytest.raises(ConfigError, match=r"Swap b=3 is out of range.*holds 3 blocks.*0\.\.2"),
        intervene(bridge, Swap(0, 1, mode="weights"), Delete(1), Swap(0, 3)),
    ):
        pass
    assert_restored(bridge, before)


def test_repeat_refuses_a_forward_that_may_use_the_kv_cache(models: dict, family: str) -> None:
    bridge = boot(models[family][0])
    ids = ids_for(8)
    with intervene(bridge, Repeat(1, 2)):
        with pytest.raises(ConfigError, match=r"use_cache=True under `repeat-L1-x2`"):
            bridge(ids)  # the default: HF's config says use_cache=True
        with pytest.raises(ConfigError, match=r"use_cache=True"):
            bridge(ids, use_cache=True)
        with pytest.raises(ConfigError, match=r"use_cache=True"):
            bridge.original_model(ids)  # also when calling the HF model directly
        allowed = bridge(ids, use_cache=False)
        torch.testing.assert_close(allowed, logits(bridge, ids), rtol=0, atol=0)
    bridge(ids)  # no guard once the block is left


def test_the_guard_also_works_on_a_plain_hf_model(models: dict, family: str) -> None:
    hf = copy.deepcopy(models[family][1])
    ids = ids_for(8)
    with intervene(hf, Repeat(0, 2)):
        with pytest.raises(ConfigError, match=r"use_cache"):
            hf(ids)
        got = logits(hf, ids)
    want = hand_edited(models[family][1], ids, lambda h: [h[0], *h])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_residuals_are_recorded_by_execution_position(models: dict, family: str) -> None:
    path, hf = models[family]
    bridge = boot(path)
    ids = ids_for(10)
    ops = (Swap(1, 2), Repeat(0, 2))  # executes blocks 0 0 2 1 3
    with intervene(bridge, *ops):
        residuals = record_residuals(bridge, ids)
        with ExecutionRecorder(bridge.blocks) as recorder:
            out = logits(bridge, ids)
    assert len(residuals) == 6
    for mine, theirs in zip(residuals, recorder.residuals, strict=True):
        assert torch.equal(mine, theirs)
    model = copy.deepcopy(hf)
    owner, name = layer_list(model)
    setattr(owner, name, nn.ModuleList([getattr(owner, name)[i] for i in (0, 0, 2, 1, 3)]))
    result = model(ids, use_cache=False, output_hidden_states=True)
    for k in range(5):  # entering each executed block (HF's last hidden state is normed)
        torch.testing.assert_close(residuals[k], result.hidden_states[k], rtol=0, atol=1e-5)
    final_norm = owner.ln_f if family == "gpt2" else owner.final_layer_norm
    head = model.get_output_embeddings()
    torch.testing.assert_close(head(final_norm(residuals[-1])), out, rtol=0, atol=1e-5)
    torch.testing.assert_close(result.logits, out, rtol=0, atol=1e-5)


def test_any_residual_model_can_be_edited_without_transformers() -> None:
    class Residual(nn.Module):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 3)
            self.scale = scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.scale * torch.tanh(self.linear(x))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.stages = nn.ModuleList([Residual(s) for s in (1.0, 0.5, 0.25)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for stage in self.stages:
                x = stage(x)
            return x

    net = Net()
    x = torch.randn(2, 4, 3)
    s = net.stages
    with intervene(net, Swap(0, 2), Delete(1), blocks="stages"):
        assert torch.equal(net(x), s[1](s[0](x)))  # list is [2, 0] -> order 2 then 0
    with intervene(net, Ablate(1, "zero"), blocks="stages"):
        assert torch.equal(net(x), s[2](s[0](x)))
    assert list(net.stages) == list(s) and torch.equal(net(x), s[2](s[1](s[0](x))))
    with pytest.raises(ConfigError, match=r"no nn.ModuleList of blocks at 'layers'"):
        find_blocks(net, "layers")


def test_bad_indices_and_arguments_are_clear_errors(models: dict) -> None:
    bridge = boot(models["gpt2"][0])
    with (
        pytest.raises(ConfigError, match=r"Delete layer=9 is out of range.*4 blocks.*0\.\.3"),
        intervene(bridge, Delete(9)),
    ):
        pass
    with (
        pytest.raises(ConfigError, match=r"Repeat layer=4 is out of range.*0\.\.3"),
        intervene(bridge, Repeat(4)),
    ):
        pass
    with (
        pytest.raises(ConfigError, match=r"Ablate layer=5 is out of range"),
        intervene(bridge, Ablate(5)),
    ):
        pass
    with pytest.raises(ConfigError, match=r"Swap\(2, 2\) swaps layer 2 with itself"):
        Swap(2, 2)
    with pytest.raises(ConfigError, match=r"Delete layer=-1 is negative"):
        Delete(-1)
    with pytest.raises(ConfigError, match=r"names a layer twice"):
        Delete((1, 1))
    with pytest.raises(ConfigError, match=r"times=1 must be an int >= 2"):
        Repeat(0, 1)
    with pytest.raises(ConfigError, match=r"Delete layer=1\.0 must be an int block index"):
        Delete(1.0)  # type: ignore[arg-type]
    order = np.argsort([3, 2, 1, 0])  # numpy integers, e.g. from argsort, are block indices
    assert Permute(order).order == (3, 2, 1, 0) and type(Permute(order).order[0]) is int
    assert Swap(np.int64(1), np.int64(2)) == Swap(1, 2) and type(Swap(np.int64(1), 2).a) is int
    assert Delete(np.int64(2)) == Delete(2) and Repeat(np.int32(1)).layer == 1
    before = list(bridge.blocks)
    with intervene(bridge, Permute(order)):
        assert list(bridge.blocks) == before[::-1]
    with (
        pytest.raises(ConfigError, match=r"not a permutation of the 4 blocks.*missing \[3\]"),
        intervene(bridge, Permute((0, 1, 2, 2))),
    ):
        pass
    with pytest.raises(ConfigError, match=r"needs reference="):
        Ablate(0, "mean")
    with pytest.raises(ConfigError, match=r"method='half'"):
        Ablate(0, "half")  # type: ignore[arg-type]
    with (
        pytest.raises(ConfigError, match=r"part='norm'.*children are"),
        intervene(bridge, Ablate(0, part="norm")),
    ):
        pass
    with (
        pytest.raises(ConfigError, match=r"batch holds 1"),
        intervene(bridge, Ablate(0, "resample", part="attn")),
    ):
        logits(bridge, ids_for(batch=1))
    with (
        pytest.raises(ConfigError, match=r"hold the same module object"),
        intervene(bridge, Repeat(0, 2), Swap(0, 1, mode="weights")),
    ):
        pass
    vocab, n_ctx = int(bridge.cfg.d_vocab), int(bridge.cfg.n_ctx)
    bad_references = {
        r"has no real token position": torch.zeros((0, 5), dtype=torch.long),
        rf"token id {vocab} is outside the model's vocabulary": torch.full((2, 5), vocab),
        rf"rows of {n_ctx + 1} tokens exceed the model's context": torch.zeros((1, n_ctx + 1),
                                                                              dtype=torch.long),
    }  # fmt: skip
    for message, reference in bad_references.items():
        with (
            pytest.raises(ConfigError, match=message),
            intervene(bridge, Ablate(1, "mean", reference=reference)),
        ):
            pass
    with pytest.raises(ConfigError, match=r"intervene\(\) got 3"), intervene(bridge, 3):  # type: ignore[arg-type]
        pass
    assert len(bridge.blocks) == 4 and all(not b._forward_pre_hooks for b in bridge.blocks)
