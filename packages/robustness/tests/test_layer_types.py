"""Models with per-layer attention types (``config.layer_types``: Gemma2, Qwen2 sliding windows).

Their Hugging Face forwards pick layer ``i``'s mask (sliding window or full) by list position,
``config.layer_types[i]``. Under an intervention every block must keep its own type: the
reference is the HF model with its layer list *and* ``config.layer_types`` edited the same way.
"""

import copy
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from robustness_helpers import build_tokenizer, toy_corpus
from torch import nn

from interplab.robustness import layer_sweep, load_tokens
from interplab.robustness.interventions import (
    Delete,
    Intervention,
    Permute,
    Repeat,
    Swap,
    intervene,
    logits,
)
from interplab.robustness.models import load_model

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")
SLIDING, FULL = "sliding_attention", "full_attention"


def save(path: Path, model: nn.Module, tokenizer) -> Path:
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2:
                param.mul_(4)  # peaked attention, so the window's cut shows in the logits
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def gemma2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import Gemma2Config, Gemma2ForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = Gemma2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=6,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=4,
        layer_types=[SLIDING, FULL] * 3, max_position_embeddings=64,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return save(tmp_path_factory.mktemp("tiny-gemma2"), Gemma2ForCausalLM(config), tokenizer)


@pytest.fixture(scope="module")
def qwen2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(1)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
        num_attention_heads=2, num_key_value_heads=1, use_sliding_window=True, sliding_window=4,
        layer_types=[FULL, SLIDING, SLIDING, FULL], max_position_embeddings=64,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return save(tmp_path_factory.mktemp("tiny-qwen2"), Qwen2ForCausalLM(config), tokenizer)


@pytest.fixture(scope="module")
def models(gemma2_dir: Path, qwen2_dir: Path) -> dict[str, tuple[nn.Module, nn.Module]]:
    """family -> (bridge, a separately loaded HF model with the bridge's attention backend)."""
    from transformers import AutoModelForCausalLM

    out = {}
    for family, path in (("gemma2", gemma2_dir), ("qwen2", qwen2_dir)):
        bridge = load_model(path, device="cpu", dtype="float32")
        attn = bridge.original_model.config._attn_implementation
        hf = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attn).eval()
        out[family] = (bridge, hf)
    return out


def hf_config(bridge: nn.Module):
    """The config the HF forward reads (``bridge.original_model.model.config``)."""
    return bridge.original_model.model.config


def hand_edited(hf: nn.Module, ids: torch.Tensor, order: list[int], types: bool = True):
    """Logits of a copy whose layers (and, if ``types``, ``config.layer_types``) are ``order``."""
    model = copy.deepcopy(hf)
    layers = list(model.model.layers)
    model.model.layers = nn.ModuleList([layers[i] for i in order])
    if types:
        model.config.layer_types = [model.config.layer_types[i] for i in order]
    model.config.num_hidden_layers = len(order)
    return model(ids, use_cache=False).logits


def ids_for(seed: int = 0, seq: int = 24) -> torch.Tensor:
    return torch.randint(300, (2, seq), generator=torch.Generator().manual_seed(seed))


Case = tuple[Callable[[int], tuple[Intervention, ...]], Callable[[int], list[int]]]
CASES: dict[str, Case] = {  # name -> (ops for n blocks, the edited order of the n blocks)
    "delete-1": (lambda n: (Delete(1),), lambda n: [i for i in range(n) if i != 1]),
    "delete-0-2": (lambda n: (Delete((0, 2)),), lambda n: [i for i in range(n) if i not in (0, 2)]),
    "swap-0-1": (lambda n: (Swap(0, 1),), lambda n: [1, 0, *range(2, n)]),
    "swap-1-3": (lambda n: (Swap(1, 3),), lambda n: [0, 3, 2, 1, *range(4, n)]),
    "permute": (
        lambda n: (Permute((3, 0, 2, 1, *range(4, n))),),
        lambda n: [3, 0, 2, 1, *range(4, n)],
    ),
    "repeat-1": (lambda n: (Repeat(1, 2),), lambda n: [0, 1, 1, *range(2, n)]),
    "repeat-3-x3": (lambda n: (Repeat(3, 3),), lambda n: [0, 1, 2, 3, 3, 3, *range(4, n)]),
    # [1 0 2 3 ..] -> [1 0 3 ..] -> [1 1 0 3 ..]
    "composed": (
        lambda n: (Swap(0, 1), Delete(2), Repeat(0, 2)),
        lambda n: [1, 1, 0, *range(3, n)],
    ),
}


