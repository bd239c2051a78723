"""`configspec recommend --fleet`: one joint pick for a fleet sharing a server, against the
per-device picks (each device configured alone, as `configspec recommend` does).

Per group the candidates are every draft x quant its drafting profile and the alignment traces
cover, with every policy the traces walk (fixed K, tau at K max); for the server, the fleet
file's batch limits and windows. The joint pick is the feasible configuration best by the
objective (docs/fleet.md). The output says what each pick is predicted to do, writes
fleet-recommendations.yaml/.json and two fleet files ready for `configspec fleet` (the joint
pick and the per-device picks) so the emulation can check the predicted gain.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from rich.table import Table

from configspec.analytic.batching import BatchCost
from configspec.analytic.fleet_model import ServerTerms, held_context, predict_mva, server_only
from configspec.analytic.scenario import load_scenario
from configspec.atomic_io import write_json_atomic, write_text_atomic
from configspec.errors import ConfigspecError
from configspec.fleet.inputs import FleetReader, load_tokenizers
from configspec.fleet.measure import server_power
from configspec.fleet.predict import FleetTerms, calibrate, group_load, sim_group, simulate
from configspec.fleet.spec import Fleet, load_fleet
from configspec.output import print_json, stdout
from configspec.profiles.fleet import FleetProfile
from configspec.profiles.io import load_profile
from configspec.progress import console, step_progress
from configspec.search.engines import CONFIGSPEC
from configspec.search.fleet import (
    Candidate,
    Joint,
    Prices,
    ServerChoices,
    alone,
    best,
    confirm,
    enumerate_joint,
    evaluate_joint,
    joint_space_size,
    optuna_joint,
    prune,
)  # fmt: skip


@dataclass(frozen=True)
class FleetRecommendOptions:
    fleet: Path
    models: Path = Path("models.yaml")
    scenario: Path | None = None
    objective: str = "goodput"
    method: str = "auto"  # auto: exact when the joint space fits `evaluations`, else optuna
    evaluations: int = 20000
    storage: str | None = None
    seed: int = 0
    calibration: Path | None = None  # a fleet profile: the real system's own per-round terms
    confirm: int = 20  # the best joint configurations by MVA that the simulation re-evaluates
    out_dir: Path = Path("results")
    json: bool = False  # print the fleet recommendations as JSON on stdout instead of the table


def _candidates(reader: FleetReader, fleet: Fleet, terms: FleetTerms) -> list[list[Candidate]]:
    out = []
    n_vocab = reader.tokenizers.n_vocab
    for group in fleet.groups:
        cells = {(c.draft, c.quant) for c in reader.drafting(group).cells}
        mine = []
        for a in reader.alignment.cells:
            if a.mode != "greedy" or (a.draft, a.quant) not in cells or not a.traces_file:
                continue
            for stats in CONFIGSPEC.policies(a):  # fleets run configspec edge / serve
                policy = stats.policy
                g = reader.group(group.model_copy(update={"draft": a.draft, "quant": a.quant,
                                                          "policy": policy}))  # fmt: skip
                mine.append(Candidate(
                    group.name, a.draft, a.quant, policy, group_load(g, n_vocab, terms),
                    g.draft_power_w, g.idle_power_w,
                    group.itl_target_ms / 1000.0 if group.itl_target_ms else None,
                    sim_group(g, n_vocab, terms),
                ))  # fmt: skip
        if not mine:
            raise ConfigspecError(f"group {group.name}: no draft x quant is in both "
                                  f"{group.drafting} and the alignment traces "
                                  f"{fleet.alignment}; profile or align them")  # fmt: skip
        out.append(mine)
    return out


def _independent(groups: list[list[Candidate]], cost: BatchCost, prices: Prices,
                 server: ServerChoices, objective: str) -> tuple[Candidate, ...]:  # fmt: skip
    """Each group's pick with its device alone on a server verifying one sequence per call (the
    per-device `configspec recommend`), within its latency target alone."""
    picks = []
    for candidates in groups:
        alone_itl = {id(c): alone(c, cost, server.chunk, server.overhead_s) for c in candidates}
        ok = [c for c in candidates
              if c.itl_target_s is None or alone_itl[id(c)] <= c.itl_target_s]  # fmt: skip
        if not ok:
            c = min(candidates, key=lambda c: alone_itl[id(c)])
            raise ConfigspecError(f"group {c.group}: no configuration meets its inter-token "
                                  f"latency target of {1e3 * c.itl_target_s:g} ms even alone "
                                  f"on the server (best achievable {1e3 * alone_itl[id(c)]:.0f} "
                                  f"ms, with {c.label}); relax it")  # fmt: skip
        single = [(c, evaluate_joint((_one(c),), 1, 0.0, cost, prices, server.chunk,
                                     server.overhead_s)) for c in ok]  # fmt: skip
        picks.append(min(single, key=lambda cj: cj[1].objective(objective))[0])
    return tuple(picks)


def _simulation(cost: BatchCost, max_sessions: int, seed: int):
    """The simulation as a predictor of joint configurations (fleet/predict.simulate)."""

    def predictor(picks: tuple[Candidate, ...], server: ServerTerms):
        groups = [replace(c.sim, count=c.load.count) for c in picks]
        return simulate(groups, cost, replace(server, max_sessions=max_sessions), seed)

    return predictor


def _one(c: Candidate) -> Candidate:
    return replace(c, load=replace(c.load, count=1))


def _describe(j: Joint) -> dict:
    return {
        "server": {"max_batch": j.max_batch, "batch_window_ms": 1e3 * j.window_s},
        "groups": [{
            "group": c.group, "count": c.load.count, "draft": c.draft, "quant": c.quant,
            "policy": c.policy.model_dump(),
            "predicted": {"goodput_tok_s_per_device": p.goodput_tok_s,
                          "mean_inter_token_latency_s": p.itl_s,
                          "itl_target_s": c.itl_target_s, "server_s_per_round": p.server_s},
        } for c, p in zip(j.picks, j.prediction.groups, strict=True)],
        "predicted": {"verified_tokens_per_s": j.goodput_tok_s,
                      "usd_per_1m_tokens": j.usd_per_1m_tokens,
                      "joules_per_token": j.joules_per_token,
                      "server_utilisation": j.prediction.utilisation},
    }  # fmt: skip


def fleet_file_for(fleet: Fleet, j: Joint) -> str:
    """A fleet file with this joint configuration filled in (absolute paths)."""
    data = fleet.model_dump(mode="json", exclude_none=True)
    data["server"]["max_batch"] = j.max_batch
    data["server"]["batch_window_ms"] = 1e3 * j.window_s
    for group, c in zip(data["groups"], j.picks, strict=True):
        group.update(draft=c.draft, quant=c.quant,
                     policy=c.policy.model_dump(exclude_none=True, exclude={"label"}))  # fmt: skip
    return yaml.safe_dump(data, sort_keys=False, width=100)


SCALING_MAX_DEVICES = 64


def scaling(fleet: Fleet, joint: Joint, cost: BatchCost, server: ServerChoices) -> list[dict]:
    """Per group (its joint pick alone on the server): system throughput and per-device latency
    vs the number of devices, speculating from the edge and the server-only baseline (the
    target alone serving the same sessions with continuous batching; fleet.baseline: model)."""
    terms = ServerTerms(joint.max_batch, joint.window_s, server.chunk, server.overhead_s)
    top = min(SCALING_MAX_DEVICES, max(16, 2 * fleet.devices))
    rows = []
    for c in joint.picks:
        for n in range(1, top + 1):
            load = replace(c.load, count=n)
            edge = predict_mva([load], cost, terms)
            base = server_only(load, cost, terms)
            rows.append({"group": c.group, "config": c.label, "devices": n,
                         "speculative_tok_s": edge.verified_tokens_per_s,
                         "speculative_itl_s": edge.groups[0].itl_s,
                         "server_only_tok_s": base.tokens_per_s,
                         "server_only_itl_s": base.itl_s})  # fmt: skip
    return rows


def _search(groups, server, cost, prices, options) -> tuple[list[Joint], str]:
    size = joint_space_size(groups, server)
    method = options.method
    if method == "auto":
        method = "exact" if size <= options.evaluations else "optuna"
    if method not in ("exact", "optuna"):
        raise ConfigspecError(f"--method is auto, exact or optuna, not {options.method!r}")
    budget = size if method == "exact" else min(size, options.evaluations)
    with step_progress(f"fleet search ({method})", budget) as (advance, _, _p):
        if method == "exact":
            return enumerate_joint(groups, server, cost, prices, advance), method
        return optuna_joint(groups, server, cost, prices, budget, options.storage, options.seed,
                            advance), method  # fmt: skip


def context_warnings(joint: Joint, cost: BatchCost, server: ServerChoices) -> list[str]:
    """A fleet whose sessions hold more KV cells than the verification profile reaches is
    priced low: every call reads all of them (one shared buffer), t_v stops growing at the
    profile's largest context."""
    terms = ServerTerms(joint.max_batch, joint.window_s, server.chunk)
    held = held_context([c.load for c in joint.picks], terms)
    if held <= cost.largest_context:
        return []
    return [
        f"the joint pick's sessions hold about {held:.0f} KV cells together and every call "
        f"reads them all (one shared buffer), but the verification profile reaches context "
        f"{cost.largest_context}: its calls are priced low; re-run verify-latency with "
        f"--contexts up to {math.ceil(held / 256) * 256}"
    ]


