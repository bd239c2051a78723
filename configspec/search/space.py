"""The joint space of one edge device and one engine: every draft x quant x policy the profiles
cover and the engine can run, plus decoding without speculation.

A row is one configuration; its model inputs are read from the profiles once (draft step time
and power from the drafting profile, the policy's counts from the alignment profile, the
verification latency/energy at that draft length from the verification profile), so the
search only does array arithmetic. Not speculating is a row like any other: the target alone on
the server, and the target alone on the device where the drafting profile measured it there
(analytic/baselines.py); a pick that lands on one says to run the target alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from configspec.analytic.baselines import model_on_device_row, target_on_server_row
from configspec.analytic.evaluate import DeviceTerms, RoundInputs, energy_label
from configspec.analytic.inputs import (
    VerifyCurve,
    draft_batch_s,
    draft_timing,
    per_round,
    reuse_probability,
    verify_curve,
)
from configspec.analytic.scenario import Scenario
from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentCell, AlignmentProfile
from configspec.profiles.drafting import DeviceProfile, DraftCell
from configspec.profiles.policy import Policy
from configspec.profiles.verification import VerificationProfile
from configspec.search.engines import CONFIGSPEC, Engine

SCENARIO_POWER_SOURCE = "estimated:scenario server.power_w"
# What runs, per row.
SPECULATIVE = "speculative decoding"
TARGET_ON_SERVER = "target alone on the server"
TARGET_ON_DEVICE = "target alone on the device"


def object_array(values: list) -> np.ndarray:
    """A 1-D object array (np.array would unpack pydantic models into their fields)."""
    out = np.empty(len(values), object)
    out[:] = values
    return out


@dataclass
class Space:
    device: str
    target: str
    target_quant: str  # as the verification profile timed it
    engine: Engine
    draft: np.ndarray  # object array of names; the target's own name where it runs alone
    quant: np.ndarray  # the draft's quantization; the target's where it runs alone
    policy: np.ndarray  # object array of Policy (Policy.none() where nothing is drafted)
    runs: np.ndarray  # SPECULATIVE, TARGET_ON_SERVER or TARGET_ON_DEVICE
    file: np.ndarray  # the draft's model file as profiled on the device ("" on the server)
    draft_power_source: np.ndarray
    energy_source: np.ndarray  # per row: measured or estimated, and from what
    inputs: RoundInputs
    terms: DeviceTerms
    warnings: list[str] = field(default_factory=list)
    overlap: np.ndarray | None = None  # none | proactive per row (None: all none)

    def __post_init__(self) -> None:
        if self.overlap is None:
            self.overlap = object_array(["none"] * len(self.draft))

    def __len__(self) -> int:
        return len(self.draft)

    def speculates(self, i: int) -> bool:
        return self.runs[i] == SPECULATIVE

    def label(self, i: int) -> str:
        if self.speculates(i):
            proactive = " proactive" if self.overlap[i] == "proactive" else ""
            return f"{self.draft[i]} {self.quant[i]} {self.policy[i].label}{proactive}"
        where = "the server" if self.runs[i] == TARGET_ON_SERVER else self.device
        return f"{self.draft[i]} {self.quant[i]} alone on {where} (no speculation)"

    def rows_where(self, runs: str) -> np.ndarray:
        return np.flatnonzero(self.runs == runs)


def device_terms(scenario: Scenario, device: str, idle_w: float) -> DeviceTerms:
    edge, server, payload = scenario.edge(device), scenario.server, scenario.payload
    return DeviceTerms(
        mode=scenario.mode, rtt_s=edge.network.rtt_ms / 1000.0,
        up_bit_s=edge.network.up_mbit_s * 1e6, down_bit_s=edge.network.down_mbit_s * 1e6,
        idle_w=idle_w, overhead_s=scenario.overhead_ms_per_round / 1000.0, batch=server.batch,
        server_usd_per_hour=server.price_per_hour_usd, purchase_usd=edge.purchase_usd,
        lifetime_h=edge.lifetime_h, utilisation=edge.utilisation,
        usd_per_kwh=edge.electricity_usd_per_kwh, token_id_bytes=payload.token_id_bytes,
        prob_bytes=payload.prob_bytes, vocab_size=payload.vocab_size, top_n=payload.top_n,
        header_bytes=payload.header_bytes, verdict_bytes=payload.verdict_bytes,
        flow_window_bytes=payload.flow_window_bytes,
    )  # fmt: skip


def check_same_target(alignment: AlignmentProfile, verification: VerificationProfile) -> None:
    """Acceptance and verification latency must come from the same target file (the one rule:
    registry.schema.ModelEntry.serving_quant); a mismatch would mix two models' figures."""
    for cell in alignment.cells:
        if cell.target != verification.target:
            continue
        a, v = cell.target_sha256, verification.target_sha256
        if a and v and a != v:
            raise ConfigspecError(
                f"the alignment profile ran {cell.target} {cell.target_quant} (sha256 {a[:12]}) "
                f"but the verification profile timed {verification.target} "
                f"{verification.target_quant} (sha256 {v[:12]}): their figures describe "
                "different target files; re-run `configspec align` or `configspec "
                "verify-latency` with the same models.yaml"
            )


