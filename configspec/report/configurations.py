"""Every configuration's predicted metrics, from the analytic model, for the vs-K and Pareto plots.

recommendations.json keeps only the picks and the Pareto front; the plots also need the dominated
configurations. So the report re-evaluates the same space with the same pure model (search/space,
search/exact) from the profiles and the scenario recorded in the recommendations file, then marks
the front and the picks exactly as that file names them. Without a recommendations file it
evaluates with the default scenario and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from configspec.analytic.evaluate import energy_label
from configspec.analytic.scenario import Scenario, load_scenario
from configspec.errors import ConfigspecError
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


def _pick(paths: list[tuple[Path, Any]], wanted: str | None):
    """The profile the recommendations file names, else the newest one of that kind."""
    if wanted:
        for path, profile in paths:
            if Path(wanted).resolve() == path.resolve():
                return profile
    return max(paths, key=lambda item: item[0].stat().st_mtime)[1]


def _drafting(inputs: ReportInputs, wanted: list[str] | None):
    if wanted:
        chosen = {Path(w).resolve() for w in wanted}
        profiles = [p for path, p in inputs.drafting if path.resolve() in chosen]
        if profiles:
            return profiles
    newest: dict[str, tuple[float, Any]] = {}  # the newest profile per device
    for path, profile in inputs.drafting:
        mtime = path.stat().st_mtime
        device = profile.environment.device
        if device not in newest or mtime > newest[device][0]:
            newest[device] = (mtime, profile)
    return [p for _, p in newest.values()]


def _scenario(doc: dict | None) -> tuple[Scenario, str]:
    if doc and isinstance(doc.get("scenario"), dict):
        try:
            return Scenario.model_validate(doc["scenario"]), "recorded in the recommendations file"
        except ValidationError as exc:
            raise ConfigspecError(
                "the recommendations file's scenario does not validate "
                f"({exc.errors()[0]['msg']}); re-run `configspec recommend`"
            ) from exc
    return load_scenario(None), "default scenario (scenario.yaml here, else built-in defaults)"


def _limits(doc: dict | None, scenario: Scenario) -> Limits:
    recorded = (doc or {}).get("constraints")
    if isinstance(recorded, dict):
        return Limits(**{k: recorded.get(k) for k in Limits.__dataclass_fields__})
    c = scenario.constraints
    return Limits(c.min_goodput_tok_s, c.max_joules_per_token, c.max_usd_per_1m_tokens)


def _recorded_marks(doc: dict | None, device: str) -> tuple[set, dict[tuple, list[str]]] | None:
    """(front keys, key -> pick names) as the recommendations file names them for `device`."""
    for d in (doc or {}).get("devices", []):
        if d.get("device") == device:
            front = {(r["draft"], r["quant"], r["policy"]) for r in d.get("pareto_front", [])}
            picks: dict[tuple, list[str]] = {}
            for name, pick in d.get("picks", {}).items():
                key = (pick["draft"], pick["quant"], pick["policy"]["label"])
                picks.setdefault(key, []).append(name)
            return front, picks
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
        key = (str(space.draft[i]), str(space.quant[i]), space.policy(i))
        if marks is None:
            on_front, picks = pos in front_positions, computed_picks.get(pos, [])
        else:
            on_front, picks = key in marks[0], marks[1].get(key, [])
        tau = float(space.tau[i])
        out.append(ConfigPoint(
            device=space.device, draft=key[0], quant=key[1], k=int(space.k_max[i]),
            tau=None if math.isnan(tau) else tau,
            goodput_tok_s=float(m.goodput_tok_s[pos]),
            usd_per_1m_tokens=float(m.usd_per_1m_tokens[pos]),
            joules_per_token=float(m.joules_per_token[pos]), on_front=on_front,
            picks=tuple(picks),
            energy_source=energy_label(str(space.draft_power_source[i]), space.idle_source,
                                       space.server_energy_source),
            overlap=str(space.overlap[i]),
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
        recorded = (doc or {}).get("inputs", {})
        drafting = _drafting(inputs, recorded.get("drafting"))
        alignment = _pick(inputs.alignment, recorded.get("alignment"))
        verification = _pick(inputs.verification, recorded.get("verification"))
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
