"""Everything a fleet needs, read and checked once: per group its device's drafting cell, the
draft's alignment traces and the prompts' token ids; the verification profile for the model.

Every problem is one line naming the group and what to do (a missing profile, a draft x quant the
profiles lack, a draft of another family than the traces' target, a policy past the traces' K).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from configspec.alignment.prompts import DEFAULT_PROMPTS, load_prompts
from configspec.alignment.traces import unpack_traces
from configspec.errors import ConfigspecError
from configspec.fleet.spec import Fleet, Group
from configspec.fleet.workload import PromptWork, StepSamples
from configspec.profiles.alignment import AlignmentCell, AlignmentProfile
from configspec.profiles.drafting import DeviceProfile, DraftCell
from configspec.profiles.io import load_profile
from configspec.profiles.verification import VerificationProfile
from configspec.registry.schema import ModelEntry, Registry
from configspec.search.space import check_same_target


@dataclass(frozen=True)
class Tokenizers:
    """What the emulation needs from the models' tokenizers (no weights are loaded)."""

    prompt_ids: dict[str, list[int]]  # prompt id -> chat-templated ids, as align tokenized them
    fingerprints: dict[str, str]  # draft name -> tokenizer fingerprint
    n_vocab: int


@dataclass(frozen=True)
class GroupInputs:
    group: Group
    device: str  # the drafting profile's device name
    draft: ModelEntry
    steps: StepSamples
    prompts: list[PromptWork]
    traces_target_sha256: str  # the target file the traces were made with
    draft_power_w: float
    draft_power_source: str
    idle_power_w: float
    idle_power_source: str


@dataclass(frozen=True)
class FleetInputs:
    fleet: Fleet
    target: ModelEntry
    alignment_path: Path
    alignment: AlignmentProfile
    verification_path: Path | None
    verification: VerificationProfile | None
    groups: list[GroupInputs]
    n_vocab: int


def _drafting_cell(group: Group, profile: DeviceProfile) -> DraftCell:
    for cell in profile.cells:
        if cell.draft == group.draft and cell.quant == group.quant:
            return cell
    have = ", ".join(f"{c.draft} {c.quant}" for c in profile.cells) or "none"
    raise ConfigspecError(f"group {group.name}: {group.drafting} has no {group.draft} "
                          f"{group.quant} (has: {have}); profile it with configspec profile")  # fmt: skip


def _alignment_cell(group: Group, alignment: AlignmentProfile, path: Path) -> AlignmentCell:
    for cell in alignment.cells:
        if cell.draft == group.draft and cell.quant == group.quant and cell.mode == "greedy":
            break
    else:
        have = ", ".join(f"{c.draft} {c.quant}" for c in alignment.cells if c.mode == "greedy")
        raise ConfigspecError(f"group {group.name}: the alignment profile {path} has no greedy "
                              f"traces of {group.draft} {group.quant} (has: {have or 'none'}); "
                              "run configspec align for it")  # fmt: skip
    k_max = len(cell.acceptance_by_position)
    if group.policy.k_max > k_max:
        raise ConfigspecError(f"group {group.name}: K = {group.policy.k_max} is past the traces' K "
                              f"max of {k_max}; pick K <= {k_max} or re-align with --k-max")  # fmt: skip
    if not cell.traces_file or not cell.traces_key:
        raise ConfigspecError(f"{path}: {cell.draft} {cell.quant} keeps no traces file; "
                              "re-run configspec align")  # fmt: skip
    return cell


def _traces(cell: AlignmentCell, path: Path, cache: dict) -> list:
    npz = path.parent / cell.traces_file
    if npz not in cache:
        if not npz.is_file():
            raise ConfigspecError(f"{path} names traces {npz.name}, which is not beside it; "
                                  "copy the .traces.npz with the profile")  # fmt: skip
        try:
            with np.load(npz) as arrays:
                cache[npz] = {k: arrays[k] for k in arrays.files}
        except (OSError, ValueError) as exc:
            raise ConfigspecError(f"{npz} is not a readable traces file: {exc}") from exc
    return unpack_traces(cache[npz], cell.traces_key, cell.prompt_ids)


def _model(registry: Registry, name: str, what: str) -> ModelEntry:
    try:
        return registry.get(name)
    except KeyError as exc:
        raise ConfigspecError(f"{what}: {name} is not in the model registry") from exc


