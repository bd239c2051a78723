"""The vLLM Runner adapter against a faithful fake of vLLM's server: rows from prompt logprobs,
greedy and sampled verification through the engine and the decoder, the re-prefill cost, and
every refusal (unreachable, logprobs limit, another model, vLLM not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.errors import ConfigspecError
from configspec.runners.base import SequenceTokens
from configspec.serving.engine import VerifyEngine
from configspec.speculative.decoder import DecodeConfig, SpeculativeDecoder, target_only
from configspec.speculative.sampling import softmax
from configspec.vllm_backend.client import VllmClient, VllmUnreachable
from configspec.vllm_backend.launch import check_vllm_installed
from configspec.vllm_backend.runner import VllmRunner
from configspec.vllm_backend.target import check_same_model
from tests.fakes import FakeRunner, agreeing_draft, hashed_logits
from tests.serving.test_engine import Client
from tests.vllm.fake_vllm import FakeVllm

V = 48
TARGET = hashed_logits(3, V, peak=3.0)


@pytest.fixture
def fake():
    with FakeVllm(TARGET, V) as server:
        yield server


def runner(fake: FakeVllm, top_n: int = 20) -> VllmRunner:
    client = VllmClient(fake.url)
    return VllmRunner(client, fake.model_id, V, fake.max_model_len, top_n)


def test_rows_hold_the_top_n_log_probabilities_and_minus_infinity_elsewhere(fake):
    r = runner(fake, top_n=5)
    rows = r.forward([1, 2, 3, 4], all_logits=True)
    reference = FakeRunner(TARGET, V).forward([1, 2, 3, 4], all_logits=True)
    assert rows.shape == (4, V)
    for row, logits in zip(rows, reference, strict=True):
        top = np.argsort(-logits)[:5]
        assert set(np.flatnonzero(np.isfinite(row))) == set(top)
        assert int(np.argmax(row)) == int(np.argmax(logits))
        # log-softmax differs from the logits by a constant: softmax at any T over the top N
        for t in (0.5, 1.0):
            p = softmax(row, t)
            q = softmax(logits, t)[top]
            np.testing.assert_allclose(p[top], q / q.sum(), rtol=1e-5)
    assert 0.0 < r.max_tail_mass < 1.0


def test_forward_last_row_and_rollback_keep_the_sequence_on_the_client(fake):
    r = runner(fake)
    last = r.forward([5, 6, 7])
    assert r.n_past == 3
    assert int(np.argmax(last)) == int(np.argmax(TARGET((5, 6, 7))))
    r.rollback(1)
    row = r.forward([9])
    assert int(np.argmax(row)) == int(np.argmax(TARGET((5, 9))))


def test_every_round_re_reads_its_whole_context(fake):
    """The documented cost: a round sends context + K + 1 tokens, plus one probe token."""
    r = runner(fake)
    r.open_sequences(2, 1024)
    assert r.decode_sequences([SequenceTokens(0, 0, list(range(1, 31)), None)]) == [None]
    assert fake.requests == 0  # a prefill is deferred to the first round
    rows = r.decode_sequences([SequenceTokens(0, 30, [3, 4, 5, 6, 7], 0),
                               SequenceTokens(1, 0, [8, 9], 1)])  # fmt: skip
    assert [x.shape[0] for x in rows] == [5, 1]
    assert fake.requests == 2
    assert fake.prompt_tokens == (30 + 5 + 1) + (2 + 1)
    assert r.client.prompt_tokens == fake.prompt_tokens and r.client.requests == 2


def test_the_engine_verifies_through_vllm_as_through_the_model_itself(fake):
    """The same rounds of two sessions through VerifyEngine on vLLM and on the model itself
    give the same verdicts (sampled rows: test_rows_hold_the_top_n_...)."""
    verdicts = []
    for target in (runner(fake), FakeRunner(TARGET, V)):
        engine = VerifyEngine(target, 2, 512, 2, 0.01, prefill_chunk_tokens=512)
        engine.start()
        try:
            clients = [Client(engine, [1, 2, 3, 4, 5]), Client(engine, [6, 7])]
            for c in clients:
                assert c.opened.wait(5)
            got = []
            for c, last, drafted in zip(clients, [5, 7], [[11, 12, 13], [14, 15]], strict=True):
                done, box = c.round([last], drafted)
                assert done.wait(5)
                got.append((box[0].accepted, box[0].token))
            verdicts.append(got)
        finally:
            engine.stop()
    assert verdicts[0] == verdicts[1]


def test_greedy_speculation_through_vllm_is_the_targets_own_greedy_output(fake):
    draft = FakeRunner(agreeing_draft(TARGET, 5, V, agree_every=3, peak=3.0), V)
    decoder = SpeculativeDecoder(draft, runner(fake))
    prompt = [1, 2, 3, 4]
    result = decoder.generate(prompt, DecodeConfig(k=4, max_new_tokens=24))
    assert result.tokens == target_only(FakeRunner(TARGET, V), prompt, 24)
    assert any(r.accepted < len(r.drafted) for r in result.rounds)  # rejections happened


def test_an_unreachable_server_is_one_line():
    client = VllmClient("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(VllmUnreachable, match="no vLLM server answers at http://127.0.0.1:9"):
        client.model()


def test_asking_more_logprobs_than_the_server_allows_names_the_fix(fake):
    fake.max_logprobs = 5
    with pytest.raises(ConfigspecError, match="max allowed: 5.*--max-logprobs") as info:
        runner(fake, top_n=6).forward([1, 2])
    assert "\n" not in str(info.value)


def test_another_model_behind_vllm_is_refused(fake):
    r = runner(fake)
    own = FakeRunner(TARGET, V)
    from configspec.alignment.tokenizers import tokenizer_fingerprint

    good = tokenizer_fingerprint(own)
    assert check_same_model(r, "t", good, V, fake.url) == good
    with pytest.raises(ConfigspecError, match="vocabulary of 48 tokens.*has 512"):
        check_same_model(r, "t", good, 512, fake.url)
    with FakeVllm(TARGET, V, vocab_offset=3) as other:
        with pytest.raises(ConfigspecError, match="tokenizes differently"):
            check_same_model(runner(other), "t", good, V, other.url)


def test_vllm_missing_names_the_extra(tmp_path):
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    with pytest.raises(ConfigspecError, match="vLLM is not installed.*vllm extra"):
        check_vllm_installed(str(python))


def test_a_url_that_is_not_http_is_refused():
    with pytest.raises(ConfigspecError, match="http://HOST:PORT"):
        VllmClient("127.0.0.1:8000")


def test_a_folder_made_from_another_gguf_is_refused(tmp_path):
    import json

    from configspec.vllm_backend.prepare import STAMP
    from configspec.vllm_backend.target import Reference, check_same_source

    (tmp_path / STAMP).write_text(json.dumps({"source_sha256": "a" * 64}))
    check_same_source(tmp_path, "t", Reference("f", V, "a" * 64), "u")  # its own source
    check_same_source(tmp_path / "elsewhere", "t", Reference("f", V, "b" * 64), "u")  # unknown
    with pytest.raises(ConfigspecError, match="made from another file than the registry's t"):
        check_same_source(tmp_path, "t", Reference("f", V, "b" * 64), "u")


def test_an_unknown_dtype_for_the_vllm_folder_is_refused():
    from configspec.vllm_backend.prepare import vllm_model_folder

    with pytest.raises(ConfigspecError, match="BF16, F16, F32"):
        vllm_model_folder(None, dtype="Q4_K_M")  # refused before the model is looked at


def test_verify_latency_batches_are_concurrent_requests_from_a_shared_context(fake):
    """share_prefix / forward_batch / rollback, as configspec verify-latency drives them."""
    r = runner(fake)
    r.forward([1, 2, 3])
    r.share_prefix(3)
    rows = r.forward_batch([[4, 5], [6, 7], [8, 9]], all_logits=True)
    assert fake.requests == 4  # the prefill, then one request per sequence
    for row, (a, b) in zip(rows, [(4, 5), (6, 7), (8, 9)], strict=True):
        assert row.shape == (2, V)
        assert int(np.argmax(row[1])) == int(np.argmax(TARGET((1, 2, 3, a, b))))
    r.rollback(3)
    assert [len(t) for t in r.sequences.values()] == [3, 3, 3]
    with pytest.raises(ValueError, match="share_prefix"):
        r.forward_batch([[1]])
