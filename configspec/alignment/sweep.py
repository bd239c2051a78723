"""Align every draft x quantization with its target over a prompt set, saving after each prompt.

Per target: load it and all its drafts (each checked for the target's tokenizer), then per
prompt: the target writes a greedy and a sampled continuation, every draft reads both in one
teacher-forced pass each, and every cell's figures are updated and the files rewritten
(atomically), so Ctrl-C or a crash keeps every finished prompt.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from configspec.alignment.prompts import Prompt
from configspec.alignment.rollouts import MAX_FORKS, rollouts
from configspec.alignment.summarize import (
    PromptSummary,
    summarize_cell,
    summarize_prompt,
)
from configspec.alignment.tokenizers import check_same_tokenizer
from configspec.alignment.traces import (
    PromptTrace,
    draft_logits,
    generate,
    pack_traces,
    position_stats,
    prompt_rng,
)
from configspec.atomic_io import atomic_open
from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentCell, AlignmentProfile, AlignmentSettings
from configspec.profiles.io import default_output as profile_path
from configspec.profiles.io import save_profile
from configspec.profiling.drafting_sweep import Cell
from configspec.registry.schema import ModelEntry, Registry
from configspec.runners import open_runner
from configspec.runners.base import Runner
from configspec.sources.cache import model_sha256
from configspec.sources.resolve import model_file

N_CTX = 4096


def default_output(device: str) -> Path:
    return profile_path(device, "alignment")


def traces_path(out: Path) -> Path:
    return out.with_name(out.stem + ".traces.npz")


def group_by_target(registry: Registry, cells: list[Cell]) -> list[tuple[ModelEntry, list[Cell]]]:
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.model.target or "", []).append(cell)
    return [(registry.get(name), group) for name, group in groups.items()]


@dataclass
class _CellState:
    """Everything accumulated for one draft x quant x mode."""

    template: AlignmentCell  # identity fields; figures are filled in by _figures
    traces: list[PromptTrace] = field(default_factory=list)
    summaries: list[PromptSummary] = field(default_factory=list)

    @property
    def key(self) -> str:
        t = self.template
        return f"{t.target}/{t.draft}/{t.quant}/{t.mode}"


def _cell_template(
    cell: Cell, mode: str, target: ModelEntry, settings: AlignmentSettings, hashes: dict[Path, str],
    draft_path: Path, target_path: Path, loaded: tuple[str | None, str | None] = (None, None),
) -> AlignmentCell:  # fmt: skip
    """A cell's identity; `loaded` is what the draft and target runners loaded (their precision,
    where the backend chooses it) and is recorded over the registry's quantizations."""
    for path in (draft_path, target_path):
        if path not in hashes:
            hashes[path] = model_sha256(path)
    return AlignmentCell(
        draft=cell.model.name, quant=loaded[0] or cell.quant, draft_sha256=hashes[draft_path],
        target=target.name, target_quant=loaded[1] or target.serving_quant,
        target_sha256=hashes[target_path],
        mode=mode, temperature=settings.temperature if mode == "sampled" else 0.0, n_prompts=0,
        n_positions=0, acceptance_rate=0.0, acceptance_by_position=[], fixed_k=[],
        iid_tokens_per_round=[],
        confidence="max_q_at_temperature" if mode == "sampled" else "argmax_prob_t1",
    )  # fmt: skip


def _figures(state: _CellState, settings: AlignmentSettings, traces_file: str) -> AlignmentCell:
    figures = summarize_cell(
        state.traces, state.summaries, settings.k_max, tuple(settings.tau_grid)
    )
    return state.template.model_copy(
        update=dict(
            n_prompts=len(state.traces),
            traces_file=traces_file,
            traces_key=state.key,
            prompt_ids=[t.prompt_id for t in state.traces],
            **figures.__dict__,
        )  # fmt: skip
    )


def _save_traces(out: Path, states: list[_CellState]) -> None:
    """Rewrite the .npz. It is written before the JSON, whose cells then never name a prompt the
    .npz lacks (traces only grow by whole prompts, appended at the end)."""
    arrays: dict[str, np.ndarray] = {}
    for state in states:
        if state.traces:
            arrays.update(pack_traces(state.key, state.traces))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with atomic_open(traces_path(out), "wb") as handle:
        handle.write(buffer.getvalue())


def _open_forks(draft: Runner, settings: AlignmentSettings) -> None:
    """Room for the rollouts past each wrong token (alignment/rollouts.py), where the draft's
    runner can fork its cache; without it greedy thresholds are walked approximately."""
    try:
        draft.open_forks(MAX_FORKS, max(1, settings.k_max - 1))
    except NotImplementedError:
        pass


