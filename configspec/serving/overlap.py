"""What the edge's drafting did and cost: proactive drafting's reuse and waste, and the energy of
the draft's work (the drafting profile's power x the time the draft ran), labelled measured or
estimated as that power is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from configspec.analytic.inputs import draft_timing
from configspec.errors import ConfigspecError
from configspec.profiles.drafting import DeviceProfile, DraftCell
from configspec.profiles.io import load_profile
from configspec.profiles.serving import DraftEnergy, EdgeRoundSample, OverlapSummary


@dataclass(frozen=True)
class DraftPower:
    """A drafting profile's cell: its power, interpolated in context (analytic/inputs.py)."""

    profile: Path
    cell: DraftCell

    def at(self, context_tokens: int) -> tuple[float, str]:
        """(watts, source) at `context_tokens`."""
        timing = draft_timing(self.cell, context_tokens)
        return timing.power_w, timing.power_source


def find_draft_power(
    path: Path | None, results: Path, device: str, draft: str, quant: str
) -> DraftPower | None:
    """The drafting profile's cell of `draft` `quant`: from `path` (refused in one line when it
    lacks the cell), else from the newest results/<device>/drafting-*.json that has it, else
    None."""
    if path is not None:
        candidates = [Path(path)]
    else:
        folder = Path(results) / device
        found = folder.glob("drafting-*.json") if folder.is_dir() else []
        candidates = sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in candidates:
        profile = load_profile(candidate, DeviceProfile)
        cell = next((c for c in profile.cells if c.draft == draft and c.quant == quant), None)
        if cell is not None:
            return DraftPower(candidate, cell)
    if path is not None:
        raise ConfigspecError(f"{path} has no {draft} {quant} cell; profile it with "
                              f"`configspec profile --drafts {draft} --quants {quant}`")  # fmt: skip
    return None


def wasted_draft_s(r: EdgeRoundSample) -> float:
    """The pre-drafting time of a round's discarded tokens (their share of its pre-drafting)."""
    return r.predraft_s * r.wasted / r.predrafted if r.predrafted else 0.0


def overlap_summary(rounds: list[EdgeRoundSample]) -> OverlapSummary:
    pre = [r for r in rounds if r.predrafted]
    hits = sum(r.reuse_hit for r in pre)
    return OverlapSummary(
        rounds_pre_drafting=len(pre), reuse_hits=hits, reuse_rate=hits / len(pre) if pre else 0.0,
        predrafted_tokens=sum(r.predrafted for r in rounds),
        carried_tokens=sum(r.carried for r in rounds), wasted_tokens=sum(r.wasted for r in rounds),
        wasted_draft_s=sum(map(wasted_draft_s, rounds)),
        late_s_per_round=sum(r.late_s for r in rounds) / len(rounds) if rounds else 0.0,
    )  # fmt: skip


def draft_energy(
    rounds: list[EdgeRoundSample], tokens: int, power: DraftPower, context_tokens: int
) -> DraftEnergy:
    """Energy of all the draft's work (its own drafting and pre-drafting) and of the wasted part,
    at the drafting profile's power at `context_tokens`."""
    power_w, source = power.at(context_tokens)
    busy_s = sum(r.draft_s + r.predraft_s for r in rounds)
    wasted_j = power_w * sum(map(wasted_draft_s, rounds))
    per = 1.0 / tokens if tokens else 0.0
    return DraftEnergy(
        profile=str(power.profile), power_w=power_w, power_source=source,
        context_tokens=context_tokens, draft_j_per_token=power_w * busy_s * per,
        wasted_draft_j=wasted_j, wasted_draft_j_per_token=wasted_j * per,
    )  # fmt: skip
