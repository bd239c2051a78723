"""configspec's edge against configspec's server over real gRPC on loopback (fake models): the
same outputs as the in-process decoder, the target's distribution in sampled mode, bytes on the
wire, and every bad input the issue names."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.alignment.tokenizers import tokenizer_fingerprint
from configspec.errors import ConfigspecError
from configspec.serving import edge as edge_module
from configspec.serving.edge import Connection, RemoteVerifier, ServerGone
from configspec.serving.proto import verify_pb2 as pb
from configspec.serving.relay import LinkShape
from configspec.speculative.decoder import DecodeConfig, SpeculativeDecoder, target_only
from configspec.speculative.sampling import softmax
from tests.fakes import FakeRunner, agreeing_draft, hashed_logits, table_logits
from tests.serving.fake_server import NO_NETWORK, FakeServer
from tests.speculative.test_decoder import _chi2_pvalue, _transition_counts

V = 40
PROMPT = [3, 1, 4, 1, 5]


def models(n_ctx=4096):
    target_fn = hashed_logits(11, V, peak=4.0)
    target = FakeRunner(target_fn, V, n_ctx=n_ctx)
    draft = FakeRunner(agreeing_draft(target_fn, 23, V, 4, peak=4.0), V, n_ctx=n_ctx)
    return draft, target


def remote(server: FakeServer, draft: FakeRunner, k: int, shape: LinkShape = NO_NETWORK):
    connection = Connection(server.address, shape)
    hello = connection.hello()
    return connection, RemoteVerifier(connection, hello, "fake", tokenizer_fingerprint(draft), k)


@pytest.mark.parametrize(("k", "tau"), [(1, None), (4, None), (8, 0.3)])
def test_greedy_over_grpc_equals_the_targets_own_decoding(k, tau):
    draft, target = models()
    reference = target_only(FakeRunner(target.next_logits, V), PROMPT, 50)
    with FakeServer(target) as server:
        connection, verifier = remote(server, draft, k)
        try:
            result = SpeculativeDecoder(draft, verifier).generate(
                PROMPT, DecodeConfig(k=k, tau=tau, max_new_tokens=50)
            )
        finally:
            connection.close()
    assert result.tokens == reference
    assert sum(r.accepted for r in result.rounds) > 0
    for r in result.rounds:
        assert r.batch_size == 1 and r.server_s >= r.verify_s > 0
        assert r.draft_s + r.net_s + r.verify_s + r.other_s == pytest.approx(r.total_s)
        assert r.bytes_up > 0 and r.bytes_down > 0


def test_remote_and_local_decoders_agree_round_by_round():
    draft_a, target = models()
    draft_b, _ = models()
    config = DecodeConfig(k=4, max_new_tokens=40)
    local = SpeculativeDecoder(draft_a, FakeRunner(target.next_logits, V)).generate(PROMPT, config)
    with FakeServer(target) as server:
        connection, verifier = remote(server, draft_b, 4)
        try:
            remote_result = SpeculativeDecoder(draft_b, verifier).generate(PROMPT, config)
        finally:
            connection.close()
    assert [(r.drafted, r.accepted) for r in remote_result.rounds] == [
        (r.drafted, r.accepted) for r in local.rounds
    ]


@pytest.mark.parametrize("top_n", [None, 3])
def test_sampled_mode_over_grpc_reproduces_the_target_distribution(top_n):
    """The in-process decoder's distribution test, with the target behind the server: the edge
    sends q (dense float16, or its top-n from which it also samples), the server accepts with
    Leviathan's rule."""
    n = 5
    table_p = np.random.default_rng(1).dirichlet(np.ones(n), size=n)
    table_q = np.random.default_rng(2).dirichlet(np.ones(n), size=n)
    draft = FakeRunner(table_logits(table_q), n, n_ctx=8_000)
    target = FakeRunner(table_logits(table_p), n, n_ctx=8_000)
    config = DecodeConfig(k=3, temperature=1.0, seed=1234, max_new_tokens=5_000, top_n=top_n)
    with FakeServer(target, ctx=8_000) as server:
        connection, verifier = remote(server, draft, 3)
        try:
            result = SpeculativeDecoder(draft, verifier).generate([0], config)
        finally:
            connection.close()
    counts = _transition_counts([0, *result.tokens], n)
    p = np.stack([softmax(np.log(row), 1.0) for row in table_p])
    q = np.stack([softmax(np.log(row), 1.0) for row in table_q])
    assert _chi2_pvalue(counts, p) > 1e-3
    assert _chi2_pvalue(counts, q) < 1e-12
    assert 0.2 < result.metrics().draft_acceptance_rate < 0.95


