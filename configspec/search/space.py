"""The joint space of one edge device: every draft x quant x policy the profiles cover.

A row is one configuration; its model inputs are read from the profiles once (draft step time
and power from the drafting profile, the policy's counts from the alignment profile, the
verification latency/energy at that draft length from the verification profile), so the
search only does array arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from configspec.analytic.baselines import Baseline, model_on_device, target_on_server
from configspec.analytic.evaluate import DeviceTerms, RoundInputs
from configspec.analytic.inputs import (
    VerifyCurve,
    draft_timing,
    extra_draft_steps,
    reuse_probability,
    verify_curve,
)
from configspec.analytic.scenario import Scenario
from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentCell, AlignmentProfile
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.verification import VerificationProfile

SCENARIO_POWER_SOURCE = "estimated:scenario server.power_w"


@dataclass
class Space:
    device: str
    target: str
    draft: np.ndarray  # object array of names
    quant: np.ndarray
    k_max: np.ndarray  # int
    tau: np.ndarray  # float, NaN for fixed K
    file: np.ndarray  # the draft's model file as profiled on the device
    draft_power_source: np.ndarray
    inputs: RoundInputs
    terms: DeviceTerms
    idle_source: str
    server_energy_source: str
    baselines: list[Baseline] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    overlap: np.ndarray | None = None  # none | proactive per row (None: all none)

    def __post_init__(self) -> None:
        if self.overlap is None:
            self.overlap = np.array(["none"] * len(self.draft), object)

    def __len__(self) -> int:
        return len(self.draft)

    def policy(self, i: int) -> str:
        if math.isnan(self.tau[i]):
            label = f"K={int(self.k_max[i])}"
        else:
            label = f"K<={int(self.k_max[i])} tau={self.tau[i]:g}"
        return label + (" proactive" if self.overlap[i] == "proactive" else "")

    def label(self, i: int) -> str:
        return f"{self.draft[i]} {self.quant[i]} {self.policy(i)}"


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
    )  # fmt: skip


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
    curve: VerifyCurve, scenario: Scenario, verify_s: np.ndarray, drafted: np.ndarray, ctx: int
) -> tuple[np.ndarray, str]:
    if scenario.server.power_w is not None:
        return scenario.server.power_w * verify_s, SCENARIO_POWER_SOURCE
    energy = curve.energy(drafted, ctx)
    if energy is None:
        raise ConfigspecError(
            "the verification profile has no energy readings; set server.power_w in the "
            "scenario (labelled as an estimate)"
        )
    return energy, curve.energy_source or "unknown"


def build_space(
    drafting: DeviceProfile, alignment: AlignmentProfile, verification: VerificationProfile,
    scenario: Scenario,
) -> Space | None:  # fmt: skip
    """The device's space, or None when none of its cells has alignment data (a warning case)."""
    device = drafting.environment.device
    target = verification.target
    ctx = scenario.context_tokens
    curve = verify_curve(verification, scenario.server.batch)
    aligned = _alignment_cells(alignment, scenario, target)
    warnings = list(curve.warnings)
    rows: dict[str, list] = {k: [] for k in ("draft", "quant", "k", "tau", "file", "src", "D",
                                            "extra", "N", "step", "w", "overlap", "reuse")}  # fmt: skip
    proactive = scenario.mode == "greedy" and "proactive" in scenario.edge(device).overlaps
    for cell in drafting.cells:
        a = aligned.get((cell.draft, cell.quant))
        if a is None:
            if cell.draft != target:
                warnings.append(f"{cell.draft} {cell.quant}: no alignment data, not searched")
            continue
        if a.draft_sha256 and cell.file_sha256 and a.draft_sha256 != cell.file_sha256:
            warnings.append(
                f"{cell.draft} {cell.quant}: the aligned file differs from the profiled one "
                "(sha256); re-run one of them on the same file"
            )
        timing = draft_timing(cell, ctx)
        policies = [(stats, "none") for stats in [*a.fixed_k, *a.threshold]]
        if proactive:  # one more row per fixed K: the same policy drafting proactively
            policies += [(stats, "proactive") for stats in a.fixed_k]
        for stats, overlap in policies:
            rows["draft"].append(cell.draft)
            rows["quant"].append(cell.quant)
            rows["k"].append(stats.k_max)
            rows["tau"].append(math.nan if stats.tau is None else stats.tau)
            rows["file"].append(cell.file)
            rows["src"].append(timing.power_source)
            rows["D"].append(stats.drafted_per_round)
            rows["extra"].append(extra_draft_steps(a, stats))
            rows["N"].append(stats.tokens_per_round)
            rows["step"].append(timing.step_s)
            rows["w"].append(timing.power_w)
            rows["overlap"].append(overlap)
            rows["reuse"].append(reuse_probability(a, stats) if overlap == "proactive" else 0.0)
    if not rows["draft"]:
        return None
    drafted = np.asarray(rows["D"], float)
    verify_s = curve.latency(drafted, ctx)
    verify_j, server_source = _server_energy(curve, scenario, verify_s, drafted, ctx)
    lo, hi = curve.k_range
    if drafted.max() > hi or drafted.min() < lo:
        warnings.append(
            f"verification latency extrapolated linearly outside the profiled K {lo}..{hi} "
            f"(drafts of {drafted.min():.1f}..{drafted.max():.1f} tokens)"
        )
    terms = device_terms(scenario, device, drafting.power.idle_power_w)
    overlaps = np.array(rows["overlap"], object)
    space = Space(
        device=device, target=target, draft=np.array(rows["draft"], object),
        quant=np.array(rows["quant"], object), k_max=np.array(rows["k"], int),
        tau=np.array(rows["tau"], float), file=np.array(rows["file"], object),
        draft_power_source=np.array(rows["src"], object),
        inputs=RoundInputs(
            drafted=drafted, extra_steps=np.asarray(rows["extra"], float),
            tokens=np.asarray(rows["N"], float), step_s=np.asarray(rows["step"], float),
            draft_w=np.asarray(rows["w"], float), verify_s=np.asarray(verify_s, float),
            verify_j=np.asarray(verify_j, float),
            predraft_max=np.where(overlaps == "proactive", np.asarray(rows["k"], float), 0.0),
            reuse=np.asarray(rows["reuse"], float),
        ),
        terms=terms, idle_source=drafting.power.idle_source, server_energy_source=server_source,
        warnings=warnings, overlap=overlaps,
    )  # fmt: skip
    space.baselines = _baselines(space, curve, drafting, scenario)
    return space