def recommend_fleet(options: FleetRecommendOptions) -> dict:
    from configspec.registry import load_registry

    fleet = load_fleet(options.fleet)
    if fleet.verification is None:
        raise ConfigspecError(f"{options.fleet}: recommend --fleet needs `verification:` (the "
                              "server's verify-latency profile, over the batch sizes to try)")  # fmt: skip
    objective = "goodput" if options.objective == "all" else options.objective
    registry = load_registry(options.models)
    reader = FleetReader(fleet, registry, load_tokenizers(fleet, registry))
    cost = BatchCost.of(reader.verification, fleet.server.packing)
    terms = (calibrate(load_profile(options.calibration, FleetProfile))
             if options.calibration else FleetTerms())  # fmt: skip
    scenario = load_scenario(options.scenario)
    power_w, power_source = server_power(reader.inputs([]))
    edge = scenario.default_edge
    prices = Prices(scenario.server.price_per_hour_usd, power_w or scenario.server.power_w,
                    edge.purchase_usd, edge.lifetime_h, edge.utilisation,
                    edge.electricity_usd_per_kwh)  # fmt: skip
    spec = fleet.server
    server = ServerChoices(tuple(spec.max_batch_choices),
                           tuple(w / 1000.0 for w in spec.batch_window_ms_choices),
                           spec.prefill_chunk_tokens, terms.server_round_s)  # fmt: skip
    everything = _candidates(reader, fleet, terms)
    independent = _independent(everything, cost, prices, server, objective)
    groups = [prune(c, cost) for c in everything]
    results, method = _search(groups, server, cost, prices, options)
    mva_pick = best(results, objective)
    shortlist, predicted_by, predictor = results, "mva", None
    if options.confirm > 0:  # MVA screens, the simulation decides (search/fleet.py)
        predictor = _simulation(cost, spec.max_sessions, options.seed)
        n = min(options.confirm, len(results))
        with step_progress(f"simulating the {n} best by MVA", n) as (advance, _, _p):
            shortlist = confirm(results, objective, n, cost, prices, server.chunk,
                                server.overhead_s, predictor, advance)  # fmt: skip
        predicted_by = (f"simulation (the {len(shortlist)} best joint configurations by MVA, "
                        "simulated; the per-device picks too)")  # fmt: skip
    per_device = evaluate_joint(independent, spec.max_batch, spec.batch_window_ms / 1000.0, cost,
                                prices, server.chunk, server.overhead_s, predictor)  # fmt: skip
    # the per-device picks are a joint configuration too: the pick never predicts less than them
    joint = best([*shortlist, per_device], objective)
    out_dir = Path(options.out_dir)
    report = {
        "schema_version": 1, "kind": "fleet-recommendations",
        "generated_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "fleet": str(options.fleet), "objective": objective, "method": method,
        "candidates": {g.name: len(c) for g, c in zip(fleet.groups, everything, strict=True)},
        "candidates_after_pruning": {g.name: len(c) for g, c in zip(fleet.groups, groups,
                                                                    strict=True)},
        "evaluated": len(results), "terms": vars(terms), "server_power_source": power_source,
        "predicted_by": predicted_by,
        "joint": _describe(joint), "per_device": _describe(per_device),
        "mva_pick": _describe(mva_pick),
        "gain": {"goodput": joint.goodput_tok_s / per_device.goodput_tok_s - 1,
                 "cost": 1 - joint.usd_per_1m_tokens / per_device.usd_per_1m_tokens,
                 "energy": 1 - joint.joules_per_token / per_device.joules_per_token},
        "per_device_meets_targets": per_device.feasible,
        "joint_is_per_device": joint is per_device,
        "warnings": context_warnings(joint, cost, server),
        "baseline": "server-only, model: the target alone with continuous batching "
                    "(analytic/fleet_model.server_only)",
        "scaling": scaling(fleet, joint, cost, server),
        "files": {"joint": str(out_dir / "fleet-joint.yaml"),
                  "per_device": str(out_dir / "fleet-per-device.yaml")},
    }  # fmt: skip
    report = json.loads(json.dumps(report))  # plain floats (numpy's) for the YAML writer
    write_text_atomic(out_dir / "fleet-joint.yaml", fleet_file_for(fleet, joint))
    write_text_atomic(out_dir / "fleet-per-device.yaml", fleet_file_for(fleet, per_device))
    write_text_atomic(out_dir / "fleet-recommendations.yaml",
                      yaml.safe_dump(report, sort_keys=False, width=100))  # fmt: skip
    write_json_atomic(out_dir / "fleet-recommendations.json", report)
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if options.json:
        print_json(report)
    else:
        print_fleet_pick(report)
    console.print(f"fleet recommendations written to {out_dir / 'fleet-recommendations.yaml'} "
                  "and .json")  # fmt: skip
    return report


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None or math.isinf(seconds) else f"{1e3 * seconds:.0f}"


