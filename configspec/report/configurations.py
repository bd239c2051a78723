"""Every configuration's predicted metrics, from the analytic model, for the vs-K and Pareto plots.

recommendations.json keeps only the picks and the Pareto front; the plots also need the dominated
configurations. So the report re-evaluates the same space with the same pure model (search/space,
search/exact) from the profiles and the scenario recorded in the recommendations file, then marks
the front and the picks exactly as that file names them. Without a recommendations file it
evaluates with the default scenario and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from configspec.analytic.scenario import Scenario, load_scenario
from configspec.errors import ConfigspecError
from configspec.profiles.discover import Found, newest, newest_per_device
from configspec.recommend.schema import Recommendations
from configspec.report.collect import ReportInputs
from configspec.report.data import ConfigPoint
from configspec.search.exact import DeviceResult, Limits, enumerate_device
from configspec.search.space import build_spaces


@dataclass
class ModelView:
    points: list[ConfigPoint] = field(default_factory=list)
    scenario: dict[str, Any] | None = None
    scenario_origin: str = ""
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why


def _found(kind: str, items: list[tuple[Path, Any]]) -> list[Found]:
    return [Found(path, kind, profile) for path, profile in items]


def _pick(kind: str, items: list[tuple[Path, Any]], wanted: str | None):
    """The profile the recommendations file names, else the newest one of that kind."""
    if wanted:
        for path, profile in items:
            if Path(wanted).resolve() == path.resolve():
                return profile
    return newest(_found(kind, items)).profile


def _drafting(items: list[tuple[Path, Any]], wanted: list[str] | None):
    """The drafting profiles the recommendations file names, else the newest per device."""
    if wanted:
        chosen = {Path(w).resolve() for w in wanted}
        profiles = [p for path, p in items if path.resolve() in chosen]
        if profiles:
            return profiles
    return [f.profile for f in newest_per_device(_found("drafting", items))]


def _scenario(doc: Recommendations | None) -> tuple[Scenario, str]:
    if doc is not None:
        return doc.scenario, "recorded in the recommendations file"
    return load_scenario(None), "default scenario (scenario.yaml here, else built-in defaults)"


def _limits(doc: Recommendations | None, scenario: Scenario) -> Limits:
    if doc is not None:
        return Limits(**doc.constraints.model_dump())
    c = scenario.constraints
    return Limits(c.min_goodput_tok_s, c.max_joules_per_token, c.max_usd_per_1m_tokens)


def _recorded_marks(doc: Recommendations | None, device: str):
    """(front labels, label -> pick names) as the recommendations file names them for `device`."""
    for d in doc.devices if doc is not None else []:
        if d.device == device:
            picks: dict[str, list[str]] = {}
            for name, pick in d.picks.items():
                picks.setdefault(pick.label, []).append(name)
            return {r.label for r in d.pareto_front}, picks
    return None


def _points(result: DeviceResult, marks) -> list[ConfigPoint]:
    space, m = result.space, result.metrics
    front_positions = set(int(p) for p in result.front)
    computed_picks: dict[int, list[str]] = {}
    for name, pos in result.picks.items():
        computed_picks.setdefault(int(pos), []).append(name)
    out = []
    for pos in range(len(result.rows)):
        i = result.index(pos)
        label = space.label(i)
        if marks is None:
            on_front, picks = pos in front_positions, computed_picks.get(pos, [])
        else:
            on_front, picks = label in marks[0], marks[1].get(label, [])
        out.append(ConfigPoint(
            device=space.device, draft=str(space.draft[i]), quant=str(space.quant[i]),
            policy=space.policy[i], runs=str(space.runs[i]), label=label,
            goodput_tok_s=float(m.goodput_tok_s[pos]),
            usd_per_1m_tokens=float(m.usd_per_1m_tokens[pos]),
            joules_per_token=float(m.joules_per_token[pos]), on_front=on_front,
            picks=tuple(picks), energy_source=str(space.energy_source[i]),
        ))  # fmt: skip
    return out


def model_view(inputs: ReportInputs) -> ModelView:
    """Evaluate every configuration; problems become notes (the report says what is missing)."""
    view = ModelView()
    doc = inputs.recommendations[1] if inputs.recommendations else None
    if not (inputs.drafting and inputs.alignment and inputs.verification):
        return view  # data.missing_items names the missing profile kinds
    try:
        scenario, view.scenario_origin = _scenario(doc)
        view.scenario = scenario.model_dump(mode="json")
        recorded = doc.inputs if doc is not None else None
        drafting = _drafting(inputs.drafting, recorded and recorded.drafting)
        alignment = _pick("alignment", inputs.alignment, recorded and recorded.alignment)
        verification = _pick("verification", inputs.verification,
                             recorded and recorded.verification)  # fmt: skip
        spaces, skipped = build_spaces(drafting, alignment, verification, scenario)
        w = scenario.weights
        weights = np.array([w.goodput, w.cost, w.energy], float)
        limits = _limits(doc, scenario)
        for space in spaces:
            try:
                result = enumerate_device(space, limits, weights)
            except ConfigspecError as exc:
                view.notes.append(f"{space.device}: {exc}; plotted without the constraints")
                result = enumerate_device(space, Limits(), weights)
            marks = _recorded_marks(doc, space.device)
            if doc is not None and marks is None:
                view.notes.append(f"{space.device}: not in the recommendations file; front and "
                                  "picks computed by the report")  # fmt: skip
            view.points.extend(_points(result, marks))
        for device in skipped:
            view.notes.append(f"{device}: no drafted cell has alignment data; run `configspec "
                              "align` for its drafts")  # fmt: skip
    except ConfigspecError as exc:
        view.notes.append(f"analytic model not evaluated: {exc}")
    return view