def _run_on_past_misses(draft: Runner, prompt_tokens: list[int], trace: PromptTrace,
                        rows: np.ndarray, settings: AlignmentSettings) -> None:  # fmt: skip
    """The trace's confidences past each wrong token (alignment/rollouts.py), K max - 1 tokens
    at most, down to the grid's smallest tau."""
    trace.confidence_past_miss, trace.llama_cpp_confidence_past_miss = rollouts(
        draft, prompt_tokens, trace.tokens, rows, trace.match, trace.llama_cpp_confidence,
        settings.k_max - 1, min(settings.tau_grid),
    )  # fmt: skip


def chat_tokens(target: Runner, prompt: Prompt) -> list[int]:
    try:
        text = target.chat_prompt([m.model_dump() for m in prompt.messages])
    except NotImplementedError as exc:
        raise ConfigspecError(
            f"the {target.backend} runner cannot apply a chat template yet, so it cannot align"
        ) from exc
    return target.tokenize(text, add_special=True)


def align_target(
    target_model: ModelEntry, cells: list[Cell], prompts: list[Prompt], settings: AlignmentSettings,
    threads: int, profile: AlignmentProfile, out: Path, on_step: Callable[[str, str], None] = lambda phase, text: None,
    on_prompt: Callable[[str], None] = lambda _: None,
) -> None:  # fmt: skip
    """Align `cells` (drafts of one target) over `prompts`, appending cells to `profile`."""
    target_path = model_file(target_model, target_model.serving_quant)
    draft_paths = [model_file(c.model, c.quant) for c in cells]
    hashes: dict[Path, str] = {}
    runners: list[Runner] = []
    try:
        target = open_runner(target_model.backend, target_path, threads=threads, n_ctx=N_CTX,
                             quant=target_model.serving_quant)  # fmt: skip
        runners.append(target)
        drafts = []
        for cell, path in zip(cells, draft_paths, strict=True):
            draft = open_runner(cell.model.backend, path, threads=threads, n_ctx=N_CTX,
                                quant=cell.quant)  # fmt: skip
            runners.append(draft)
            check_same_tokenizer(draft, target, f"{cell.label}", target_model.name)
            if "greedy" in settings.modes:
                _open_forks(draft, settings)
            drafts.append(draft)
        states = [
            _CellState(
                _cell_template(
                    c,
                    mode,
                    target_model,
                    settings,
                    hashes,
                    p,
                    target_path,
                    (d.precision, target.precision),
                )
            )  # fmt: skip
            for c, p, d in zip(cells, draft_paths, drafts, strict=True)
            for mode in settings.modes
        ]
        start = len(profile.cells)
        stop = target.stop_tokens()
        for prompt in prompts:
            tokens = chat_tokens(target, prompt)
            if len(tokens) + settings.new_tokens > N_CTX:
                raise ConfigspecError(
                    f"prompt {prompt.id} has {len(tokens)} tokens; with {settings.new_tokens} new "
                    f"tokens it exceeds the {N_CTX}-token context: shorten it"
                )
            on_step(target_model.name, f"{target_model.name} writes {prompt.id} (greedy)")
            continuations = [generate(target, tokens, settings.new_tokens, 0.0, None, stop)]
            if "sampled" in settings.modes:
                on_step(
                    target_model.name,
                    f"{target_model.name} writes {prompt.id} (T={settings.temperature:g})",
                )
                rng = prompt_rng(settings.seed, prompt.id)
                continuations.append(
                    generate(target, tokens, settings.new_tokens, settings.temperature, rng, stop)
                )
            for c_index, (cell, draft) in enumerate(zip(cells, drafts, strict=True)):
                on_step(cell.label, f"{cell.label} reads {prompt.id}")
                rows = draft_logits(draft, tokens, [c.tokens for c in continuations])
                for m_index, mode in enumerate(settings.modes):
                    cont = continuations[m_index]
                    sampled = mode == "sampled"
                    trace = position_stats(
                        prompt.id, cont.tokens, rows[m_index],
                        cont.logits if sampled else None, settings.temperature if sampled else 0.0,
                    )  # fmt: skip
                    if not sampled and draft.max_forks and settings.tau_grid:
                        on_step(cell.label, f"{cell.label} drafts on from its misses")
                        _run_on_past_misses(draft, tokens, trace, rows[m_index], settings)
                    state = states[c_index * len(settings.modes) + m_index]
                    state.traces.append(trace)
                    state.summaries.append(
                        summarize_prompt(
                            trace,
                            settings.k_max,
                            tuple(settings.tau_grid),
                            settings.monte_carlo_passes,
                            settings.seed,
                        )  # fmt: skip
                    )
            updated = [_figures(s, settings, traces_path(out).name) for s in states]
            _save_traces(out, states)
            profile.cells[start:] = updated
            save_profile(profile, out)
            on_prompt(prompt.id)
    except KeyboardInterrupt:
        profile.interrupted = True
        if profile.cells:
            save_profile(profile, out)
        raise
    finally:
        for runner in runners:
            runner.close()