def _mva_note(report: dict) -> str:
    """A line when the simulation overruled MVA's own pick."""
    mva, joint = report["mva_pick"], report["joint"]

    def config(d: dict) -> list:
        return [d["server"], *((g["draft"], g["quant"], g["policy"]) for g in d["groups"])]

    if report["predicted_by"] == "mva" or config(mva) == config(joint):
        return ""
    picks = ", ".join(f"{g['group']} {g['quant']} {g['policy']['label']}" for g in mva["groups"])
    return (f"\nMVA alone would pick {picks} (MVA: {mva['predicted']['verified_tokens_per_s']:.2f} "
            "verified tok/s); the simulation ranks it lower")  # fmt: skip


def print_fleet_pick(report: dict) -> None:
    joint, alone_ = report["joint"], report["per_device"]
    table = Table(title=f"fleet {report['fleet']}: joint pick vs per-device picks "
                        f"(objective {report['objective']}, {report['method']}, "
                        f"{report['evaluated']} evaluated)")  # fmt: skip
    for column in ("group", "devices", "per-device pick", "ITL ms", "joint pick", "ITL ms",
                   "target ms"):  # fmt: skip
        table.add_column(column, justify="right" if "ms" in column else "left")
    for a, j in zip(alone_["groups"], joint["groups"], strict=True):
        label = lambda g: f"{g['draft']} {g['quant']} {g['policy']['label']}"  # noqa: E731
        table.add_row(j["group"], str(j["count"]), label(a),
                      _ms(a["predicted"]["mean_inter_token_latency_s"]), label(j),
                      _ms(j["predicted"]["mean_inter_token_latency_s"]),
                      _ms(j["predicted"]["itl_target_s"]))  # fmt: skip
    stdout.print(table)
    pa, pj, gain = alone_["predicted"], joint["predicted"], report["gain"]
    stdout.print(
        f"server: per-device picks run at the fleet file's batch limit "
        f"{alone_['server']['max_batch']} / window {alone_['server']['batch_window_ms']:g} ms; "
        f"the joint pick sets {joint['server']['max_batch']} / "
        f"{joint['server']['batch_window_ms']:g} ms\n"
        f"predicted fleet: {pa['verified_tokens_per_s']:.2f} -> {pj['verified_tokens_per_s']:.2f} "
        f"verified tok/s ({gain['goodput']:+.0%}), {pa['usd_per_1m_tokens']:.3f} -> "
        f"{pj['usd_per_1m_tokens']:.3f} $/1M tokens, {pa['joules_per_token']:.3f} -> "
        f"{pj['joules_per_token']:.3f} J/token; predicted by the {report['predicted_by']}"
        + _mva_note(report)
        + ("\nthe per-device picks are the best joint configuration found: choosing together "
           "gains nothing here" if report["joint_is_per_device"] else "")
        + ("" if report["per_device_meets_targets"] else
           "\nthe per-device picks MISS a latency target once they share the server")
        + f"\nfleet files to check it on the emulation: {report['files']['joint']} and "
          f"{report['files']['per_device']} (configspec fleet --fleet FILE)", highlight=False,
    )  # fmt: skip
