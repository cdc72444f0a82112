"""load_model: folders and zoo names boot as TransformerBridges; bad names get clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from interplab.core.errors import ConfigError
from interplab.robustness import ZOO, load_model


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("INTERPLAB_HOME", str(tmp_path / "home"))


def hf_logits(folder: Path, tokens: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        return model(tokens, use_cache=False).logits


@pytest.mark.parametrize("family", ["gpt2", "neox"])
def test_a_saved_folder_loads_in_eval_mode_with_the_hf_models_logits(
    family: str, request: pytest.FixtureRequest
) -> None:
    folder: Path = request.getfixturevalue(f"tiny_{family}_dir")
    bridge = load_model(folder, device="cpu")
    assert not bridge.training and bridge.cfg.n_layers == 4
    assert bridge.cfg.model_name == str(folder)
    tokens = bridge.to_tokens("def alpha(value):\n    return value + 3\n", prepend_bos=True)
    assert tokens[0, 0].item() == 0  # <|endoftext|> is BOS
    with torch.no_grad():
        ours = bridge(tokens)
    expected = hf_logits(folder, tokens)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_dtype_is_applied(tiny_gpt2_dir: Path) -> None:
    bridge = load_model(str(tiny_gpt2_dir), device="cpu", dtype="float64")
    assert {p.dtype for p in bridge.parameters()} == {torch.float64}
    tokens = bridge.to_tokens("class Beta:", prepend_bos=True)
    with torch.no_grad():
        expected = hf_logits(tiny_gpt2_dir, tokens).double()
        torch.testing.assert_close(bridge(tokens), expected, atol=1e-4, rtol=1e-4)


def test_weights_come_from_safetensors_when_a_pickle_sits_beside_them(
    tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from safetensors.torch import load_file

    folder = tmp_path / "both"
    shutil.copytree(tiny_gpt2_dir, folder)
    state = load_file(folder / "model.safetensors")
    torch.save({k: torch.zeros_like(v) for k, v in state.items()}, folder / "pytorch_model.bin")
    bridge = load_model(folder, device="cpu")
    wte = bridge.original_model.transformer.wte.weight
    torch.testing.assert_close(wte, state["transformer.wte.weight"])


def test_a_folder_with_only_pickled_weights_is_refused(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_gpt2_dir / "config.json").read_text())
    torch.save(load_file(tiny_gpt2_dir / "model.safetensors"), folder / "pytorch_model.bin")
    with pytest.raises(ConfigError, match=r"no safetensors weights \(it has pytorch_model.bin\)"):
        load_model(folder, device="cpu")


def test_an_unsupported_architecture_names_itself_and_the_supported_ones(tmp_path: Path) -> None:
    from transformer_lens.factories.architecture_adapter_factory import SUPPORTED_ARCHITECTURES
    from transformers import BioGptConfig, BioGptForCausalLM

    assert "BioGptForCausalLM" not in SUPPORTED_ARCHITECTURES
    config = BioGptConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    BioGptForCausalLM(config).save_pretrained(tmp_path / "biogpt")
    with pytest.raises(ConfigError) as caught:
        load_model(tmp_path / "biogpt", device="cpu")
    message = str(caught.value)
    assert "BioGptForCausalLM" in message and "does not support" in message
    assert "GPT2LMHeadModel" in message and "GPTNeoXForCausalLM" in message


def test_a_masked_language_model_is_refused(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    BertForMaskedLM(config).save_pretrained(tmp_path / "bert")
    with pytest.raises(ConfigError, match=r"is a BertForMaskedLM, not a causal language model"):
        load_model(tmp_path / "bert", device="cpu")


def test_missing_paths_files_and_config_less_folders_are_named(
    tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    for missing in ("./no/such/folder", "no/such/folder", "~/no-such-folder"):
        with pytest.raises(ConfigError, match="does not exist"):
            load_model(missing)
    with pytest.raises(ConfigError, match="is a file"):
        load_model(tiny_gpt2_dir / "config.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        load_model(tmp_path / "empty")


def test_a_hub_id_in_the_local_hub_cache_loads_offline(
    tiny_neox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from huggingface_hub import constants

    commit = "0" * 40
    repo = tmp_path / "hub" / "models--interplab--tiny-neox"
    shutil.copytree(tiny_neox_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    bridge = load_model("interplab/tiny-neox", device="cpu")
    assert bridge.cfg.model_name == "interplab/tiny-neox"
    tokens = bridge.to_tokens("class Gamma:", prepend_bos=True)
    with torch.no_grad():
        torch.testing.assert_close(bridge(tokens), hf_logits(tiny_neox_dir, tokens))
    with pytest.raises(ConfigError, match="'interplab/tiny-gpt2': it is not a zoo name"):
        load_model("interplab/tiny-gpt2", device="cpu")


def test_unknown_zoo_names_list_the_zoo() -> None:
    with pytest.raises(ConfigError) as caught:
        load_model("zoo:gpt2-3l")
    message = str(caught.value)
    assert "'zoo:gpt2-3l' is not a zoo model" in message and "Did you mean" in message
    assert all(name in message for name in ZOO)


def test_a_name_that_is_nothing_local_and_not_on_the_offline_hub_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        load_model("gpt2-4l")  # a zoo name without its prefix
    message = str(caught.value)
    assert "not a zoo name" in message and "zoo:neox-12l" in message
    assert "Hugging Face hub (HF_HUB_OFFLINE is set)" in message
    assert "Did you mean 'zoo:gpt2-4l'?" in message


def test_importing_the_loaders_and_the_analysis_imports_nothing_heavy() -> None:
    code = (
        "import sys, interplab.robustness as r, interplab.robustness.models, "
        "interplab.robustness.zoo, interplab.robustness.analyses.train_zoo; "
        "assert r.ZOO['gpt2-4l'].n_layers == 4; "
        "heavy = [m for m in ('torch', 'transformers', 'transformer_lens', 'numpy') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_neox_folder_boots_with_parallel_residual_blocks(tiny_neox_dir: Path) -> None:
    config = json.loads((tiny_neox_dir / "config.json").read_text())
    assert config["use_parallel_residual"] is True
    bridge = load_model(tiny_neox_dir, device="cpu")
    assert type(bridge.blocks[0]).__name__ == "ParallelBlockBridge"


def test_loading_a_folder_draws_no_transformers_bar_and_keeps_its_setting(
    tiny_gpt2_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    load_model(tiny_gpt2_dir, device="cpu")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # restored for the user's own calls


def test_a_llama_folder_without_tokenizer_says_to_save_one(tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2,
        num_key_value_heads=2, vocab_size=300, max_position_embeddings=32,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(tmp_path / "llama")
    with pytest.raises(
        ConfigError, match=r"it has no tokenizer files .* tokenizer\.save_pretrained"
    ):
        load_model(tmp_path / "llama", device="cpu")
