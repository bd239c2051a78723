"""The engines a recommendation is written for, each searched within what it can run and
evaluated as it runs it.

- configspec: `configspec edge` drafting on the device against `configspec serve` (the
  scenario's split over the network). Fixed K, or a threshold tau on the draft's full softmax
  (configspec/speculative/decoder.py); the draft keeps its own cache, so a round costs D steps
  plus P(all K accepted) (fixed K) or 1 (threshold) more (docs/model.md).
- llama.cpp: a draft model in llama-server or llama-speculative-simple, `--spec-draft-n-max K
  --spec-draft-p-min tau`, where p-min compares llama.cpp's own confidence: the top token over
  the draft's top 10 logits (alignment/traces.py). Its draft-simple loop pays D steps, one more
  when p-min stopped it, and one call re-reading the verified tokens [last, d_1 .. d_D]
  (common/speculative.cpp draft() and process()). Greedy only: with a sampled target llama.cpp
  accepts a draft token when the target samples the same token, not by rejection sampling, which
  the traces do not model.
- vLLM: `speculative_config` with `num_speculative_tokens` K: fixed K only, no threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from configspec.analytic.inputs import extra_draft_steps
from configspec.profiles.alignment import AlignmentCell, PolicyStats


@dataclass(frozen=True)
class Engine:
    name: str
    title: str
    thresholds: Literal["softmax", "llama_cpp", "none"]  # which confidence its tau reads
    rereads_batch: bool  # the draft re-reads the verified tokens every round
    modes: tuple[str, ...] = ("greedy", "sampled")

    def policies(self, cell: AlignmentCell) -> list[PolicyStats]:
        """The policies this engine can run, with the figures of running them."""
        if self.thresholds == "softmax":
            return [*cell.fixed_k, *cell.threshold]
        if self.thresholds == "llama_cpp":
            return [*cell.fixed_k, *cell.llama_cpp_threshold]
        return list(cell.fixed_k)

    def extra_steps(self, cell: AlignmentCell, stats: PolicyStats) -> float:
        """Draft steps per round beyond the D drafted tokens."""
        if not self.rereads_batch:
            return extra_draft_steps(cell, stats)
        if stats.tau is None:
            return 0.0  # n-max reached: the last drafted token is read with the batch
        # p-min stopped the round after paying the step that read the rejected token
        return 1.0 if stats.stopped_early_per_round is None else stats.stopped_early_per_round


CONFIGSPEC = Engine("configspec", "configspec edge / serve", "softmax", rereads_batch=False)
LLAMA_CPP = Engine("llama.cpp", "llama.cpp (draft co-located with the target)", "llama_cpp",
                   rereads_batch=True, modes=("greedy",))  # fmt: skip
VLLM = Engine("vllm", "vLLM (draft co-located with the target)", "none", rereads_batch=False)
ENGINES = (CONFIGSPEC, LLAMA_CPP, VLLM)
