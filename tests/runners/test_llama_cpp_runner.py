"""The llama.cpp runner on the demo draft: the runner contract, batched sequences included."""

from __future__ import annotations

import pytest

from configspec.runners.llama_cpp import LlamaCppRunner
from tests.runners.contract import RunnerContract

pytestmark = pytest.mark.real_model

TEXT = "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n"


@pytest.fixture(scope="module")
def demo_runner(demo_draft_path, test_threads):
    runner = LlamaCppRunner(demo_draft_path, threads=test_threads, n_ctx=128, n_seq_max=4)
    yield runner
    runner.close()


class TestLlamaCppRunner(RunnerContract):
    # Q4_K_M CPU kernels take other paths for other batch shapes: logits move by a few tenths,
    # the argmax must not.
    logits_atol = 1.0

    @pytest.fixture
    def runner(self, demo_runner):
        demo_runner.reset()
        return demo_runner

    @pytest.fixture
    def text(self):
        return TEXT


def test_sequences_live_in_their_own_kv_streams(demo_runner):
    import llama_cpp

    demo_runner.reset()
    demo_runner.forward(demo_runner.tokenize(TEXT)[:6])
    demo_runner.share_prefix(3)
    mem = llama_cpp.llama_get_memory(demo_runner.ctx)
    assert [llama_cpp.llama_memory_seq_pos_max(mem, s) for s in range(4)] == [5, 5, 5, -1]
    demo_runner.share_prefix(2)  # shrinking drops the sequences no longer used
    assert [llama_cpp.llama_memory_seq_pos_max(mem, s) for s in range(4)] == [5, 5, -1, -1]
    demo_runner.rollback(3)
    assert [llama_cpp.llama_memory_seq_pos_max(mem, s) for s in range(4)] == [2, 2, -1, -1]
    assert llama_cpp.llama_n_ctx_seq(demo_runner.ctx) >= 128  # per sequence (llama.cpp pads)


def test_single_sequence_runner_does_not_batch(demo_draft_path, test_threads):
    runner = LlamaCppRunner(demo_draft_path, threads=test_threads, n_ctx=64)
    try:
        assert runner.max_sequences == 1
        with pytest.raises(ValueError):
            runner.share_prefix(2)
    finally:
        runner.close()
