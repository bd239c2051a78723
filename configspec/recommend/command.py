"""`configspec recommend`: profiles + scenario -> search per device -> table + recommendations file.

The picks are configspec's own split (the device drafts, the server verifies) searched over every
draft x quant x policy and over not speculating at all. Each pick also carries, per engine
(llama.cpp, vLLM), that engine's own best configuration for the same objective, searched within
what the engine runs and evaluated as it runs it (search/engines.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from configspec.analytic.baselines import model_on_device_row
from configspec.analytic.evaluate import RoundInputs, evaluate
from configspec.analytic.scenario import Scenario, load_scenario
from configspec.atomic_io import write_json_atomic, write_text_atomic
from configspec.errors import ConfigspecError
from configspec.output import print_json
from configspec.progress import console, step_progress
from configspec.recommend.discover import Inputs, find_inputs
from configspec.recommend.schema import (
    Configuration,
    Constraints,
    DeviceRecommendation,
    EngineSettings,
    FrontPoint,
    InputFiles,
    Pick,
    Predicted,
    ProactiveVerdict,
    Recommendations,
    Reference,
    VersusTarget,
)
from configspec.recommend.settings import (
    deploy_commands,
    llama_cpp_command,
    llama_cpp_flags,
    llama_cpp_notes,
    vllm_notes,
    vllm_speculative_config,
)
from configspec.recommend.table import print_device
from configspec.search.engines import CONFIGSPEC, LLAMA_CPP, VLLM, Engine
from configspec.search.exact import DeviceResult, Limits, enumerate_device
from configspec.search.space import TARGET_ON_SERVER, Space, build_spaces

# Optuna: a suggestion already evaluated costs nothing, so trials may exceed the budget of
# evaluations; this caps them (a small space may never yield its last configurations).
TRIALS_PER_EVALUATION = 5
OBJECTIVE_UNITS = {"goodput": ("goodput_tok_s", "{:.2f} tok/s"),
                   "cost": ("usd_per_1m_tokens", "${:.3f} per 1M tokens"),
                   "energy": ("joules_per_token", "{:.3f} J/token")}  # fmt: skip


@dataclass
class RecommendOptions:
    results: Path = Path("results")
    drafting: list[Path] | None = None
    alignment: Path | None = None
    verification: Path | None = None
    scenario: Path | None = None
    min_goodput: float | None = None
    max_joules_per_token: float | None = None
    max_cost: float | None = None
    method: str = "exact"
    objective: str = "all"
    sampler: str = "nsga2"
    evaluations: int | None = None  # optuna: distinct configurations per device
    storage: str | None = None
    seed: int | None = 0
    flags: str = "new"
    out_dir: Path | None = None
    json: bool = False  # print the recommendations as JSON on stdout instead of the tables


def limits_from(scenario: Scenario, options: RecommendOptions) -> Limits:
    """CLI flags override the scenario's constraints."""
    c = scenario.constraints
    return Limits(
        min_goodput_tok_s=options.min_goodput if options.min_goodput is not None
        else c.min_goodput_tok_s,
        max_joules_per_token=options.max_joules_per_token
        if options.max_joules_per_token is not None else c.max_joules_per_token,
        max_usd_per_1m_tokens=options.max_cost if options.max_cost is not None
        else c.max_usd_per_1m_tokens,
    )  # fmt: skip


def _search(spaces, limits: Limits, weights: np.ndarray, options: RecommendOptions):
    if options.method == "exact":
        return [enumerate_device(space, limits, weights) for space in spaces]
    if options.method != "optuna":
        raise ConfigspecError(f"--method must be exact or optuna, not {options.method!r}")
    from configspec.search.optuna_search import search_device

    results = []
    for space in spaces:
        budget = min(len(space), options.evaluations or max(50, math.ceil(0.1 * len(space))))
        with step_progress(f"optuna on {space.device}", budget) as bar:
            advance = bar[0]  # the first element advances the bar
            results.append(search_device(
                space, limits, weights, TRIALS_PER_EVALUATION * budget, options.storage,
                options.objective, options.seed, on_evaluation=advance,
                sampler_name=options.sampler, max_evaluations=budget,
            ))  # fmt: skip
    return results


