"""Refuse a draft whose tokenizer differs from its target's, checked on the loaded models.

The registry's `family` field is a promise; this checks it: vocabulary sizes (llama.cpp's
speculative example allows a difference of at most 128 padding entries,
SPEC_VOCAB_MAX_SIZE_DIFFERENCE), the token ids of a probe text that mixes chat markup, code,
numbers and non-Latin scripts, and the text of a stride of token ids.
"""

from __future__ import annotations

from configspec.errors import ConfigspecError
from configspec.runners.base import Runner

MAX_VOCAB_DIFFERENCE = 128
ID_STRIDE = 499  # ~300 ids of a 150k vocabulary: catches shifted or permuted vocabularies
PROBE_MESSAGES = [
    {
        "role": "user",
        "content": "def f(x):\n    return x ** 2  # 12.5% of 3,141 — Grüße, 你好, привет! <tag> {}",
    }
]


def _probe_text(target: Runner) -> str:
    try:
        return target.chat_prompt(PROBE_MESSAGES)
    except NotImplementedError:
        return PROBE_MESSAGES[0]["content"]


def check_same_tokenizer(draft: Runner, target: Runner, draft_name: str, target_name: str) -> None:
    """Raise ConfigspecError (one line) unless draft and target tokenize identically."""
    how = "pick a draft that shares the target's tokenizer (same model family)"
    if abs(draft.n_vocab - target.n_vocab) > MAX_VOCAB_DIFFERENCE:
        raise ConfigspecError(
            f"draft {draft_name} has a vocabulary of {draft.n_vocab} tokens, target {target_name} "
            f"has {target.n_vocab}: they do not share a tokenizer; {how}"
        )
    probe = _probe_text(target)
    d_ids, t_ids = draft.tokenize(probe), target.tokenize(probe)
    if d_ids != t_ids:
        at = next((i for i, (a, b) in enumerate(zip(d_ids, t_ids, strict=False)) if a != b), None)
        at = min(len(d_ids), len(t_ids)) if at is None else at
        raise ConfigspecError(
            f"draft {draft_name} tokenizes a probe text differently from target {target_name} "
            f"(first difference at token {at}: {len(d_ids)} vs {len(t_ids)} tokens); {how}"
        )
    for token in range(0, min(draft.n_vocab, target.n_vocab), ID_STRIDE):
        if draft.detokenize([token]) != target.detokenize([token]):
            raise ConfigspecError(
                f"draft {draft_name} and target {target_name} give token id {token} different "
                f"text; {how}"
            )


FINGERPRINT_IDS = range(0, 32000, ID_STRIDE)  # ids every vocabulary of interest has


def tokenizer_fingerprint(runner: Runner) -> str:
    """A short hash of how a model tokenizes: the ids of the probe text and the text of a stride
    of ids. Two processes that cannot load each other's model (edge and server) compare these
    instead of running check_same_tokenizer; padding-only vocabulary differences do not count."""
    import hashlib
    import json

    ids = runner.tokenize(PROBE_MESSAGES[0]["content"], add_special=False)
    texts = [runner.detokenize([t]) for t in FINGERPRINT_IDS if t < runner.n_vocab]
    return hashlib.sha256(json.dumps([ids, texts]).encode()).hexdigest()[:16]
