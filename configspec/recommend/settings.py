"""Ready-to-use settings for a recommended configuration: llama.cpp server flags, vLLM's
`speculative_config`, and the `configspec serve` / `configspec edge` command lines.

llama.cpp renamed its speculative flags (PR ggml-org/llama.cpp#22397, docs #22539, 2026):
`--draft-max/--draft-min/--draft-p-min` became `--spec-draft-n-max/--spec-draft-n-min/
--spec-draft-p-min`, and `-md/--model-draft` is spelled `--spec-draft-model` with `--spec-type
draft-simple` naming the classic draft-model method. `new` writes the current spelling (what
llama-cpp-python 0.3.36 vendors: it refuses `--draft-max`), `old` the spelling of earlier
releases.

Flash attention: configspec's profiles time llama.cpp with it off (llama-cpp-python's default),
while llama.cpp's own tools default to `--flash-attn auto`, which turns it on for a CPU. On the
2-core Xeon of docs/recommend.md that ran the threshold's draft 12-18% slower (the draft's calls
over several tokens cost more with it), so the `new` flags set it off: the engine then runs what
was measured. Releases with the `old` spelling had it off unless `-fa` was given.
"""

from __future__ import annotations

import shlex

from configspec.profiles.policy import Policy
from configspec.recommend.schema import Deploy

FLAG_STYLES = ("new", "old")
FLASH_ATTN_AS_PROFILED = ("--flash-attn", "off")
SERVE_PORT = 50051


def llama_cpp_flags(draft_file: str, policy: Policy, style: str = "new") -> list[str]:
    """Flags for llama-server's draft. A fixed K sets p-min 0, because llama.cpp otherwise stops
    drafting below its default p-min (0.75 in older releases) and K would not be fixed; n-min 0
    keeps every draft however short. No draft flags when the policy does not speculate. The new
    spelling also sets flash attention off, as the profiles ran (module docstring)."""
    if style not in FLAG_STYLES:
        raise ValueError(f"style must be one of {FLAG_STYLES}")
    as_profiled = list(FLASH_ATTN_AS_PROFILED) if style == "new" else []
    if not policy.speculates:
        return as_profiled
    p_min = policy.tau or 0.0
    k_max = policy.k_max
    if style == "new":
        return ["--spec-type", "draft-simple", "--spec-draft-model", draft_file,
                "--spec-draft-n-max", str(k_max), "--spec-draft-n-min", "0",
                "--spec-draft-p-min", f"{p_min:g}", *as_profiled]  # fmt: skip
    return ["--model-draft", draft_file, "--draft-max", str(k_max), "--draft-min", "0",
            "--draft-p-min", f"{p_min:g}"]  # fmt: skip


def llama_cpp_command(flags: list[str], mode: str, temperature: float) -> str:
    sampling = ["--temp", "0"] if mode == "greedy" else ["--temp", f"{temperature:g}"]
    return shlex.join(["llama-server", "-m", "TARGET.gguf", *flags, *sampling])


def llama_cpp_notes(policy: Policy, style: str = "new") -> list[str]:
    if not policy.speculates:
        notes = ["no draft model: llama.cpp decodes with the target alone"]
    elif policy.is_threshold:
        notes = ["p-min is compared with llama.cpp's own confidence (the top token's probability "
                 "over the draft's top 10 logits), which is what the search walked"]  # fmt: skip
    else:
        notes = ["p-min 0: llama.cpp never stops a draft early, so every round drafts K tokens"]
    if style == "new":
        notes.append("--flash-attn off: as configspec's profiles ran llama.cpp (its default, auto, "
                     "turns it on for a CPU and times differently from the profiles)")  # fmt: skip
    return notes


def vllm_speculative_config(
    draft_file: str, policy: Policy, k_by_batch: dict[int, int] | None = None
) -> dict | None:
    """vLLM's draft-model speculation (`speculative_config={"method": "draft_model", ...}`),
    a fixed K (vLLM has no draft confidence threshold); None when the policy does not
    speculate (serve the target without it).

    `k_by_batch` (the best K at each server batch size, when the recommendation depends on it)
    adds `num_speculative_tokens_per_batch_size`, a field of vLLM's SpeculativeConfig since
    0.32 (vllm/config/speculative.py); vLLM caps each entry at num_speculative_tokens, so that
    is the schedule's largest K."""
    if not policy.speculates:
        return None
    config: dict = {"method": "draft_model", "model": draft_file,
                    "num_speculative_tokens": policy.k_max}  # fmt: skip
    if k_by_batch and len(set(k_by_batch.values())) > 1:
        config["num_speculative_tokens"] = max(k_by_batch.values())
        config["num_speculative_tokens_per_batch_size"] = vllm_k_schedule(k_by_batch)
    return config


def vllm_k_schedule(k_by_batch: dict[int, int]) -> list[list[int]]:
    """[[range_start, range_end, K], ...]: inclusive batch-size ranges of equal K, sorted,
    starting at 1, as vLLM validates them (v1/spec_decode/dynamic/utils.py); the smallest batch
    size given also covers the sizes below it, and vLLM carries the last K to larger batches."""
    if not k_by_batch or min(k_by_batch) < 1 or min(k_by_batch.values()) < 0:
        raise ValueError("k_by_batch maps batch sizes >= 1 to K >= 0")
    sizes = sorted(k_by_batch)
    schedule: list[list[int]] = []
    for i, size in enumerate(sizes):
        k = k_by_batch[size]
        end = sizes[i + 1] - 1 if i + 1 < len(sizes) else size
        if schedule and schedule[-1][2] == k:
            schedule[-1][1] = end
        else:
            schedule.append([1 if not schedule else size, end, k])
    return schedule


def vllm_notes(draft_file: str, policy: Policy) -> list[str]:
    notes = []
    if policy.is_threshold:  # the search gives vLLM fixed K only; say so if asked for a tau
        notes.append(
            f"vLLM has no draft confidence threshold: tau={policy.tau:g} is dropped and the "
            "draft always proposes num_speculative_tokens"
        )
    if not policy.speculates:
        notes.append("no speculative_config: vLLM serves the target alone")
    elif draft_file.endswith(".gguf"):
        notes.append("vLLM loads GGUF only experimentally: point 'model' at the draft's HF repo")
    return notes


def deploy_commands(target: str, target_quant: str, draft: str, draft_quant: str,
                    policy: Policy, overlap: str = "none") -> Deploy:  # fmt: skip
    """`configspec serve` where the target runs and `configspec edge` on the device."""
    serve = ["configspec", "serve", "--model", target, "--quant", target_quant,
             "--port", str(SERVE_PORT)]  # fmt: skip
    edge = ["configspec", "edge", "--server", f"HOST:{SERVE_PORT}", "--draft", draft,
            "--quant", draft_quant]  # fmt: skip
    if policy.is_threshold:
        edge += ["--tau", f"{policy.tau:g}", "--k-max", str(policy.k_max)]
    else:
        edge += ["--k", str(policy.k_max)]
    if overlap != "none":
        edge += ["--overlap", overlap]
    return Deploy(serve=shlex.join(serve), edge=shlex.join(edge))