def test_emulated_delay_shows_on_the_wire_and_in_the_measured_round_trip():
    draft, target = models()
    with FakeServer(target) as server:
        connection = Connection(server.address, LinkShape(added_rtt_s=0.04))
        try:
            rtt = connection.measure_rtt(5)
            verifier = RemoteVerifier(connection, connection.hello(), "fake",
                                      tokenizer_fingerprint(draft), 2)  # fmt: skip
            result = SpeculativeDecoder(draft, verifier).generate(
                PROMPT, DecodeConfig(k=2, max_new_tokens=8)
            )
        finally:
            connection.close()
    assert min(rtt) >= 0.04
    assert all(0.04 <= r.net_s < 0.2 for r in result.rounds)


def test_bandwidth_limit_delays_big_messages():
    """Sampled mode, dense q: each round carries D x V float16; at 1 Mbit/s that takes time."""
    n = 2000
    table = np.random.default_rng(3).dirichlet(np.ones(n) * 0.1, size=1).repeat(n, axis=0)
    draft = FakeRunner(table_logits(table), n)
    target = FakeRunner(table_logits(table), n)
    with FakeServer(target) as server:
        connection = Connection(server.address, LinkShape(bandwidth_bit_s=1e6))
        try:
            verifier = RemoteVerifier(connection, connection.hello(), "fake",
                                      tokenizer_fingerprint(draft), 2)  # fmt: skip
            result = SpeculativeDecoder(draft, verifier).generate(
                [1], DecodeConfig(k=2, temperature=1.0, max_new_tokens=6)
            )
        finally:
            connection.close()
    for r in result.rounds:
        payload = len(r.drafted) * n * 2
        assert r.bytes_up >= payload
        assert r.net_s >= 0.9 * 8 * payload / 1e6


# ---- bad input ---------------------------------------------------------------------------------


def test_no_server_is_one_clear_error():
    with pytest.raises(ConfigspecError, match="no verification server answers at 127.0.0.1:9"):
        Connection("127.0.0.1:9", NO_NETWORK).hello()


def test_another_protocol_version_is_refused_by_name(monkeypatch):
    draft, target = models()
    with FakeServer(target) as server:
        monkeypatch.setattr(edge_module, "PROTOCOL_VERSION", 99)
        connection = Connection(server.address, NO_NETWORK)
        try:
            with pytest.raises(ConfigspecError, match="protocol 1, this client 99"):
                connection.hello()
            verifier = RemoteVerifier(connection, pb.HelloReply(n_ctx_per_session=4096), "fake",
                                      tokenizer_fingerprint(draft), 2)  # fmt: skip
            with pytest.raises(ConfigspecError, match="VERSION"):
                SpeculativeDecoder(draft, verifier).generate(PROMPT, DecodeConfig(k=2))
        finally:
            connection.close()


def test_a_draft_of_another_tokenizer_is_refused():
    _, target = models()
    other = FakeRunner(hashed_logits(5, V, peak=4.0), V, vocab_offset=7)
    with FakeServer(target) as server:
        connection, verifier = remote(server, other, 2)
        try:
            with pytest.raises(ConfigspecError, match="TOKENIZER.*differs from the target"):
                SpeculativeDecoder(other, verifier).generate(PROMPT, DecodeConfig(k=2))
        finally:
            connection.close()


