"""The edge-server protocol: its version, and the encodings of tokens and draft probabilities.

Messages are defined in proto/verify.proto (gRPC, one bidirectional stream per session). Token
ids are packed fixed32; the draft's probabilities q are little-endian float16, dense (D x vocab)
or top-n (D x n ids and D x n probabilities). docs/serving.md describes the exchange.
"""

from __future__ import annotations

import numpy as np

from configspec.serving.proto import verify_pb2 as pb

PROTOCOL_VERSION = 1
DEFAULT_PORT = 50051

# gRPC channel and server options on both sides. A dense sampled-mode round carries D x vocab
# float16 (16 x 152k = 5 MB). BDP probing is off: its PING frames would add 17-34 bytes to some
# rounds at random, and a stream of small messages gains nothing from a larger window, so the
# bytes per round follow the payload formula exactly (docs/model.md).
MAX_MESSAGE_BYTES = 256 << 20
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.http2.bdp_probe", 0),
]

MODES = {"greedy": pb.GREEDY, "sampled": pb.SAMPLED}


def version_refusal(theirs: int) -> str:
    return (f"the server speaks configspec protocol {PROTOCOL_VERSION}, this client "
            f"{theirs}: run the same configspec version on both sides")  # fmt: skip


def encode_q(q_rows: list[np.ndarray | None], top_n: int | None) -> dict:
    """Round fields carrying the draft's distributions: dense float16 rows, or top-n pairs."""
    rows = [q for q in q_rows if q is not None]
    if not rows:
        return {}
    if top_n is None:
        return {"q_dense": np.stack(rows).astype("<f2").tobytes()}
    ids = np.stack([np.argpartition(q, -top_n)[-top_n:] for q in rows])
    probs = np.take_along_axis(np.stack(rows), ids, axis=1)
    return {"q_top_ids": ids.ravel().tolist(), "q_top_probs": probs.astype("<f2").tobytes(),
            "top_n": top_n}  # fmt: skip


def decode_q(round_msg: pb.Round, n_vocab: int) -> list[np.ndarray | None]:
    """The draft's distributions of a Round as float64 vectors (renormalised after float16);
    [None] * D in greedy mode. Raises ValueError on inconsistent sizes."""
    d = len(round_msg.draft)
    if round_msg.q_dense:
        dense = np.frombuffer(round_msg.q_dense, dtype="<f2")
        if dense.size != d * n_vocab:
            raise ValueError(f"q_dense has {dense.size} values, expected {d} x {n_vocab}")
        rows = dense.reshape(d, n_vocab).astype(np.float64)
    elif round_msg.top_n:
        n = round_msg.top_n
        ids = np.asarray(round_msg.q_top_ids, dtype=np.int64)
        probs = np.frombuffer(round_msg.q_top_probs, dtype="<f2").astype(np.float64)
        if ids.size != d * n or probs.size != d * n:
            raise ValueError(
                f"top-n q has {ids.size} ids and {probs.size} probs, expected {d} x {n}"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= n_vocab):
            raise ValueError(f"top-n q names a token id outside the vocabulary of {n_vocab}")
        rows = np.zeros((d, n_vocab))
        np.put_along_axis(rows, ids.reshape(d, n), probs.reshape(d, n), axis=1)
    else:
        return [None] * d
    sums = rows.sum(axis=1, keepdims=True)
    if (sums <= 0).any() or not np.isfinite(rows).all():
        raise ValueError("a draft distribution q is empty or not finite")
    return list(rows / sums)
