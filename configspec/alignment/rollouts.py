"""What a threshold draft does after its own wrong token: free-running rollouts (greedy traces).

A threshold round drafts the draft's top token while its confidence is at least tau, up to K
max tokens: configspec's decoder with the full softmax (traces `confidence`), llama.cpp's
draft-simple loop (common/speculative.cpp `draft()`) with p-min over the top 10
(traces `llama_cpp_confidence`). Up to and including the first wrong token at position m the
draft reads the target's text, so the teacher-forced trace judges those positions exactly; past
m it reads its own wrong token, which no teacher-forced pass sees. So for every position m where
the draft's top token is wrong (and confident enough to be drafted at the grid's smallest tau),
the draft is run on: context = prompt + continuation[:m] + its wrong token, then its own top
tokens, recording both confidences of each next token:

    past_miss[m, j] = confidence of the (j + 1)-th token the draft writes after its wrong token at m

until llama.cpp's confidence (never below the softmax's) falls below `tau_min` (recorded, then
stopped) or `steps` tokens. Entries not computed are 0, so a run of confidences >= tau read from
past_miss[m] is exact for any tau >= tau_min (walk.rollout_draft_lengths). The rollouts of one
prompt are forks of one cache of the text, advanced together, one token each per forward call
(Runner.open_forks / fork).
"""

from __future__ import annotations

import numpy as np

from configspec.alignment.traces import llama_cpp_confidence
from configspec.runners.base import Runner, SequenceTokens
from configspec.speculative.sampling import max_probability

MAX_FORKS = 255  # llama.cpp's LLAMA_MAX_SEQ (256) less sequence 0


def branch_points(match: np.ndarray, confidence: np.ndarray, tau_min: float) -> list[int]:
    """Positions whose wrong top token a threshold round may draft and then draft past. A round
    drafts no further than position n - 2 (walk: D_s <= n - s - 1), so the last two positions
    need no rollout."""
    n = len(match)
    return [m for m in range(n - 2) if not match[m] and confidence[m] >= tau_min]


def rollouts(
    draft: Runner, prompt_tokens: list[int], continuation: np.ndarray, draft_rows: np.ndarray,
    match: np.ndarray, llama_cpp: np.ndarray, steps: int, tau_min: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """past_miss[n, steps] (float32) of the softmax's and of llama.cpp's confidence, as the module
    docstring defines them. `draft` must have been opened with open_forks(); its cache is
    replaced by prompt + continuation[:-1]."""
    n = len(continuation)
    out = np.zeros((2, n, steps), dtype=np.float32)
    points = branch_points(match, llama_cpp, tau_min)
    if not points or steps == 0:
        return out[0], out[1]
    prompt = len(prompt_tokens)
    draft.reset()
    draft.forward([*prompt_tokens, *(int(t) for t in continuation[:-1])])
    for lo in range(0, len(points), draft.max_forks):
        chunk = points[lo : lo + draft.max_forks]
        # fork i + 1 holds the text before chunk[i], then its wrong token and its own tokens
        # after it, one per step; every fork feeds its j-th token at step j
        feed = {}
        for i, m in enumerate(chunk):
            draft.fork(i + 1, prompt + m)
            feed[i + 1] = int(np.argmax(draft_rows[m]))
        for j in range(steps):
            items = [SequenceTokens(seq, prompt + chunk[seq - 1] + j, [token], 0)
                     for seq, token in feed.items()]  # fmt: skip
            for seq, row in zip(list(feed), draft.decode_sequences(items), strict=True):
                m = chunk[seq - 1]
                conf = float(llama_cpp_confidence(row[-1]))
                out[:, m, j] = max_probability(row[-1]), conf
                feed[seq] = int(np.argmax(row[-1]))
                # a round never drafts past position n - 2 (the end cut)
                if conf < tau_min or j + 1 == min(steps, n - 2 - m):
                    del feed[seq]
                    draft.forget(seq)
            if not feed:
                break
    return out[0], out[1]