def test_a_prompt_longer_than_the_context_is_refused():
    """The edge checks the context the server announced; the server checks again on Open."""
    draft, target = models()
    prompt, config = list(range(1, 39)) * 2, DecodeConfig(k=2, max_new_tokens=8)
    with FakeServer(target, ctx=64) as server:
        connection, verifier = remote(server, draft, 2)
        try:
            with pytest.raises(ConfigspecError, match="target's context of 64 tokens"):
                SpeculativeDecoder(draft, verifier).generate(prompt, config)
            unchecked = RemoteVerifier(connection, pb.HelloReply(n_ctx_per_session=4096), "fake",
                                       tokenizer_fingerprint(draft), 2)  # fmt: skip
            with pytest.raises(ConfigspecError, match="CONTEXT.*context of 64"):
                SpeculativeDecoder(draft, unchecked).generate(prompt, config)
        finally:
            connection.close()


def test_max_sessions_reached_is_refused_and_others_go_on():
    draft, target = models()
    with FakeServer(target, max_sessions=1) as server:
        first_conn, first = remote(server, draft, 2)
        second_conn, second = remote(server, FakeRunner(draft.next_logits, V), 2)
        try:
            first.start(PROMPT, DecodeConfig(k=2))
            first.ready()
            with pytest.raises(ConfigspecError, match="CAPACITY.*limit of 1 sessions"):
                second.start(PROMPT, DecodeConfig(k=2))
                second.ready()
            verdict = first.verify([PROMPT[-1]], [1, 2], [None, None])
            assert verdict.accepted in (0, 1, 2)
            first.finish()
        finally:
            first_conn.close()
            second_conn.close()


def _raw_stream(server: FakeServer, messages):
    import grpc

    channel = grpc.insecure_channel(server.address)
    call = channel.stream_stream("/configspec.verify.v1.Verifier/Session",
                                 request_serializer=lambda b: b,
                                 response_deserializer=pb.ServerMessage.FromString)  # fmt: skip
    try:
        return list(call(iter(messages), timeout=10))
    finally:
        channel.close()


@pytest.mark.parametrize("messages", [
    [pb.EdgeMessage(round=pb.Round(committed=[1], draft=[2])).SerializeToString()],  # before Open
    [pb.EdgeMessage(open=pb.Open(protocol_version=1, prompt=[1, 2], mode=pb.GREEDY)).SerializeToString()],
    [b"\xff\xfe not protobuf"],
])  # fmt: skip
def test_a_malformed_message_gets_an_error_and_others_are_served(messages):
    import grpc

    draft, target = models()
    with FakeServer(target) as server:
        connection, verifier = remote(server, draft, 2)
        try:
            verifier.start(PROMPT, DecodeConfig(k=2, max_new_tokens=8))  # a good session open
            try:
                replies = _raw_stream(server, messages)
                assert replies[-1].WhichOneof("body") == "error"
            except grpc.RpcError as exc:  # undecodable bytes: grpc itself refuses the call
                assert exc.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
            verifier.ready()
            assert verifier.verify([PROMPT[-1]], [1], [None]).token >= 0
            verifier.finish()
        finally:
            connection.close()


def test_server_gone_mid_session_is_reported_with_the_rounds_kept():
    draft, target = models()
    server = FakeServer(target).__enter__()
    connection, verifier = remote(server, draft, 2)
    seen = []

    def on_round(record):
        seen.append(record)
        if len(seen) == 3:
            server.stop()

    try:
        with pytest.raises(ServerGone):
            SpeculativeDecoder(draft, verifier).generate(
                PROMPT, DecodeConfig(k=2, max_new_tokens=200), on_round=on_round
            )
    finally:
        connection.close()
        server.stop()
    assert len(seen) == 3
