"""`configspec recommend`: profiles + scenario -> search per device -> table + recommendations file."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from rich.table import Table

from configspec.analytic.baselines import model_on_device
from configspec.analytic.evaluate import energy_label
from configspec.analytic.scenario import Scenario, load_scenario
from configspec.atomic_io import write_json_atomic, write_text_atomic
from configspec.errors import ConfigspecError
from configspec.progress import console, step_progress
from configspec.recommend.discover import find_inputs
from configspec.recommend.settings import (
    llama_cpp_command,
    llama_cpp_flags,
    vllm_notes,
    vllm_speculative_config,
)
from configspec.search.exact import DeviceResult, Limits, enumerate_device
from configspec.search.space import build_spaces

# Optuna: a suggestion already evaluated costs nothing, so trials may exceed the budget of
# evaluations; this caps them (a small space may never yield its last configurations).
TRIALS_PER_EVALUATION = 5

PICK_TITLES = {"goodput": "best goodput", "cost": "best cost", "energy": "best energy",
               "balanced": "balanced (knee)"}  # fmt: skip


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


def _configuration(result: DeviceResult, position: int, scenario: Scenario, flags: str) -> dict:
    space, m = result.space, result.metrics
    i = result.index(position)
    row = m.row(position)
    tau = float(space.tau[i])
    target_ar = space.baselines[0]
    draft_alone = model_on_device(
        f"draft alone on {space.device}", float(space.inputs.step_s[i]),
        float(space.inputs.draft_w[i]), str(space.draft_power_source[i]), space.terms,
    )  # fmt: skip
    draft_file = str(space.file[i])
    llama = llama_cpp_flags(draft_file, int(space.k_max[i]), tau, flags)
    return {
        "draft": str(space.draft[i]),
        "quant": str(space.quant[i]),
        "policy": {"k_max": int(space.k_max[i]), "tau": None if math.isnan(tau) else tau,
                   "label": space.policy(i)},  # fmt: skip
        "overlap": str(space.overlap[i]),
        "predicted": {
            "goodput_tok_s": row["goodput_tok_s"],
            "usd_per_1m_tokens": row["usd_per_1m_tokens"],
            "server_usd_per_1m_tokens": row["server_usd_per_1m"],
            "edge_usd_per_1m_tokens": row["edge_usd_per_1m"],
            "joules_per_token": row["joules_per_token"],
            "wasted_draft_j_per_token": row["wasted_draft_j_per_token"],
            "energy_source": energy_label(str(space.draft_power_source[i]), space.idle_source,
                                          space.server_energy_source),  # fmt: skip
            "tokens_per_round": float(space.inputs.tokens[i]),
            "drafted_per_round": float(space.inputs.drafted[i]),
            "round_s": row["round_s"],
            "draft_s": row["draft_s"],
            "network_s": row["net_s"],
            "verify_s": row["verify_s"],
            "bytes_up_per_round": row["bytes_up"],
            "devices_per_server": int(row["devices_supported"]),
            # server capacity: B sequences per call of t_v(D, B) seconds (SLED/SpecEdge)
            "server_rounds_per_s": space.terms.batch / row["verify_s"],
        },
        "vs_target_autoregressive": {
            "speedup": row["goodput_tok_s"] / target_ar.goodput_tok_s,
            "cost_saving": 1.0 - row["usd_per_1m_tokens"] / target_ar.usd_per_1m_tokens
            if target_ar.usd_per_1m_tokens > 0 else None,
            "energy_saving": 1.0 - row["joules_per_token"] / target_ar.joules_per_token,
        },
        "draft_alone_on_device": draft_alone.as_dict(),
        "llama_cpp": {"flags_style": flags, "flags": llama,
                      "command": llama_cpp_command(llama, scenario.mode, scenario.temperature)},
        "vllm": {"speculative_config": vllm_speculative_config(draft_file, int(space.k_max[i]),
                                                               tau),
                 "notes": vllm_notes(draft_file, tau)},
    }  # fmt: skip


def device_report(result: DeviceResult, scenario: Scenario, flags: str) -> dict:
    space, m = result.space, result.metrics
    front = [
        {"draft": str(space.draft[result.index(p)]), "quant": str(space.quant[result.index(p)]),
         "policy": space.policy(result.index(p)), "goodput_tok_s": float(m.goodput_tok_s[p]),
         "usd_per_1m_tokens": float(m.usd_per_1m_tokens[p]),
         "joules_per_token": float(m.joules_per_token[p])}
        for p in result.front
    ]  # fmt: skip
    front.sort(key=lambda r: -r["goodput_tok_s"])
    return {
        "device": space.device,
        "target": space.target,
        "method": result.method,
        "space_size": len(space),
        "evaluated": len(result.rows),
        "feasible": len(result.feasible),
        "pareto_front_size": len(result.front),
        "baselines": [b.as_dict() for b in space.baselines],
        "picks": {
            name: _configuration(result, pos, scenario, flags) for name, pos in result.picks.items()
        },  # fmt: skip
        "pareto_front": front,
        "proactive_drafting": proactive_verdict(result),
        "warnings": space.warnings,
    }


def proactive_verdict(result: DeviceResult) -> dict | None:
    """Does proactive drafting pay on this device? The best feasible goodput with and without
    it, and the gain per K for the draft x quant of the best synchronous configuration (it pays
    more as the round trip grows and less as K grows: docs/model.md). None when the space has
    no proactive rows (sampled mode, or the scenario's `overlaps` leaves it out)."""
    space, m = result.space, result.metrics
    feasible = result.feasible
    overlap = space.overlap[result.rows[feasible]]
    if "proactive" not in set(overlap) or "none" not in set(overlap):
        return None
    best = {}  # overlap -> position of its best feasible goodput
    for o in ("none", "proactive"):
        candidates = feasible[overlap == o]
        best[o] = int(candidates[np.argmax(m.goodput_tok_s[candidates])])
    plain, pro = (float(m.goodput_tok_s[best[o]]) for o in ("none", "proactive"))
    i = result.index(best["none"])
    by_k = {}
    for pos in range(len(result.rows)):
        j = result.index(pos)
        if (space.draft[j], space.quant[j]) == (space.draft[i], space.quant[i]) and math.isnan(
            space.tau[j]
        ):
            by_k.setdefault(int(space.k_max[j]), {})[str(space.overlap[j])] = float(
                m.goodput_tok_s[pos]
            )
    gains = {f"K={k}": v["proactive"] / v["none"] - 1 for k, v in sorted(by_k.items())
             if len(v) == 2}  # fmt: skip
    return {
        "pays": pro > plain,
        "gain": pro / plain - 1,
        "best_synchronous": {"label": space.label(i), "goodput_tok_s": plain},
        "best_proactive": {"label": space.label(result.index(best["proactive"])),
                           "goodput_tok_s": pro,
                           "wasted_draft_j_per_token": float(
                               m.wasted_draft_j_per_token[best["proactive"]])},
        "gain_by_k": gains,  # for the draft x quant of the best synchronous configuration
        "gain_by_k_for": f"{space.draft[i]} {space.quant[i]}",
        "rtt_ms": 1e3 * space.terms.rtt_s,
    }  # fmt: skip


def print_device(report: dict) -> None:
    table = Table(title=f"{report['device']}: speculative decoding for {report['target']} "
                        f"({report['method']})")  # fmt: skip
    for column in ("pick", "draft", "quant", "policy"):
        table.add_column(column)
    for column in ("goodput tok/s", "$/1M tok", "J/token", "speedup", "cost saving",
                   "energy saving"):  # fmt: skip
        table.add_column(column, justify="right")
    for name, pick in report["picks"].items():
        p, vs = pick["predicted"], pick["vs_target_autoregressive"]
        cost_saving = "-" if vs["cost_saving"] is None else f"{vs['cost_saving']:+.0%}"
        table.add_row(
            PICK_TITLES[name], pick["draft"], pick["quant"], pick["policy"]["label"],
            f"{p['goodput_tok_s']:.2f}", f"{p['usd_per_1m_tokens']:.3f}",
            f"{p['joules_per_token']:.3f}", f"{vs['speedup']:.2f}x", cost_saving,
            f"{vs['energy_saving']:+.0%}",
        )  # fmt: skip
    console.print(table)
    for b in report["baselines"]:
        console.print(f"baseline {b['name']}: {b['goodput_tok_s']:.2f} tok/s, "
                      f"{b['usd_per_1m_tokens']:.3f} $/1M, {b['joules_per_token']:.3f} J/token "
                      f"({b['energy_source']})", highlight=False)  # fmt: skip
    energy = report["picks"]["balanced"]["predicted"]["energy_source"]
    console.print(f"Pareto front: {report['pareto_front_size']} of {report['feasible']} feasible "
                  f"({report['evaluated']} evaluated of {report['space_size']}); J/token "
                  f"{energy}", highlight=False)  # fmt: skip
    if (v := report.get("proactive_drafting")) is not None:
        by_k = ", ".join(f"{k} {g:+.1%}" for k, g in v["gain_by_k"].items())
        kind = "measured" if energy.startswith("measured") else "estimated"
        console.print(
            f"proactive drafting {'pays' if v['pays'] else 'does not pay'} at RTT "
            f"{v['rtt_ms']:g} ms: best {v['best_proactive']['label']} "
            f"{v['best_proactive']['goodput_tok_s']:.2f} tok/s against best synchronous "
            f"{v['best_synchronous']['label']} {v['best_synchronous']['goodput_tok_s']:.2f} tok/s "
            f"({v['gain']:+.1%}; wasted pre-drafts "
            f"{v['best_proactive']['wasted_draft_j_per_token']:.3f} J/token, {kind}); "
            f"by K for {v['gain_by_k_for']}: {by_k}", highlight=False,
        )  # fmt: skip
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _input_warnings(inputs) -> list[str]:
    """Profiles cut short by Ctrl-C still count, but the reader should know."""
    files = [*inputs.drafting, inputs.alignment, inputs.verification]
    return [f"{path} was interrupted: its sweep is incomplete" for path, p in files
            if p.interrupted]  # fmt: skip


def recommend(options: RecommendOptions) -> tuple[dict, Path]:
    """Search every profiled device and write recommendations.yaml / .json; returns the report."""
    if options.flags not in ("new", "old"):
        raise ConfigspecError(f"--llama-cpp-flags must be new or old, not {options.flags!r}")
    scenario = load_scenario(options.scenario)
    inputs = find_inputs(options.results, options.drafting, options.alignment,
                         options.verification)  # fmt: skip
    limits = limits_from(scenario, options)
    w = scenario.weights
    weights = np.array([w.goodput, w.cost, w.energy], float)
    spaces, skipped = build_spaces([p for _, p in inputs.drafting], inputs.alignment[1],
                                   inputs.verification[1], scenario)  # fmt: skip
    results = _search(spaces, limits, weights, options)
    devices = [device_report(r, scenario, options.flags) for r in results]
    report = {
        "schema_version": 1,
        "kind": "recommendations",
        "generated_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "inputs": {
            "drafting": [str(p) for p, _ in inputs.drafting],
            "alignment": str(inputs.alignment[0]),
            "verification": str(inputs.verification[0]),
            "scenario": str(options.scenario) if options.scenario else "scenario.yaml (default)",
        },
        "scenario": scenario.model_dump(mode="json"),
        "constraints": vars(limits),
        "devices": devices,
        "devices_without_alignment": skipped,
        "input_warnings": _input_warnings(inputs),
    }
    for device in devices:
        print_device(device)
    for warning in report["input_warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for name in skipped:
        console.print(f"[yellow]skipped[/yellow] {name}: no drafted cell has alignment data")
    out_dir = Path(options.out_dir or options.results)
    write_text_atomic(out_dir / "recommendations.yaml",
                      yaml.safe_dump(report, sort_keys=False, width=100))  # fmt: skip
    write_json_atomic(out_dir / "recommendations.json", report)
    console.print(f"recommendations written to {out_dir / 'recommendations.yaml'} and .json")
    return report, out_dir / "recommendations.yaml"