def _alignment_cells(
    alignment: AlignmentProfile, scenario: Scenario, target: str
) -> dict[tuple[str, str], AlignmentCell]:
    cells = [c for c in alignment.cells if c.mode == scenario.mode and c.target == target]
    if scenario.mode == "sampled":
        temps = sorted({c.temperature for c in cells})
        cells = [c for c in cells if abs(c.temperature - scenario.temperature) < 1e-9]
        if not cells:
            raise ConfigspecError(
                f"the alignment profile has no sampled cells at temperature "
                f"{scenario.temperature:g} for {target} (has: {temps or 'none'}); set the "
                "scenario's temperature to one of these or re-run align"
            )
    return {(c.draft, c.quant): c for c in cells}


def _server_energy(
    curve: VerifyCurve, scenario: Scenario, verify_s: np.ndarray, drafted: np.ndarray, ctx: int,
    shares: list | None = None,
) -> tuple[np.ndarray, str]:  # fmt: skip
    if scenario.server.power_w is not None:
        return scenario.server.power_w * verify_s, SCENARIO_POWER_SOURCE
    if curve.energy_j is None:
        raise ConfigspecError(
            "the verification profile has no energy readings; set server.power_w in the "
            "scenario (labelled as an estimate)"
        )
    return per_round(lambda d: curve.energy(d, ctx), drafted, shares), (
        curve.energy_source or "unknown"
    )


class _Rows:
    """Rows collected column by column, then turned into arrays."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {}
        self.inputs: list[dict[str, float]] = []

    def add(self, inputs: dict[str, float], **columns) -> None:
        self.inputs.append(inputs)
        for name, value in columns.items():
            self.columns.setdefault(name, []).append(value)

    def __len__(self) -> int:
        return len(self.inputs)


def _reread_s(engine: Engine, cell: DraftCell, drafted: float, step_s: float, curve: VerifyCurve,
              ctx: int, estimated: set[str]) -> float:  # fmt: skip
    """The draft re-reading the D + 1 verified tokens: profiled, else estimated from the
    target's relative cost of a batch (t_d x t_v(D) / t_v(0)); `estimated` collects the cells."""
    if not engine.rereads_batch:
        return 0.0
    measured = draft_batch_s(cell, drafted + 1.0, ctx)
    if measured is not None:
        return float(measured)
    estimated.add(f"{cell.draft} {cell.quant}")
    return step_s * float(curve.latency(drafted, ctx) / curve.latency(0.0, ctx))


