"""The transformers runner on tiny Qwen2 checkpoints built in the test (no hub)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from configspec.errors import ConfigspecError
from configspec.runners import open_runner
from configspec.runners.base import SequenceTokens
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


@pytest.fixture
def served(tiny_dirs):
    runner = open_runner("transformers", tiny_dirs[0], threads=1, n_ctx=256)
    runner.open_sequences(3, 64)
    yield runner
    runner.close()


def _alone(runner, tokens):
    """Every logit row of `tokens` decoded by forward() on a fresh cache (one sequence)."""
    runner.reset()
    return runner.forward(tokens, all_logits=True)


def test_sessions_at_their_own_positions_verify_in_one_call_as_each_would_alone(tiny_dirs, served):
    """`configspec serve` on the transformers backend: sessions at different positions share one
    padded forward call, and each gets the logits it would get alone (the pads are masked)."""
    a, b, c = (served.tokenize(t) for t in ("thequickbrown", "foxjumps", "overthelazydog"))
    calls = []
    forward = served.model.forward
    served.model.forward = lambda *args, **kw: calls.append(1) or forward(*args, **kw)
    prefill = served.decode_sequences([SequenceTokens(0, 0, a[:-3]), SequenceTokens(1, 0, b[:-2])])
    assert prefill == [None, None]
    rows = served.decode_sequences([
        SequenceTokens(0, len(a) - 3, a[-3:], logits_from=0),
        SequenceTokens(1, len(b) - 2, b[-2:], logits_from=1),
        SequenceTokens(2, 0, c, logits_from=0),
    ])  # fmt: skip
    assert len(calls) == 2  # one forward call per decode_sequences
    served.model.forward = forward
    reference = open_runner("transformers", tiny_dirs[0], threads=1, n_ctx=256)
    try:
        np.testing.assert_allclose(rows[0], _alone(reference, a)[-3:], atol=1e-4)
        np.testing.assert_allclose(rows[1], _alone(reference, b)[-1:], atol=1e-4)
        np.testing.assert_allclose(rows[2], _alone(reference, c), atol=1e-4)
        # a rejected draft: forget its positions, the next round continues exactly
        served.forget(0, len(a) - 2)
        again = served.decode_sequences([SequenceTokens(0, len(a) - 2, b[:2], logits_from=0)])
        expected = _alone(reference, a[:-2] + b[:2])[-2:]
        np.testing.assert_allclose(again[0], expected, atol=1e-4)
        served.forget(1)  # a closed session frees its sequence: it starts again at 0
        fresh = served.decode_sequences([SequenceTokens(1, 0, c, logits_from=0)])
        np.testing.assert_allclose(fresh[0], _alone(reference, c), atol=1e-4)
    finally:
        reference.close()


def test_served_sequences_refuse_overflow_and_a_gap(served):
    with pytest.raises(ConfigspecError, match="context of 64 tokens exceeded"):
        served.decode_sequences([SequenceTokens(0, 60, [1] * 5)])
    with pytest.raises(ValueError, match="holds 0 positions, not 3"):
        served.decode_sequences([SequenceTokens(0, 3, [1])])
    served.decode_sequences([SequenceTokens(0, 0, [1, 2, 3])])
    with pytest.raises(ConfigspecError, match="exceeded"):  # refused whole: sequence 0 is kept
        served.decode_sequences([SequenceTokens(0, 1, [4]), SequenceTokens(1, 60, [1] * 5)])
    assert served._served_length(0) == 3


def test_the_engine_serves_the_transformers_target_losslessly(tiny_dirs):
    """A session driven through the real VerifyEngine on the tiny transformers target commits
    the target's own greedy text, drafts spoilt now and then."""
    from configspec.serving.engine import RoundJob, VerifyEngine

    target = open_runner("transformers", tiny_dirs[0], threads=1, n_ctx=256)
    reference_runner = open_runner("transformers", tiny_dirs[0], threads=1, n_ctx=256)
    engine = VerifyEngine(target, 2, 128, 2, 0.01, prefill_chunk_tokens=4)
    engine.start()
    try:
        prompt = target.tokenize("onceuponatime")
        reference = target_only(reference_runner, prompt, 24)
        opened, errors = threading.Event(), []
        session = engine.open(prompt, 0.0, 0, len(prompt) + 24 + 5, lambda o: opened.set(),
                              errors.append)  # fmt: skip
        assert opened.wait(30), errors
        committed, out, index = [prompt[-1]], [], 0
        while len(out) < 24:
            drafted = reference[len(out) : len(out) + 3]
            if index % 2 and drafted:
                drafted = [*drafted[:-1], (drafted[-1] + 1) % target.n_vocab]
            done, box = threading.Event(), []
            engine.submit(RoundJob(session, index, committed, drafted, [None] * len(drafted),
                                   time.perf_counter(), lambda r, b=box, d=done: (b.append(r), d.set())))  # fmt: skip
            assert done.wait(30), errors
            out += drafted[: box[0].accepted] + [box[0].token]
            committed, index = [box[0].token], index + 1
        assert out[:24] == reference
    finally:
        engine.stop()
        target.close()
        reference_runner.close()


def test_serve_loads_a_transformers_target_from_the_registry(tiny_dirs, tmp_path):
    """`configspec serve` on a models.yaml whose target is a transformers checkpoint: the default
    engine opens it in process, in the registry's dtype, with room for the sessions."""
    from configspec.serving.server import ServeOptions, load_target

    registry = tmp_path / "models.yaml"
    registry.write_text(
        "schema_version: 1\nmodels:\n  - name: tiny\n    role: target\n    family: tiny\n"
        f"    backend: transformers\n    source: {{path: {tiny_dirs[0]}}}\n    quant: BF16\n"
        "    quantizations: [BF16]\n"
    )
    runner, info, quant, _, close = load_target(ServeOptions(models=registry, threads=1))
    try:
        assert (runner.backend, runner.precision, quant) == ("transformers", "BF16", "BF16")
        assert (info.name, info.family, info.n_vocab) == ("tiny", "tiny", 48)
        runner.open_sequences(2, 32)
        (rows,) = runner.decode_sequences([SequenceTokens(0, 0, [1, 2, 3], logits_from=2)])
        assert rows.shape == (1, 48)
    finally:
        close()
