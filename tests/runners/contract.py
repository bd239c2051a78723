"""What every Runner must do (optuna's pytest_samplers idea: one test class, a fixture per backend).

A subclass provides a `runner` fixture (n_ctx >= 64, max_sequences >= 3), a `text` fixture that
tokenizes to at least 12 tokens, and `logits_atol`: how far logits may move between calls of
different shapes (quantized CPU kernels change with the batch size; argmax is compared exactly).
"""

from __future__ import annotations

import numpy as np
import pytest

from configspec.errors import ConfigspecError


class RunnerContract:
    logits_atol: float = 1e-4

    def _close(self, a: np.ndarray, b: np.ndarray) -> None:
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= self.logits_atol
        assert (np.argmax(a, axis=-1) == np.argmax(b, axis=-1)).all()

    def test_tokenize_roundtrip(self, runner, text):
        tokens = runner.tokenize(text, add_special=False)
        assert len(tokens) >= 12
        assert runner.detokenize(tokens) == text

    def test_forward_shapes_and_n_past(self, runner, text):
        tokens = runner.tokenize(text)
        runner.reset()
        rows = runner.forward(tokens[:5], all_logits=True)
        assert rows.shape == (5, runner.n_vocab) and runner.n_past == 5
        last = runner.forward(tokens[5:8])
        assert last.shape == (runner.n_vocab,) and runner.n_past == 8
        assert np.isfinite(rows).all() and np.isfinite(last).all()

    def test_split_forward_equals_one_call(self, runner, text):
        tokens = runner.tokenize(text)[:12]
        runner.reset()
        whole = runner.forward(tokens, all_logits=True)
        runner.reset()
        parts = [runner.forward(tokens[:7], all_logits=True), runner.forward(tokens[7:], True)]
        self._close(np.concatenate(parts), whole)

    def test_rollback_restores_the_cache_exactly(self, runner, text):
        tokens = runner.tokenize(text)[:12]
        runner.reset()
        runner.forward(tokens[:6])
        first = runner.forward(tokens[6:], all_logits=True)
        runner.rollback(6)
        assert runner.n_past == 6
        runner.forward([tokens[0]] * 3)  # something else in the rolled-back positions
        runner.rollback(6)
        again = runner.forward(tokens[6:], all_logits=True)
        np.testing.assert_array_equal(again, first)  # same call shape: bitwise the same

    def test_reset_forgets_everything(self, runner, text):
        tokens = runner.tokenize(text)[:8]
        runner.reset()
        first = runner.forward(tokens, all_logits=True)
        runner.forward(tokens)
        runner.reset()
        assert runner.n_past == 0
        np.testing.assert_array_equal(runner.forward(tokens, all_logits=True), first)

    @staticmethod
    def _single_after_prefix(runner, text):
        """12 tokens; the logits of the last 4 after an 8-token prefix; cache back at 8."""
        tokens = runner.tokenize(text)[:12]
        runner.reset()
        runner.forward(tokens[:8])
        single = runner.forward(tokens[8:], all_logits=True)
        runner.rollback(8)
        return tokens, single

    def test_batched_sequences_match_one_sequence(self, runner, text):
        tokens, single = self._single_after_prefix(runner, text)
        runner.share_prefix(3)
        rows = runner.forward_batch([tokens[8:]] * 3, all_logits=True)
        assert len(rows) == 3 and runner.n_past == 12
        for r in rows:
            self._close(r, single)
        runner.rollback(8)  # rolls every sequence back
        lasts = runner.forward_batch([tokens[8:]] * 3)
        for r in lasts:
            self._close(r, single[-1])
        # different tokens per sequence: each sequence sees its own
        runner.rollback(8)
        other = [tokens[0]] * 4
        mixed = runner.forward_batch([tokens[8:], other, tokens[8:]], all_logits=True)
        self._close(mixed[0], single)
        self._close(mixed[2], single)
        assert not np.allclose(mixed[1], single, atol=self.logits_atol)

    def test_forward_after_batching_uses_sequence_zero(self, runner, text):
        tokens, single = self._single_after_prefix(runner, text)
        runner.share_prefix(2)
        runner.forward_batch([tokens[8:10], [tokens[0]] * 2])
        runner.rollback(10)
        self._close(runner.forward(tokens[10:], all_logits=True), single[2:])

    def test_batch_misuse_is_refused(self, runner, text):
        tokens = runner.tokenize(text)[:8]
        runner.reset()
        runner.forward(tokens)
        runner.share_prefix(2)
        with pytest.raises(ValueError, match="share_prefix"):
            runner.forward_batch([tokens[:1]] * 3)
        with pytest.raises(ValueError, match="equal length"):
            runner.forward_batch([tokens[:1], tokens[:2]])
        with pytest.raises(ValueError):
            runner.share_prefix(runner.max_sequences + 1)

    def test_context_overflow_is_a_configspec_error(self, runner, text):
        tokens = runner.tokenize(text)
        runner.reset()
        with pytest.raises(ConfigspecError, match="context"):
            runner.forward((tokens * (runner.n_ctx // len(tokens) + 2))[: runner.n_ctx + 1])