@pytest.mark.parametrize("family", ["gemma2", "qwen2"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_block_keeps_its_own_attention_type(models: dict, family: str, case: str) -> None:
    bridge, hf = models[family]
    n = len(bridge.blocks)
    config = hf_config(bridge)
    types, depth = config.layer_types, config.num_hidden_layers
    ids = ids_for(1)
    ops, order = CASES[case]
    with intervene(bridge, *ops(n)):
        got = logits(bridge, ids)
        assert config.layer_types is types  # put back after the forward
    want = hand_edited(hf, ids, order(n))
    torch.testing.assert_close(got, want, rtol=0, atol=2e-5)
    assert config.layer_types is types and config.layer_types == hf.config.layer_types
    assert config.num_hidden_layers == depth


@pytest.mark.parametrize("family", ["gemma2", "qwen2"])
def test_the_reference_is_sensitive_to_the_types(models: dict, family: str) -> None:
    """The slot-typed forward (the bug) gives other logits than each block with its own type."""
    _, hf = models[family]
    ids = ids_for(2)
    order = [1, 0, *range(2, len(hf.model.layers))]
    slot_typed = hand_edited(hf, ids, order, types=False)
    assert not torch.allclose(slot_typed, hand_edited(hf, ids, order), atol=1e-3)


def test_weight_swap_keeps_the_slot_types_like_a_renamed_state_dict(models: dict) -> None:
    bridge, hf = models["gemma2"]
    ids = ids_for(3)
    renamed = copy.deepcopy(hf)
    state = {k: v.clone() for k, v in renamed.state_dict().items()}  # no aliasing on load
    one, two = "model.layers.1.", "model.layers.2."
    swapped = {
        (two + k[len(one) :] if k.startswith(one) else one + k[len(two) :])
        if k.startswith((one, two))
        else k: v
        for k, v in state.items()
    }
    renamed.load_state_dict(swapped)
    with intervene(bridge, Swap(1, 2, mode="weights")):
        got = logits(bridge, ids)
    torch.testing.assert_close(got, renamed(ids, use_cache=False).logits, rtol=0, atol=2e-5)


def test_nested_interventions_use_the_types_of_the_unedited_list(models: dict) -> None:
    bridge, hf = models["gemma2"]
    ids = ids_for(4)
    types = hf_config(bridge).layer_types
    with intervene(bridge, Delete(1)), intervene(bridge, Swap(0, 1)):  # [0 2 3 4 5] -> [2 0 ..]
        got = logits(bridge, ids)
    torch.testing.assert_close(got, hand_edited(hf, ids, [2, 0, 3, 4, 5]), rtol=0, atol=2e-5)
    assert hf_config(bridge).layer_types is types


def test_a_kv_cache_under_a_deletion_is_typed_by_layer_index(models: dict) -> None:
    bridge, _ = models["gemma2"]
    hf = bridge.original_model
    ids = ids_for(5, seq=21)
    for op in (Delete(1), Swap(0, 1)):
        with intervene(bridge, op):
            full = hf(ids, use_cache=False).logits
            cached = hf(ids, use_cache=True)  # the cache the forward builds has all 6 layers
            torch.testing.assert_close(cached.logits, full, rtol=0, atol=1e-5)
            prefix = hf(ids[:, :-1], use_cache=True).past_key_values
            step = hf(ids[:, -1:], past_key_values=prefix, use_cache=True).logits
            torch.testing.assert_close(step[:, -1], full[:, -1], rtol=0, atol=1e-5)


def test_the_config_is_restored_after_repeats_and_exceptions(models: dict) -> None:
    bridge, _ = models["qwen2"]
    config = hf_config(bridge)
    types, copied, depth = config.layer_types, list(config.layer_types), config.num_hidden_layers
    tl_types = list(bridge.cfg.layer_types) if hasattr(bridge.cfg, "layer_types") else None
    ids = ids_for(6)
    with intervene(bridge, Repeat(3, 3)):  # used to be an IndexError at layer_types[i]
        logits(bridge, ids)
    with pytest.raises(RuntimeError, match="inside"), intervene(bridge, Swap(0, 3), Repeat(1)):
        logits(bridge, ids)
        raise RuntimeError("inside the block")

    def fail(*args: object) -> None:
        raise RuntimeError("inside the forward")

    with intervene(bridge, Permute((3, 2, 1, 0))):
        handle = bridge.blocks[2].register_forward_pre_hook(fail)
        try:
            with pytest.raises(RuntimeError, match="inside the forward"):
                logits(bridge, ids)
        finally:
            handle.remove()
        # put back as soon as the failed forward ended, not only when the block ends
        assert config.layer_types is types and config.num_hidden_layers == depth
    assert config.layer_types is types and config.layer_types == copied
    assert config.num_hidden_layers == depth
    if tl_types is not None:  # the TransformerLens cfg (indexed by layer_idx) is left alone
        assert bridge.cfg.layer_types == tl_types


def test_sweep_numbers_are_the_same_with_and_without_prefix_reuse(models: dict) -> None:
    bridge, _ = models["gemma2"]
    tokens = load_tokens(toy_corpus(6), bridge, token_budget=120, seq_len=30, batch_size=2)
    kinds = ("delete", "swap", "repeat")
    reused = layer_sweep(bridge, tokens, kinds, n_bootstrap=5)
    full = layer_sweep(bridge, tokens, kinds, prefix_reuse=False, n_bootstrap=5)
    pd.testing.assert_frame_equal(reused, full, check_exact=False, rtol=0, atol=1e-6)
    assert (full["kl"] > 0).all()
    types = hf_config(bridge).layer_types
    assert types == [SLIDING, FULL] * 3


def test_repeat_sweep_runs_on_qwen2_in_both_modes(models: dict) -> None:
    bridge, _ = models["qwen2"]
    tokens = load_tokens(toy_corpus(4), bridge, token_budget=80, seq_len=30, batch_size=2)
    reused = layer_sweep(bridge, tokens, ("repeat",), n_bootstrap=5)
    full = layer_sweep(bridge, tokens, ("repeat",), prefix_reuse=False, n_bootstrap=5)
    pd.testing.assert_frame_equal(reused, full, check_exact=False, rtol=0, atol=1e-6)
