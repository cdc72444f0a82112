"""Models whose forward loops over ``layers[: config.num_hidden_layers]`` (Llama, Phi, Qwen2).

Repeating a block lengthens the list past the configured depth: the forward must still run the
whole edited list, and the sweep's two modes must agree on it.
"""

import copy
from pathlib import Path

import pytest
import torch
from robustness_helpers import boot, build_tokenizer, toy_corpus
from torch import nn

from interplab.core.errors import ConfigError
from interplab.robustness import layer_sweep, load_tokens
from interplab.robustness.interventions import Ablate, Delete, Repeat, intervene, logits

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2:
                param.mul_(5)  # peaked attention and logits, so a skipped block shows
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def hand_edited(hf: nn.Module, ids: torch.Tensor, order: list[int]) -> torch.Tensor:
    """Logits of a copy whose layer list is ``order`` and whose configured depth matches it."""
    model = copy.deepcopy(hf)
    layers = list(model.model.layers)
    model.model.layers = nn.ModuleList([layers[i] for i in order])
    model.config.num_hidden_layers = len(order)
    return model(ids, use_cache=False).logits


def test_the_hf_forward_really_slices_by_the_configured_depth(llama_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(llama_dir).eval()
    ids = torch.randint(300, (2, 10), generator=torch.Generator().manual_seed(0))
    unbumped = copy.deepcopy(hf)
    layers = list(unbumped.model.layers)
    unbumped.model.layers = nn.ModuleList([layers[0], layers[1], layers[1], layers[2]])
    skipped = unbumped(ids, use_cache=False).logits  # the last block never runs
    assert not torch.allclose(skipped, hand_edited(hf, ids, [0, 1, 1, 2]), atol=1e-3)


def test_repeat_runs_every_block_of_the_edited_list(llama_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(llama_dir).eval()
    bridge = boot(llama_dir)
    ids = torch.randint(300, (2, 10), generator=torch.Generator().manual_seed(1))
    for ops, order in (
        ((Repeat(0, 2),), [0, 0, 1, 2]),
        ((Repeat(2, 3),), [0, 1, 2, 2, 2]),
        ((Delete(1), Repeat(1, 2)), [0, 2, 2]),
    ):
        with intervene(bridge, *ops):
            got = logits(bridge, ids)
        torch.testing.assert_close(got, hand_edited(hf, ids, order), rtol=0, atol=2e-5)
    assert bridge.original_model.config.num_hidden_layers == 3  # put back


def test_repeat_sweep_is_the_same_with_and_without_prefix_reuse(llama_dir: Path) -> None:
    bridge = boot(llama_dir)
    tokens = load_tokens(toy_corpus(4), bridge, token_budget=120, seq_len=30, batch_size=2)
    kinds = ("delete", "swap", "repeat")
    reused = layer_sweep(bridge, tokens, kinds, n_bootstrap=5)
    full = layer_sweep(bridge, tokens, kinds, prefix_reuse=False, n_bootstrap=5)
    assert list(reused["intervention"]) == list(full["intervention"])
    for column in ("kl", "top1_agreement", "loss_delta"):
        assert reused[column].tolist() == full[column].tolist(), column
    assert (reused.loc[reused["kind"] == "repeat", "kl"] > 0).all()


def test_ablating_a_repeated_block_is_refused(llama_dir: Path) -> None:
    bridge = boot(llama_dir)
    with (
        pytest.raises(ConfigError, match=r"block 1 appears 2 times"),
        intervene(bridge, Repeat(1, 2), Ablate(1, "zero")),
    ):
        pass
    for part in ("block", "mlp"):  # the other order: the hook would ablate both copies too
        with (
            pytest.raises(ConfigError, match=r"block 1 carries an Ablate from an earlier op"),
            intervene(bridge, Ablate(1, "zero", part=part), Repeat(1, 2)),
        ):
            pass
    ids = torch.randint(300, (1, 8), generator=torch.Generator().manual_seed(2))
    clean = logits(bridge, ids)
    with intervene(bridge, Repeat(1, 2), Ablate(0, "zero")):  # another block: fine
        logits(bridge, ids)
    with intervene(bridge, Ablate(0, "zero"), Repeat(1, 2)):
        logits(bridge, ids)
    with intervene(bridge, Ablate(1, "zero")):  # undone: block 1 may be repeated afterwards
        pass
    with intervene(bridge, Repeat(1, 2)):
        assert not torch.equal(logits(bridge, ids), clean)
    assert torch.equal(logits(bridge, ids), clean)