class FleetReader:
    """Reads a fleet's profiles once and builds each group's inputs (also for groups set up by
    `recommend --fleet`, which tries many draft x quant x policy per group)."""

    def __init__(self, fleet: Fleet, registry: Registry, tokenizers: Tokenizers):
        self.fleet = fleet
        self.registry = registry
        self.tokenizers = tokenizers
        self.alignment = load_profile(fleet.alignment, AlignmentProfile)
        self.verification = (load_profile(fleet.verification, VerificationProfile)
                             if fleet.verification else None)  # fmt: skip
        targets = sorted({c.target for c in self.alignment.cells})
        if not targets:
            raise ConfigspecError(f"{fleet.alignment} has no cells")
        self.target = _model(registry, targets[0], str(fleet.alignment))
        v = self.verification
        if v is not None:
            if v.target != self.target.name:
                raise ConfigspecError(f"{fleet.verification} times {v.target}, the traces were "
                                      f"made with {self.target.name}; use profiles of one "
                                      "target")  # fmt: skip
            check_same_target(self.alignment, v)  # and of one target file
        self._traces: dict = {}
        self._drafting: dict[Path, DeviceProfile] = {}

    def drafting(self, group: Group) -> DeviceProfile:
        if group.drafting not in self._drafting:
            self._drafting[group.drafting] = load_profile(group.drafting, DeviceProfile)
        return self._drafting[group.drafting]

    def group(self, group: Group) -> GroupInputs:
        """One configured group's inputs; one line naming the group for anything missing."""
        target = self.target
        drafting = self.drafting(group)
        check_families([group], self.registry, target)
        draft = _model(self.registry, group.draft, f"group {group.name}")
        cell = _drafting_cell(group, drafting)
        a_cell = _alignment_cell(group, self.alignment, self.fleet.alignment)
        if a_cell.target != target.name:
            raise ConfigspecError(f"group {group.name}: its traces were made with "
                                  f"{a_cell.target}, the fleet's target is {target.name}")  # fmt: skip
        prompts = []
        for trace in _traces(a_cell, self.fleet.alignment, self._traces):
            ids = self.tokenizers.prompt_ids.get(trace.prompt_id)
            if ids is None:
                raise ConfigspecError(f"prompt {trace.prompt_id} of {self.fleet.alignment} is "
                                      "not in its prompt file any more")  # fmt: skip
            prompts.append(PromptWork(trace.prompt_id, ids, trace.tokens, trace.match,
                                      trace.confidence))  # fmt: skip
        powers = [d.power_w.mean for d in cell.decode]
        return GroupInputs(
            group=group, device=drafting.environment.device, draft=draft,
            steps=StepSamples.of(cell.decode), prompts=prompts,
            traces_target_sha256=a_cell.target_sha256, draft_power_w=float(np.mean(powers)),
            draft_power_source="+".join(sorted({d.power_source for d in cell.decode})),
            idle_power_w=drafting.power.idle_power_w, idle_power_source=drafting.power.idle_source,
        )  # fmt: skip

    def inputs(self, groups: list[GroupInputs], fleet: Fleet | None = None) -> FleetInputs:
        fleet = fleet or self.fleet
        return FleetInputs(fleet, self.target, fleet.alignment, self.alignment,
                           fleet.verification, self.verification, groups,
                           self.tokenizers.n_vocab)  # fmt: skip


def load_fleet_inputs(fleet: Fleet, registry: Registry, tokenizers: Tokenizers) -> FleetInputs:
    """Read and check every profile the fleet names (`tokenizers` from load_tokenizers)."""
    reader = FleetReader(fleet, registry, tokenizers)
    return reader.inputs([reader.group(g) for g in fleet.groups])


def prompt_file(alignment: AlignmentProfile) -> Path | None:
    """The prompt file the traces were made from (None: configspec's own set)."""
    name = alignment.settings.prompts_file
    return None if name == DEFAULT_PROMPTS else Path(name)


def check_families(groups: list[Group], registry: Registry, target: ModelEntry) -> None:
    """Every named draft shares the target's tokenizer family (before any model is opened)."""
    for group in groups:
        if group.draft is None:
            continue
        draft = _model(registry, group.draft, f"group {group.name}")
        if draft.family != target.family:
            raise ConfigspecError(f"group {group.name}: draft {draft.name} is of family "
                                  f"{draft.family!r}, the server's target {target.name} of "
                                  f"{target.family!r}; a draft must share its target's "
                                  "tokenizer")  # fmt: skip


def load_tokenizers(fleet: Fleet, registry: Registry) -> Tokenizers:
    """Tokenize the traces' prompts with the target's chat template (as `configspec align` did)
    and fingerprint every draft's tokenizer, from the GGUF vocabularies alone (no weights)."""
    from configspec.alignment.sweep import chat_tokens
    from configspec.alignment.tokenizers import tokenizer_fingerprint
    from configspec.runners.llama_cpp import LlamaCppRunner
    from configspec.sources.resolve import model_file

    alignment = load_profile(fleet.alignment, AlignmentProfile)
    if not alignment.cells:
        raise ConfigspecError(f"{fleet.alignment} has no cells")
    wanted = {i for c in alignment.cells for i in c.prompt_ids}
    prompts = [p for p in load_prompts(prompt_file(alignment)) if p.id in wanted]

    def vocab(model: ModelEntry) -> LlamaCppRunner:
        if model.backend != "llama_cpp":
            raise ConfigspecError(f"{model.name}: fleet emulation reads GGUF vocabularies; "
                                  "register a llama_cpp model")  # fmt: skip
        return LlamaCppRunner(model_file(model, model.quant), threads=1, n_ctx=64,
                              vocab_only=True)  # fmt: skip

    target = _model(registry, alignment.cells[0].target, str(fleet.alignment))
    check_families(fleet.groups, registry, target)
    runner = vocab(target)
    try:
        prompt_ids = {p.id: chat_tokens(runner, p) for p in prompts}
        n_vocab = runner.n_vocab
    finally:
        runner.close()
    fingerprints = {}
    for name in sorted({g.draft for g in fleet.groups if g.draft}):
        draft = _model(registry, name, "fleet")
        runner = vocab(draft)
        try:
            fingerprints[name] = tokenizer_fingerprint(runner)
        finally:
            runner.close()
    return Tokenizers(prompt_ids, fingerprints, n_vocab)
