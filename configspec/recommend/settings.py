"""Ready-to-use settings for a recommended configuration: llama.cpp server flags, vLLM's
`speculative_config`, and the `configspec serve` / `configspec edge` command lines.

llama.cpp renamed its speculative flags (PR ggml-org/llama.cpp#22397, docs #22539, 2026):
`--draft-max/--draft-min/--draft-p-min` became `--spec-draft-n-max/--spec-draft-n-min/
--spec-draft-p-min`, and `-md/--model-draft` is spelled `--spec-draft-model` with `--spec-type
draft-simple` naming the classic draft-model method. `new` writes the current spelling (what
llama-cpp-python 0.3.36 vendors: it refuses `--draft-max`), `old` the spelling of earlier
releases.
"""

from __future__ import annotations

import shlex

from configspec.profiles.policy import Policy
from configspec.recommend.schema import Deploy

FLAG_STYLES = ("new", "old")
SERVE_PORT = 50051


def llama_cpp_flags(draft_file: str, policy: Policy, style: str = "new") -> list[str]:
    """Flags for llama-server's draft. A fixed K sets p-min 0, because llama.cpp otherwise stops
    drafting below its default p-min (0.75 in older releases) and K would not be fixed; n-min 0
    keeps every draft however short. No flags when the policy does not speculate."""
    if style not in FLAG_STYLES:
        raise ValueError(f"style must be one of {FLAG_STYLES}")
    if not policy.speculates:
        return []
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


def llama_cpp_notes(policy: Policy) -> list[str]:
    if not policy.speculates:
        return ["no draft model: llama.cpp decodes with the target alone"]
    if policy.is_threshold:
        return ["p-min is compared with llama.cpp's own confidence (the top token's probability "
                "over the draft's top 10 logits), which is what the search walked"]  # fmt: skip
    return ["p-min 0: llama.cpp never stops a draft early, so every round drafts K tokens"]


def vllm_speculative_config(draft_file: str, policy: Policy) -> dict | None:
    """vLLM's draft-model speculation (`speculative_config={"method": "draft_model", ...}`),
    a fixed K (vLLM has no draft confidence threshold); None when the policy does not
    speculate (serve the target without it)."""
    if not policy.speculates:
        return None
    return {"method": "draft_model", "model": draft_file, "num_speculative_tokens": policy.k_max}


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
                    policy: Policy) -> Deploy:  # fmt: skip
    """`configspec serve` where the target runs and `configspec edge` on the device."""
    serve = ["configspec", "serve", "--model", target, "--quant", target_quant,
             "--port", str(SERVE_PORT)]  # fmt: skip
    edge = ["configspec", "edge", "--server", f"HOST:{SERVE_PORT}", "--draft", draft,
            "--quant", draft_quant]  # fmt: skip
    if policy.is_threshold:
        edge += ["--tau", f"{policy.tau:g}", "--k-max", str(policy.k_max)]
    else:
        edge += ["--k", str(policy.k_max)]
    return Deploy(serve=shlex.join(serve), edge=shlex.join(edge))