def _baselines(
    space: Space, curve: VerifyCurve, drafting: DeviceProfile, scenario: Scenario
) -> list[Baseline]:
    ctx = scenario.context_tokens
    lo = curve.k_range[0]
    if lo > 0:
        space.warnings.append(
            f"the target's autoregressive step is extrapolated from K={lo} (profile K=0 with "
            "verify-latency for a measured baseline)"
        )
    step_s = float(curve.latency(0, ctx))
    verify_j, source = _server_energy(curve, scenario, np.array([step_s]), np.array([0.0]), ctx)
    out = [target_on_server(curve, space.terms, ctx, source, float(verify_j[0]))]
    for cell in drafting.cells:  # the target itself profiled on the device, where it fits
        if cell.draft == space.target:
            timing = draft_timing(cell, ctx)
            out.append(model_on_device(f"target alone on {space.device} ({cell.quant})",
                                       timing.step_s, timing.power_w, timing.power_source,
                                       space.terms))  # fmt: skip
    return out


def build_spaces(
    drafting: list[DeviceProfile], alignment: AlignmentProfile,
    verification: VerificationProfile, scenario: Scenario,
) -> tuple[list[Space], list[str]]:  # fmt: skip
    """Every device's space; devices without aligned cells are reported, not searched."""
    spaces, skipped = [], []
    for profile in drafting:
        space = build_space(profile, alignment, verification, scenario)
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
