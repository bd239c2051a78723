"""A fleet's input files on disk: hand-built drafting, alignment (with a traces .npz) and
verification profiles for the demo pair (fixtures with round numbers, never measurements), and a
fleet file naming them. The traces use prompts of configspec's own prompt set, so the demo
target's tokenizer gives their ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from configspec.alignment.traces import PromptTrace, pack_traces
from configspec.profiles.io import save_profile
from tests.builders import (
    alignment_profile,
    draft_cell,
    drafting_profile,
    iid_cell,
    verification_profile,
)

DRAFT, TARGET = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
PROMPT_IDS = ["code-01", "qa-01", "math-01"]


def write_inputs(folder: Path, quants=("Q4_K_M", "Q8_0"), n_tokens: int = 48) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    steps = {"Q4_K_M": 0.03, "Q8_0": 0.05}
    drafting = drafting_profile([draft_cell(DRAFT, q, {64: steps[q], 256: steps[q] * 1.2}, 8.0,
                                            target=TARGET) for q in quants], device="edge-a")  # fmt: skip
    save_profile(drafting, folder / "drafting.json")
    rng = np.random.default_rng(0)
    cells, arrays = [], {}
    for q, rate in zip(quants, (0.7, 0.8), strict=False):
        key = f"{TARGET}/{DRAFT}/{q}/greedy"
        traces = [PromptTrace(pid, rng.integers(100, 1000, n_tokens).astype(np.int32),
                              rng.random(n_tokens) < rate, rng.random(n_tokens).astype(np.float32),
                              np.zeros(n_tokens, np.uint8)) for pid in PROMPT_IDS]  # fmt: skip
        arrays.update(pack_traces(key, traces))
        cell = iid_cell(DRAFT, q, rate, k_max=8, taus=(0.5,)).model_copy(update={
            "target": TARGET, "traces_file": "alignment.traces.npz", "traces_key": key,
            "prompt_ids": PROMPT_IDS,
        })  # fmt: skip
        cells.append(cell)
    profile = alignment_profile(cells)
    profile.settings.prompts_file = "configspec/data/prompts.jsonl"
    np.savez_compressed(folder / "alignment.traces.npz", **arrays)
    save_profile(profile, folder / "alignment.json")
    verification = verification_profile(base_s=0.05, per_token_s=0.02, batches=(1, 2, 4, 8),
                                        contexts=(128, 256)).model_copy(update={"target": TARGET})  # fmt: skip
    save_profile(verification, folder / "verification.json")
    return {"drafting": folder / "drafting.json", "alignment": folder / "alignment.json",
            "verification": folder / "verification.json"}  # fmt: skip


def write_fleet(path: Path, files: dict[str, Path], groups: list[dict], **top) -> Path:
    data = {"schema_version": 1, "alignment": str(files["alignment"]),
            "verification": str(files["verification"]),
            "server": {"max_batch_choices": [1, 4], "batch_window_ms_choices": [0, 5]},
            "groups": [{"drafting": str(files["drafting"]), **g} for g in groups], **top}  # fmt: skip
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