def _optional(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def configuration(result: DeviceResult, position: int) -> Configuration:
    """One evaluated row as the file writes it."""
    space, m = result.space, result.metrics
    i = result.index(position)
    row = m.row(position)
    target_alone = result.metrics.row(_target_alone_position(result))
    speculates = space.speculates(i)
    return Configuration(
        runs=str(space.runs[i]), draft=str(space.draft[i]) if speculates else None,
        quant=str(space.quant[i]), policy=space.policy[i],
        overlap=str(space.overlap[i]), label=space.label(i),
        predicted=Predicted(
            goodput_tok_s=row["goodput_tok_s"], usd_per_1m_tokens=row["usd_per_1m_tokens"],
            server_usd_per_1m_tokens=row["server_usd_per_1m"],
            edge_usd_per_1m_tokens=row["edge_usd_per_1m"],
            joules_per_token=row["joules_per_token"], energy_source=str(space.energy_source[i]),
            tokens_per_round=float(space.inputs.tokens[i]),
            drafted_per_round=float(space.inputs.drafted[i]), round_s=row["round_s"],
            draft_s=row["draft_s"], network_s=row["net_s"], verify_s=row["verify_s"],
            bytes_up_per_round=row["bytes_up"],
            wasted_draft_j_per_token=row["wasted_draft_j_per_token"],
            devices_per_server=None if not math.isfinite(row["devices_supported"])
            else int(row["devices_supported"]),
            # server capacity: B sequences per call of t_v(D, B) seconds (SLED/SpecEdge)
            server_rounds_per_s=_optional(space.terms.batch / row["verify_s"])
            if row["verify_s"] > 0 else None,
        ),
        vs_target_autoregressive=VersusTarget(
            speedup=row["goodput_tok_s"] / target_alone["goodput_tok_s"],
            cost_saving=1.0 - row["usd_per_1m_tokens"] / target_alone["usd_per_1m_tokens"]
            if target_alone["usd_per_1m_tokens"] > 0 else None,
            energy_saving=1.0 - row["joules_per_token"] / target_alone["joules_per_token"],
        ),
    )  # fmt: skip


def _target_alone_position(result: DeviceResult) -> int:
    """Where the target alone on the server sits among the evaluated rows (Optuna may not have
    evaluated it: then it is evaluated here, as every pick is compared with it)."""
    (row,) = result.space.rows_where(TARGET_ON_SERVER)
    hits = np.flatnonzero(result.rows == row)
    if len(hits):
        return int(hits[0])
    raise ConfigspecError("internal: the target-alone row was not evaluated")


def _with_target_alone(result: DeviceResult, limits: Limits, weights: np.ndarray) -> DeviceResult:
    """Optuna evaluates a sample; the target alone is always evaluated too (it is the yardstick,
    and a candidate like any other)."""
    (row,) = result.space.rows_where(TARGET_ON_SERVER)
    if row in set(result.rows.tolist()):
        return result
    from configspec.search.exact import summarise

    rows = np.sort(np.append(result.rows, row))
    metrics = evaluate(result.space.inputs.take(rows), result.space.terms)
    return summarise(result.space, rows, metrics, limits, weights, result.method)


def _baselines(result: DeviceResult) -> list[Reference]:
    space = result.space
    out = []
    for position, i in enumerate(result.rows):
        if not space.speculates(int(i)):
            m = result.metrics.row(position)
            out.append(Reference(
                name=space.label(int(i)), goodput_tok_s=m["goodput_tok_s"],
                usd_per_1m_tokens=m["usd_per_1m_tokens"], joules_per_token=m["joules_per_token"],
                energy_source=str(space.energy_source[int(i)]),
            ))  # fmt: skip
    return out


def _draft_alone(space: Space, i: int) -> Reference | None:
    """The draft decoding alone on the device: a reference (another model's output)."""
    if not space.speculates(i):
        return None
    inputs = RoundInputs.of_rows([model_on_device_row(float(space.inputs.step_s[i]),
                                                      float(space.inputs.draft_w[i]))])  # fmt: skip
    m = evaluate(inputs, space.terms).row(0)
    return Reference(name=f"draft alone on {space.device}", goodput_tok_s=m["goodput_tok_s"],
                     usd_per_1m_tokens=m["usd_per_1m_tokens"],
                     joules_per_token=m["joules_per_token"],
                     energy_source=str(space.draft_power_source[i]))  # fmt: skip


def summary_sentence(
    objective: str, chosen: Configuration, best_speculative: Configuration | None
) -> str:
    """The pick in words: speculate with what, or run the target alone and why."""
    if objective == "balanced":
        value = "the balance of goodput, cost and energy"
    else:
        field, unit = OBJECTIVE_UNITS[objective]
        value = unit.format(getattr(chosen.predicted, field))
    if chosen.speculates:
        speedup = chosen.vs_target_autoregressive.speedup
        return (f"Speculate: {chosen.label} gives {value} ({speedup:.2f}x the target alone's "
                "goodput).")  # fmt: skip
    where = "on the server" if chosen.runs == TARGET_ON_SERVER else "on the device"
    text = f"Do not speculate: run the target alone {where} ({value})."
    if best_speculative is None:
        return text + " No speculative configuration meets the constraints."
    if objective == "balanced":
        other = "is not on a better balance"
    else:
        field, unit = OBJECTIVE_UNITS[objective]
        other = f"gives {unit.format(getattr(best_speculative.predicted, field))}"
    return text + f" The best speculative configuration, {best_speculative.label}, {other}."


def _engine_settings(engine: Engine, result: DeviceResult, position: int,
                     scenario: Scenario, flags: str) -> EngineSettings:  # fmt: skip
    space = result.space
    i = result.index(position)
    chosen = configuration(result, position)
    inputs = space.inputs.take([i])
    colocated = evaluate(dataclasses.replace(inputs, network=np.zeros(1)), space.terms)
    draft_file = str(space.file[i])
    policy = space.policy[i]
    if engine is LLAMA_CPP:
        llama = llama_cpp_flags(draft_file, policy, flags)
        settings = {
            "flags_style": flags,
            "flags": llama,
            "command": llama_cpp_command(llama, scenario.mode, scenario.temperature),
        }
        notes = llama_cpp_notes(policy, flags)
    else:
        settings = {"speculative_config": vllm_speculative_config(draft_file, policy)}
        notes = vllm_notes(draft_file, policy)
    if not space.speculates(i):
        notes = notes + [f"{chosen.runs}: no speculative configuration beats it here"]
    return EngineSettings(
        engine=engine.name, configuration=chosen,
        colocated_goodput_tok_s=float(colocated.goodput_tok_s[0]), settings=settings,
        notes=notes,
    )  # fmt: skip


@dataclass
class EngineSearch:
    """One engine's searched spaces, by device, or why it has none."""

    engine: Engine
    results: dict[str, DeviceResult]
    problems: dict[str, str]  # device -> why this engine has no settings there


def search_engine(engine: Engine, inputs: Inputs, scenario: Scenario, limits: Limits,
                  weights: np.ndarray) -> EngineSearch:  # fmt: skip
    """Every device's space for `engine`, enumerated."""
    devices = [p.environment.device for _, p in inputs.drafting]
    if scenario.mode not in engine.modes:
        why = (f"{engine.name} accepts a sampled draft token only when the target samples the "
               "same token, which configspec does not model yet: no settings in sampled mode")  # fmt: skip
        return EngineSearch(engine, {}, dict.fromkeys(devices, why))
    spaces, _ = build_spaces([p for _, p in inputs.drafting], inputs.alignment[1],
                             inputs.verification[1], scenario, engine)  # fmt: skip
    found = EngineSearch(engine, {}, {})
    for space in spaces:
        try:
            found.results[space.device] = enumerate_device(space, limits, weights)
        except ConfigspecError as exc:
            found.problems[space.device] = f"{engine.name}: {exc}"
    return found


def device_report(result: DeviceResult, engines: list[EngineSearch], scenario: Scenario,
                  flags: str) -> DeviceRecommendation:  # fmt: skip
    space, m = result.space, result.metrics
    front = sorted(
        (FrontPoint(runs=str(space.runs[result.index(p)]),
                    draft=str(space.draft[result.index(p)]) if space.speculates(result.index(p))
                    else None, quant=str(space.quant[result.index(p)]),
                    policy=space.policy[result.index(p)],
                    overlap=str(space.overlap[result.index(p)]), label=space.label(result.index(p)),
                    goodput_tok_s=float(m.goodput_tok_s[p]),
                    usd_per_1m_tokens=float(m.usd_per_1m_tokens[p]),
                    joules_per_token=float(m.joules_per_token[p]))
         for p in result.front),
        key=lambda r: -r.goodput_tok_s,
    )  # fmt: skip
    picks = {}
    for objective, position in result.picks.items():
        chosen = configuration(result, position)
        alternative = result.speculative_picks.get(objective)
        best_spec = configuration(result, alternative) if alternative is not None else None
        i = result.index(position)
        pick = Pick(
            **chosen.model_dump(), objective=objective,
            summary=summary_sentence(objective, chosen, best_spec),
            draft_alone_on_device=_draft_alone(space, i),
            deploy=deploy_commands(space.target, space.target_quant, str(space.draft[i]),
                                   str(space.quant[i]), space.policy[i], str(space.overlap[i]))
            if chosen.speculates else None,
        )  # fmt: skip
        for found in engines:
            engine_result = found.results.get(space.device)
            if engine_result is None:
                pick.engines[found.engine.name] = None
                pick.engine_notes.append(found.problems.get(space.device, "not searched"))
                continue
            pick.engines[found.engine.name] = _engine_settings(
                found.engine, engine_result, engine_result.picks[objective], scenario, flags
            )
        picks[objective] = pick
    warnings = list(space.warnings)
    for found in engines:
        if (r := found.results.get(space.device)) is not None:
            warnings += [f"{found.engine.name}: {w}" for w in r.space.warnings
                         if w not in space.warnings]  # fmt: skip
    return DeviceRecommendation(
        device=space.device, target=space.target, method=result.method, space_size=len(space),
        evaluated=len(result.rows), feasible=len(result.feasible),
        pareto_front_size=len(result.front), baselines=_baselines(result), picks=picks,
        pareto_front=front, proactive_drafting=proactive_verdict(result), warnings=warnings,
    )  # fmt: skip


def proactive_verdict(result: DeviceResult) -> ProactiveVerdict | None:
    """Does proactive drafting pay on this device? The best feasible speculative goodput with and
    without it, and the gain per K for the draft x quant of the best synchronous configuration
    (it pays more as the round trip grows and less as K grows: docs/model.md). None when the
    space has no proactive rows (sampled mode, another engine, or the scenario's `overlaps`
    leaves it out)."""
    space, m = result.space, result.metrics
    feasible = np.array([p for p in result.feasible if space.speculates(result.index(p))], int)
    overlap = space.overlap[result.rows[feasible]] if len(feasible) else np.array([])
    if not {"none", "proactive"} <= set(overlap):
        return None
    best = {}  # overlap -> position of its best feasible goodput
    for o in ("none", "proactive"):
        candidates = feasible[overlap == o]
        best[o] = int(candidates[np.argmax(m.goodput_tok_s[candidates])])
    plain, pro = (float(m.goodput_tok_s[best[o]]) for o in ("none", "proactive"))
    i = result.index(best["none"])
    by_k: dict[int, dict[str, float]] = {}
    for position, j in enumerate(result.rows):
        same_cell = (space.draft[j], space.quant[j]) == (space.draft[i], space.quant[i])
        if same_cell and not space.policy[j].is_threshold:
            by_k.setdefault(space.policy[j].k_max, {})[str(space.overlap[j])] = float(
                m.goodput_tok_s[position]
            )
    gains = {f"K={k}": v["proactive"] / v["none"] - 1 for k, v in sorted(by_k.items())
             if len(v) == 2}  # fmt: skip
    return ProactiveVerdict(
        pays=pro > plain, gain=pro / plain - 1, best_synchronous=space.label(i),
        best_synchronous_goodput_tok_s=plain, best_proactive=space.label(result.index(best["proactive"])),
        best_proactive_goodput_tok_s=pro,
        wasted_draft_j_per_token=float(m.wasted_draft_j_per_token[best["proactive"]]),
        gain_by_k=gains, gain_by_k_for=f"{space.draft[i]} {space.quant[i]}",
        rtt_ms=1e3 * space.terms.rtt_s,
    )  # fmt: skip


def _input_warnings(inputs: Inputs) -> list[str]:
    """Profiles cut short by Ctrl-C still count, but the reader should know; so do files under
    results/ that could not be read."""
    files = [*inputs.drafting, inputs.alignment, inputs.verification]
    interrupted = [f"{path} was interrupted: its sweep is incomplete" for path, p in files
                   if p.interrupted]  # fmt: skip
    return interrupted + inputs.problems


def recommend(options: RecommendOptions) -> tuple[Recommendations, Path]:
    """Search every profiled device and write recommendations.yaml / .json; returns them."""
    if options.flags not in ("new", "old"):
        raise ConfigspecError(f"--llama-cpp-flags must be new or old, not {options.flags!r}")
    scenario = load_scenario(options.scenario)
    inputs = find_inputs(options.results, options.drafting, options.alignment,
                         options.verification)  # fmt: skip
    limits = limits_from(scenario, options)
    w = scenario.weights
    weights = np.array([w.goodput, w.cost, w.energy], float)
    spaces, skipped = build_spaces([p for _, p in inputs.drafting], inputs.alignment[1],
                                   inputs.verification[1], scenario, CONFIGSPEC)  # fmt: skip
    results = [_with_target_alone(r, limits, weights) for r in _search(spaces, limits, weights,
                                                                      options)]  # fmt: skip
    engines = [search_engine(e, inputs, scenario, limits, weights) for e in (LLAMA_CPP, VLLM)]
    report = Recommendations(
        generated_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        inputs=InputFiles(
            drafting=[str(p) for p, _ in inputs.drafting], alignment=str(inputs.alignment[0]),
            verification=str(inputs.verification[0]),
            scenario=str(options.scenario) if options.scenario else "scenario.yaml (default)",
        ),
        scenario=scenario, constraints=Constraints(**vars(limits)),
        devices=[device_report(r, engines, scenario, options.flags) for r in results],
        devices_without_alignment=skipped, input_warnings=_input_warnings(inputs),
    )  # fmt: skip
    data = report.model_dump(mode="json")
    if options.json:
        print_json(data)
    else:
        for device in report.devices:
            print_device(device)
    for warning in report.input_warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for name in skipped:
        console.print(f"[yellow]skipped[/yellow] {name}: no drafted cell has alignment data")
    out_dir = Path(options.out_dir or options.results)
    write_text_atomic(out_dir / "recommendations.yaml",
                      yaml.safe_dump(data, sort_keys=False, width=100))  # fmt: skip
    write_json_atomic(out_dir / "recommendations.json", data)
    console.print(f"recommendations written to {out_dir / 'recommendations.yaml'} and .json")
    return report, out_dir / "recommendations.yaml"
