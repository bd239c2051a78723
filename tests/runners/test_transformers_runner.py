"""The transformers runner on tiny Qwen2 checkpoints built in the test (no hub)."""

from __future__ import annotations

import pytest

from configspec.errors import ConfigspecError
from configspec.runners import open_runner
from configspec.speculative import DecodeConfig, SpeculativeDecoder, target_only
from tests.runners.contract import RunnerContract
from tests.runners.tiny_models import build_pair

TEXT = "thequickbrownfoxjumpsoverthelazydog."


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    return build_pair(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_target(tiny_dirs):
    runner = open_runner("transformers", tiny_dirs[0], threads=1, n_ctx=256, n_seq_max=4)
    yield runner
    runner.close()


class TestTransformersRunner(RunnerContract):
    logits_atol = 1e-4  # float32 on CPU: only summation order differs between call shapes

    @pytest.fixture
    def runner(self, tiny_target):
        tiny_target.reset()
        return tiny_target

    @pytest.fixture
    def text(self):
        return TEXT


def test_backend_identity(tiny_target):
    assert tiny_target.backend == "transformers"
    assert "torch" in tiny_target.backend_version
    assert tiny_target.n_vocab == 48
    assert tiny_target.max_sequences == 4


def test_chat_template_and_stop_tokens(tiny_target):
    text = tiny_target.chat_prompt([{"role": "user", "content": "hi"}])
    assert text == "u:hi\na:"
    assert tiny_target.tokenize("!", add_special=False)[0] in tiny_target.stop_tokens()


def test_not_a_model_is_a_configspec_error(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(ConfigspecError, match="neither a transformers checkpoint"):
        open_runner("transformers", tmp_path / "weights.bin", threads=1)
    with pytest.raises(ConfigspecError, match="could not load"):
        open_runner("transformers", tmp_path, threads=1)  # a folder without a checkpoint


def test_unknown_backend_names_the_available_ones(tmp_path):
    with pytest.raises(ConfigspecError, match="llama_cpp, transformers"):
        open_runner("onnx", tmp_path, threads=1)


def test_decoder_on_the_tiny_pair_equals_target_greedy(tiny_dirs, tiny_target):
    draft = open_runner("transformers", tiny_dirs[1], threads=1, n_ctx=256)
    try:
        prompt = tiny_target.tokenize("onceuponatime")
        reference = target_only(tiny_target, prompt, 40)
        for k in (1, 3, 6):
            result = SpeculativeDecoder(draft, tiny_target).generate(
                prompt, DecodeConfig(k=k, max_new_tokens=40)
            )
            assert result.tokens == reference
            assert result.metrics().num_accepted_tokens > 0  # the draft does help
        sampled = SpeculativeDecoder(draft, tiny_target).generate(
            prompt, DecodeConfig(k=3, temperature=0.7, seed=1, max_new_tokens=30)
        )
        assert len(sampled.tokens) == 30
    finally:
        draft.close()


def test_the_registry_dtype_is_the_one_loaded(tiny_dirs):
    import torch

    bf16 = open_runner("transformers", tiny_dirs[0], threads=1, n_ctx=64, quant="BF16")
    assert bf16.precision == "BF16"
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}
    bf16.close()
    default = open_runner("transformers", tiny_dirs[0], threads=1, n_ctx=64)
    assert default.precision == "F32"
    default.close()
