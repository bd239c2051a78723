from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    GREEDY: _ClassVar[Mode]
    SAMPLED: _ClassVar[Mode]
MODE_UNSPECIFIED: Mode
GREEDY: Mode
SAMPLED: Mode

class HelloRequest(_message.Message):
    __slots__ = ("protocol_version",)
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    def __init__(self, protocol_version: _Optional[int] = ...) -> None: ...

class HelloReply(_message.Message):
    __slots__ = ("protocol_version", "target", "target_file_sha256", "family", "tokenizer_fingerprint", "n_vocab", "n_ctx_per_session", "max_sessions", "open_sessions", "max_batch", "batch_window_s")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    N_VOCAB_FIELD_NUMBER: _ClassVar[int]
    N_CTX_PER_SESSION_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    OPEN_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    target: str
    target_file_sha256: str
    family: str
    tokenizer_fingerprint: str
    n_vocab: int
    n_ctx_per_session: int
    max_sessions: int
    open_sessions: int
    max_batch: int
    batch_window_s: float
    def __init__(self, protocol_version: _Optional[int] = ..., target: _Optional[str] = ..., target_file_sha256: _Optional[str] = ..., family: _Optional[str] = ..., tokenizer_fingerprint: _Optional[str] = ..., n_vocab: _Optional[int] = ..., n_ctx_per_session: _Optional[int] = ..., max_sessions: _Optional[int] = ..., open_sessions: _Optional[int] = ..., max_batch: _Optional[int] = ..., batch_window_s: _Optional[float] = ...) -> None: ...

class Open(_message.Message):
    __slots__ = ("protocol_version", "family", "tokenizer_fingerprint", "prompt", "mode", "temperature", "seed", "max_new_tokens", "k_max")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    K_MAX_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    family: str
    tokenizer_fingerprint: str
    prompt: _containers.RepeatedScalarFieldContainer[int]
    mode: Mode
    temperature: float
    seed: int
    max_new_tokens: int
    k_max: int
    def __init__(self, protocol_version: _Optional[int] = ..., family: _Optional[str] = ..., tokenizer_fingerprint: _Optional[str] = ..., prompt: _Optional[_Iterable[int]] = ..., mode: _Optional[_Union[Mode, str]] = ..., temperature: _Optional[float] = ..., seed: _Optional[int] = ..., max_new_tokens: _Optional[int] = ..., k_max: _Optional[int] = ...) -> None: ...

class Round(_message.Message):
    __slots__ = ("index", "committed", "draft", "q_dense", "q_top_ids", "q_top_probs", "top_n")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    DRAFT_FIELD_NUMBER: _ClassVar[int]
    Q_DENSE_FIELD_NUMBER: _ClassVar[int]
    Q_TOP_IDS_FIELD_NUMBER: _ClassVar[int]
    Q_TOP_PROBS_FIELD_NUMBER: _ClassVar[int]
    TOP_N_FIELD_NUMBER: _ClassVar[int]
    index: int
    committed: _containers.RepeatedScalarFieldContainer[int]
    draft: _containers.RepeatedScalarFieldContainer[int]
    q_dense: bytes
    q_top_ids: _containers.RepeatedScalarFieldContainer[int]
    q_top_probs: bytes
    top_n: int
    def __init__(self, index: _Optional[int] = ..., committed: _Optional[_Iterable[int]] = ..., draft: _Optional[_Iterable[int]] = ..., q_dense: _Optional[bytes] = ..., q_top_ids: _Optional[_Iterable[int]] = ..., q_top_probs: _Optional[bytes] = ..., top_n: _Optional[int] = ...) -> None: ...

class Close(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EdgeMessage(_message.Message):
    __slots__ = ("open", "round", "close")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    open: Open
    round: Round
    close: Close
    def __init__(self, open: _Optional[_Union[Open, _Mapping]] = ..., round: _Optional[_Union[Round, _Mapping]] = ..., close: _Optional[_Union[Close, _Mapping]] = ...) -> None: ...

class Opened(_message.Message):
    __slots__ = ("session_id", "prompt_tokens", "queue_s", "prefill_s", "prefill_chunks")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_S_FIELD_NUMBER: _ClassVar[int]
    PREFILL_S_FIELD_NUMBER: _ClassVar[int]
    PREFILL_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    prompt_tokens: int
    queue_s: float
    prefill_s: float
    prefill_chunks: int
    def __init__(self, session_id: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., queue_s: _Optional[float] = ..., prefill_s: _Optional[float] = ..., prefill_chunks: _Optional[int] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("index", "accepted", "token", "queue_s", "verify_s", "batch_size", "batch_tokens", "server_s")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    QUEUE_S_FIELD_NUMBER: _ClassVar[int]
    VERIFY_S_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SERVER_S_FIELD_NUMBER: _ClassVar[int]
    index: int
    accepted: int
    token: int
    queue_s: float
    verify_s: float
    batch_size: int
    batch_tokens: int
    server_s: float
    def __init__(self, index: _Optional[int] = ..., accepted: _Optional[int] = ..., token: _Optional[int] = ..., queue_s: _Optional[float] = ..., verify_s: _Optional[float] = ..., batch_size: _Optional[int] = ..., batch_tokens: _Optional[int] = ..., server_s: _Optional[float] = ...) -> None: ...

class Closed(_message.Message):
    __slots__ = ("rounds", "tokens")
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    rounds: int
    tokens: int
    def __init__(self, rounds: _Optional[int] = ..., tokens: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CODE_UNSPECIFIED: _ClassVar[Error.Code]
        VERSION: _ClassVar[Error.Code]
        TOKENIZER: _ClassVar[Error.Code]
        CONTEXT: _ClassVar[Error.Code]
        CAPACITY: _ClassVar[Error.Code]
        BAD_MESSAGE: _ClassVar[Error.Code]
        IDLE: _ClassVar[Error.Code]
        SHUTDOWN: _ClassVar[Error.Code]
        INTERNAL: _ClassVar[Error.Code]
    CODE_UNSPECIFIED: Error.Code
    VERSION: Error.Code
    TOKENIZER: Error.Code
    CONTEXT: Error.Code
    CAPACITY: Error.Code
    BAD_MESSAGE: Error.Code
    IDLE: Error.Code
    SHUTDOWN: Error.Code
    INTERNAL: Error.Code
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: Error.Code
    message: str
    def __init__(self, code: _Optional[_Union[Error.Code, str]] = ..., message: _Optional[str] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("opened", "verdict", "closed", "error")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    opened: Opened
    verdict: Verdict
    closed: Closed
    error: Error
    def __init__(self, opened: _Optional[_Union[Opened, _Mapping]] = ..., verdict: _Optional[_Union[Verdict, _Mapping]] = ..., closed: _Optional[_Union[Closed, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...
