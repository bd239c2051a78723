"""Ready-to-use settings for a recommended configuration: llama.cpp server flags and vLLM's
`speculative_config`.

llama.cpp renamed its speculative flags (PR ggml-org/llama.cpp#22397, docs #22539, 2026):
`--draft-max/--draft-min/--draft-p-min` became `--spec-draft-n-max/--spec-draft-n-min/
--spec-draft-p-min`, and `-md/--model-draft` is spelled `--spec-draft-model` with `--spec-type
draft-simple` naming the classic draft-model method. `new` writes the current spelling, `old` the
spelling of earlier releases (what llama-cpp-python 0.3.x vendors).
"""

from __future__ import annotations

import shlex

from configspec.profiles.policy import Policy

FLAG_STYLES = ("new", "old")


def llama_cpp_flags(draft_file: str, policy: Policy, style: str = "new") -> list[str]:
    """Flags for llama-server's draft. A fixed K sets p-min 0, because llama.cpp otherwise stops
    drafting below its default p-min (0.75 in older releases) and K would not be fixed; n-min 0
    keeps every draft however short."""
    if style not in FLAG_STYLES:
        raise ValueError(f"style must be one of {FLAG_STYLES}")
    p_min = policy.tau or 0.0
    k_max = policy.k_max
    if style == "new":
        return ["--spec-type", "draft-simple", "--spec-draft-model", draft_file,
                "--spec-draft-n-max", str(k_max), "--spec-draft-n-min", "0",
                "--spec-draft-p-min", f"{p_min:g}"]  # fmt: skip
    return ["--model-draft", draft_file, "--draft-max", str(k_max), "--draft-min", "0",
            "--draft-p-min", f"{p_min:g}"]  # fmt: skip


def llama_cpp_command(flags: list[str], mode: str, temperature: float) -> str:
    sampling = ["--temp", "0"] if mode == "greedy" else ["--temp", f"{temperature:g}"]
    return shlex.join(["llama-server", "-m", "TARGET.gguf", *flags, *sampling])


def vllm_speculative_config(draft_file: str, policy: Policy) -> dict:
    """vLLM's draft-model speculation (`speculative_config={"method": "draft_model", ...}`).
    vLLM has no draft confidence threshold, so a tau policy maps to its K_max."""
    config: dict = {
        "method": "draft_model",
        "model": draft_file,
        "num_speculative_tokens": policy.k_max,
    }
    return config


def vllm_notes(draft_file: str, policy: Policy) -> list[str]:
    notes = []
    if policy.is_threshold:
        notes.append(
            f"vLLM has no draft confidence threshold: tau={policy.tau:g} is dropped and the "
            "draft always proposes num_speculative_tokens"
        )
    if draft_file.endswith(".gguf"):
        notes.append("vLLM loads GGUF only experimentally: point 'model' at the draft's HF repo")
    return notes
