"""The decoder on the demo pair (llama.cpp): target-greedy output and the trace walk's rounds."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.speculative import DecodeConfig, SpeculativeDecoder, target_only
from configspec.speculative.validation import compare_greedy

pytestmark = pytest.mark.real_model

PROMPT = "def is_prime(n: int) -> bool:\n    "


def test_greedy_decoder_on_the_demo_pair(demo_draft_path, demo_target_path):
    # one thread each: robust when other jobs share the CPU (llama.cpp's thread barriers spin)
    draft = LlamaCppRunner(demo_draft_path, threads=1, n_ctx=128)
    target = LlamaCppRunner(demo_target_path, threads=1, n_ctx=128)
    try:
        prompt = target.tokenize(PROMPT)
        reference = target_only(target, prompt, 12)
        draft.reset()
        rows = draft.forward([*prompt, *reference[:-1]], all_logits=True)[len(prompt) - 1 :]
        trace_argmax = np.argmax(rows, axis=1)
        result = SpeculativeDecoder(draft, target).generate(
            prompt, DecodeConfig(k=3, max_new_tokens=12)
        )
        c = compare_greedy(result, reference, trace_argmax)
        # Exact unless a batched-vs-single-token argmax flip explains the difference.
        assert c.explained, c
        assert result.tokens == reference or c.target_flips
        assert result.metrics().num_accepted_tokens > 0  # the 0.5B does predict the 1.5B here
        assert all(r.verify_s > 0 and r.draft_s > 0 for r in result.rounds)
    finally:
        draft.close()
        target.close()
