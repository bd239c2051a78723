"""`configspec profile`: select cells, measure them with a progress bar, print and save."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from configspec.output import stdout
from configspec.profiles.drafting import DeviceProfile, DraftCell, DraftingSettings
from configspec.profiles.machine_load import MachineLoad
from configspec.profiling.drafting_sweep import default_output, new_profile, run_sweep, select_cells
from configspec.progress import byte_progress, console, exit_interrupted, step_progress
from configspec.registry import load_registry
from configspec.runners import backend_version
from configspec.sources.resolve import model_file
from device_profilers import detect_meter


def _busy(load: MachineLoad | None) -> str:
    return " BUSY" if load is not None and load.busy else ""


def print_profile(profile: DeviceProfile) -> None:
    env = profile.environment
    table = Table(title=f"Drafting on {env.device} ({env.cpu_model}, {env.threads} threads)")
    for column in ("draft", "quant", *[f"decode tok/s @{c}" for c in profile.settings.contexts],
                   "prefill tok/s", "J/token", "power source"):  # fmt: skip
        table.add_column(column, justify="right")
    for cell in profile.cells:
        decode = [f"{d.tokens_per_s.mean:.1f} ± {d.tokens_per_s.std:.1f}{_busy(d.machine_load)}"
                  for d in cell.decode]  # fmt: skip
        first = cell.decode[0]
        table.add_row(
            cell.draft, cell.quant, *decode,
            f"{cell.prefill.tokens_per_s.mean:.0f}{_busy(cell.prefill.machine_load)}",
            f"{first.energy_j_per_token.mean:.3f}", first.power_source,
        )  # fmt: skip
    stdout.print(table)
    if any(_busy(d.machine_load) for c in profile.cells for d in [*c.decode, c.prefill]):
        stdout.print("BUSY: measured while other processes used the CPU, after every retry; "
                     "see the warnings and re-profile on a quiet machine")  # fmt: skip
    p = profile.power
    stdout.print(f"idle power {p.idle_power_w:.2f} W ({p.idle_source})"
                 + (f"; basis: {p.basis}" if p.basis else ""))  # fmt: skip
    if p.sampling_rate_hz:
        stdout.print(f"power meter {p.source} sampled at {p.sampling_rate_hz:g} Hz; "
                     + "; ".join(f"{k}: {v}" for k, v in p.metadata.items()),
                     highlight=False, markup=False)  # fmt: skip
    for warning in profile.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _log_busy(what: str, load: MachineLoad) -> None:
    console.print(f"[yellow]machine busy[/yellow] while measuring {what} "
                  f"({'; '.join(load.reasons)}): measuring it again")  # fmt: skip


def _log_cell(cell: DraftCell) -> None:
    rates = ", ".join(f"{d.tokens_per_s.mean:.1f} tok/s @{d.context_tokens}" for d in cell.decode)
    console.print(f"measured {cell.draft} {cell.quant}: {rates}")


@dataclass
class ProfileOptions:
    """`configspec profile`: what to measure (the registry's cells), how (settings) and where to."""

    models: Path = Path("models.yaml")
    drafts: list[str] | None = None  # default: every draft in the default sweep
    quants: list[str] | None = None  # default: every listed quantization
    settings: DraftingSettings = field(default_factory=DraftingSettings)
    device: str | None = None  # default: the hostname
    out: Path | None = None  # default: results/<device>/drafting-<date>.json
    power_w: float | None = None  # the user's own wattage when no sensor exists (an estimate)
    idle_power_w: float | None = None


def profile_drafts(options: ProfileOptions) -> tuple[DeviceProfile, Path]:
    """Measure every selected cell on this device; the profile and where it was written."""
    o, settings = options, options.settings
    registry = load_registry(o.models)
    cells = select_cells(registry, o.drafts, o.quants)
    with byte_progress() as factory:  # prepare files first so the timed sweep is not interrupted
        for cell in cells:
            with console.status(f"preparing {cell.label}"):
                model_file(cell.model, cell.quant, progress_factory=factory)
    meter, skipped = detect_meter(threads=settings.threads, user_active_w=o.power_w,
                                  user_idle_w=o.idle_power_w)  # fmt: skip
    backend = "+".join(sorted({c.model.backend for c in cells}))  # the registry names it
    profile = new_profile(o.device, settings, meter, skipped, backend, backend_version(backend))
    out = o.out or default_output(profile.environment.device)
    steps = len(cells) * len(settings.contexts) * settings.repetitions
    try:
        with step_progress("profiling", steps) as (advance, describe, _):
            run_sweep(cells, profile, out, meter, on_step=advance,
                      on_cell=lambda c: describe(f"profiling {c.label}"),
                      on_measured=_log_cell, on_busy=_log_busy)  # fmt: skip
    except KeyboardInterrupt:
        exit_interrupted(len(profile.cells), "measured cell(s)", out, "nothing measured yet")
    print_profile(profile)
    console.print(f"profile written to {out}")
    return profile, out
