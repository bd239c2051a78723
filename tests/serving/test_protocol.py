"""The protocol's committed Python modules match verify.proto; q survives its encodings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from configspec.serving.proto import verify_pb2 as pb
from configspec.serving.protocol import decode_q, encode_q
from configspec.speculative.sampling import softmax, top_n
from tests.conftest import ROOT

PROTO = Path("configspec/serving/proto")


def test_generated_modules_match_the_proto(tmp_path):
    """Regenerate from verify.proto (grpc_tools, the dev extra) and compare with the committed
    modules: a change to the .proto without ./generate.sh fails here."""
    (tmp_path / PROTO).mkdir(parents=True)
    shutil.copy(ROOT / PROTO / "verify.proto", tmp_path / PROTO)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.",
                    "--grpc_python_out=.", "--pyi_out=.", str(PROTO / "verify.proto")],
                   cwd=tmp_path, check=True)  # fmt: skip
    for name in ("verify_pb2.py", "verify_pb2_grpc.py", "verify_pb2.pyi"):
        assert (tmp_path / PROTO / name).read_text() == (ROOT / PROTO / name).read_text(), name


def _rows(d=3, v=50, seed=0):
    rng = np.random.default_rng(seed)
    return [softmax(rng.normal(size=v) * 3, 1.0) for _ in range(d)]


def test_dense_q_round_trips_within_float16():
    rows = _rows()
    msg = pb.Round(draft=[1, 2, 3], **encode_q(rows, None))
    assert len(msg.q_dense) == 3 * 50 * 2
    for a, b in zip(decode_q(msg, 50), rows, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)
        assert a.sum() == pytest.approx(1.0)


def test_top_n_q_keeps_exactly_the_n_kept_tokens():
    rows = [top_n(q, 4) for q in _rows()]
    msg = pb.Round(draft=[1, 2, 3], **encode_q(rows, 4))
    assert len(msg.q_top_ids) == 12 and len(msg.q_top_probs) == 24
    for a, b in zip(decode_q(msg, 50), rows, strict=True):
        assert set(np.flatnonzero(a)) == set(np.flatnonzero(b))
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_greedy_rounds_carry_no_q():
    assert encode_q([None, None], None) == {}
    assert decode_q(pb.Round(draft=[1, 2]), 50) == [None, None]


@pytest.mark.parametrize("fields", [
    {"q_dense": b"\x00\x3c" * 7},  # 7 values for 3 x 50
    {"q_top_ids": [1, 2], "q_top_probs": b"\x00\x3c" * 2, "top_n": 4},
    {"q_top_ids": [99] * 12, "q_top_probs": b"\x00\x3c" * 12, "top_n": 4},  # id beyond vocab
])  # fmt: skip
def test_inconsistent_q_is_a_value_error(fields):
    with pytest.raises(ValueError):
        decode_q(pb.Round(draft=[1, 2, 3], **fields), 50)