def build_space(
    drafting: DeviceProfile, alignment: AlignmentProfile, verification: VerificationProfile,
    scenario: Scenario, engine: Engine = CONFIGSPEC,
) -> Space | None:  # fmt: skip
    """The device's space for `engine`, or None when none of its cells has alignment data (a
    warning case)."""
    device = drafting.environment.device
    target = verification.target
    ctx = scenario.context_tokens
    curve = verify_curve(verification, scenario.server.batch)
    aligned = _alignment_cells(alignment, scenario, target)
    warnings: list[str] = []
    if engine.thresholds == "llama_cpp" and any(
        a.threshold and not a.llama_cpp_threshold for a in aligned.values()
    ):
        warnings.append(
            "the alignment profile has no thresholds on llama.cpp's confidence (made before "
            f"they were recorded): {engine.name} is searched over fixed K only; re-run "
            "`configspec align`"
        )
    idle = drafting.power.idle_source
    server_source = _server_energy(curve, scenario, np.array([1.0]), np.array([0.0]), ctx)[1]
    rows = _Rows()
    estimated_reread: set[str] = set()
    # proactive drafting (docs/model.md): greedy, fixed K, on an engine and device that do it
    proactive = (
        "proactive" in engine.overlaps and scenario.mode == "greedy"
        and "proactive" in scenario.edge(device).overlaps
    )  # fmt: skip
    for cell in drafting.cells:
        if cell.draft == target:
            continue  # the target itself profiled on the device: a no-speculation row below
        a = aligned.get((cell.draft, cell.quant))
        if a is None:
            warnings.append(f"{cell.draft} {cell.quant}: no alignment data, not searched")
            continue
        if a.draft_sha256 and cell.file_sha256 and a.draft_sha256 != cell.file_sha256:
            warnings.append(
                f"{cell.draft} {cell.quant}: the aligned file differs from the profiled one "
                "(sha256); re-run one of them on the same file"
            )
        timing = draft_timing(cell, ctx)
        energy = energy_label(draft=timing.power_source, idle=idle, server=server_source)
        policies = [(stats, "none") for stats in engine.policies(a)]
        if proactive:  # one more row per fixed K: the same policy drafting proactively
            policies += [(stats, "proactive") for stats in a.fixed_k]
        for stats, overlap in policies:
            reread = _reread_s(engine, cell, stats.drafted_per_round, timing.step_s, curve, ctx,
                               estimated_reread)  # fmt: skip
            ahead = overlap == "proactive"
            rows.add(  # verify_s and verify_j are read from the curve for all rows at once
                dict(drafted=stats.drafted_per_round, extra_steps=engine.extra_steps(a, stats),
                     tokens=stats.tokens_per_round, step_s=timing.step_s,
                     draft_w=timing.power_w, verify_s=0.0, verify_j=0.0, ingest_s=reread,
                     network=1.0, edge=1.0, predraft_max=float(stats.k_max) if ahead else 0.0,
                     reuse=reuse_probability(a, stats) if ahead else 0.0),
                draft=cell.draft, quant=cell.quant, policy=stats.policy, runs=SPECULATIVE,
                file=cell.file, src=timing.power_source, energy=energy, overlap=overlap,
                shares=stats.drafted_shares,
            )  # fmt: skip
    if estimated_reread:
        warnings.append(
            f"no batch timings in the drafting profile for {', '.join(sorted(estimated_reread))}:"
            f" {engine.name}'s draft re-reading each verified batch is estimated from the "
            "target's batch cost (re-run `configspec profile` to measure it)"
        )
    if not rows:
        return None
    speculative = len(rows)
    _no_speculation_rows(rows, drafting, verification, curve, ctx, server_source, warnings)
    inputs = RoundInputs.of_rows(rows.inputs)
    on_server = np.array(rows.columns["runs"], object) != TARGET_ON_DEVICE
    # per round: t_v over the rows' distribution of D where the alignment profile has it
    shares = [p for p, here in zip(rows.columns["shares"], on_server, strict=True) if here]
    verify_s = per_round(lambda d: curve.latency(d, ctx), inputs.drafted[on_server], shares)
    inputs.verify_s[on_server] = verify_s
    inputs.verify_j[on_server] = _server_energy(
        curve, scenario, verify_s, inputs.drafted[on_server], ctx, shares
    )[0]
    drafted = inputs.drafted[:speculative]
    lo, hi = curve.k_range
    if drafted.max() > hi or drafted.min() < lo:
        warnings.append(
            f"verification latency extrapolated linearly outside the profiled K {lo}..{hi} "
            f"(drafts of {drafted.min():.1f}..{drafted.max():.1f} tokens)"
        )
    c = rows.columns
    return Space(
        device=device, target=target, target_quant=verification.target_quant, engine=engine,
        draft=object_array(c["draft"]),
        quant=object_array(c["quant"]), policy=object_array(c["policy"]),
        runs=object_array(c["runs"]), file=object_array(c["file"]),
        draft_power_source=object_array(c["src"]), energy_source=object_array(c["energy"]),
        inputs=inputs, terms=device_terms(scenario, device, drafting.power.idle_power_w),
        warnings=warnings, overlap=object_array(c["overlap"]),
    )  # fmt: skip


def _no_speculation_rows(
    rows: _Rows, drafting: DeviceProfile, verification: VerificationProfile, curve: VerifyCurve,
    ctx: int, server_source: str, warnings: list[str],
) -> None:  # fmt: skip
    """The target alone on the server, and on the device where it was profiled there."""
    lo = curve.k_range[0]
    if lo > 0:
        warnings.append(
            f"the target's autoregressive step is extrapolated from K={lo} (profile K=0 with "
            "verify-latency for a measured baseline)"
        )
    rows.add(
        target_on_server_row(0.0, 0.0),  # t_v(0) and E_v(0): read with the speculative rows
        draft=verification.target, quant=verification.target_quant, policy=Policy.none(),
        runs=TARGET_ON_SERVER, file=verification.target_file or "", src="",
        energy=energy_label(server=server_source), overlap="none", shares=None,
    )  # fmt: skip
    for cell in drafting.cells:
        if cell.draft == verification.target:
            timing = draft_timing(cell, ctx)
            rows.add(
                model_on_device_row(timing.step_s, timing.power_w), draft=cell.draft,
                quant=cell.quant, policy=Policy.none(), runs=TARGET_ON_DEVICE, file=cell.file,
                src=timing.power_source, energy=energy_label(device=timing.power_source),
                overlap="none", shares=None,
            )  # fmt: skip


def build_spaces(
    drafting: list[DeviceProfile], alignment: AlignmentProfile,
    verification: VerificationProfile, scenario: Scenario, engine: Engine = CONFIGSPEC,
) -> tuple[list[Space], list[str]]:  # fmt: skip
    """Every device's space; devices without aligned cells are reported, not searched."""
    check_same_target(alignment, verification)
    spaces, skipped = [], []
    for profile in drafting:
        space = build_space(profile, alignment, verification, scenario, engine)
        if space is None:
            skipped.append(profile.environment.device)
        else:
            spaces.append(space)
    if not spaces:
        have = sorted({f"{c.draft} {c.quant}" for p in drafting for c in p.cells})
        aligned = sorted({f"{c.draft} {c.quant} ({c.mode})" for c in alignment.cells})
        raise ConfigspecError(
            f"no draft x quant is in both the drafting profile(s) {have} and the alignment "
            f"profile {aligned} for target {verification.target} in {scenario.mode} mode; "
            "run align on the profiled drafts"
        )
    return spaces, skipped
