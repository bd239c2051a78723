"""`configspec align`: pick cells and prompts, run the sweep with a progress bar, print, save."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from configspec.alignment.prompts import DEFAULT_PROMPTS, load_prompts, select_prompts
from configspec.alignment.sweep import (
    align_target,
    default_output,
    group_by_target,
    traces_path,
)
from configspec.output import stdout
from configspec.profiles.alignment import AlignmentProfile, AlignmentSettings
from configspec.profiles.environment import Environment
from configspec.profiles.io import save_profile
from configspec.profiles.policy import Policy
from configspec.profiling.drafting_sweep import select_cells
from configspec.progress import byte_progress, console, exit_interrupted, step_progress
from configspec.registry import load_registry
from configspec.runners import backend_version
from configspec.sources.resolve import model_file

SHOWN_K = (1, 2, 4, 8)


def print_alignment(profile: AlignmentProfile) -> None:
    s = profile.settings
    table = Table(
        title=f"Alignment on {s.n_prompts} prompts x {s.new_tokens} new tokens "
        "(tokens per round: from traces / i.i.d. closed form)"
    )
    for column in ("draft", "quant", "mode", "a", *[f"K={k}" for k in SHOWN_K], "top-1/4/8"):
        table.add_column(column, justify="right")
    for cell in profile.cells:
        shown = []
        for k in SHOWN_K:
            if k > len(cell.fixed_k):
                shown.append("")
                continue
            stats = cell.stats(Policy.fixed(k))
            ci = stats.tokens_per_round_ci95
            band = f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else ""
            shown.append(
                f"{stats.tokens_per_round:.2f}{band} / {cell.iid_tokens_per_round[k - 1]:.2f}"
            )
        cover = "/".join(f"{cell.topk_coverage.get(k, 0):.2f}" for k in (1, 4, 8))
        mode = "greedy" if cell.mode == "greedy" else f"T={cell.temperature:g}"
        table.add_row(cell.draft, cell.quant, mode, f"{cell.acceptance_rate:.3f}", *shown, cover)
    stdout.print(table)
    for warning in profile.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@dataclass
class AlignOptions:
    """`configspec align`: which cells, which prompts, how (settings) and where to."""

    models: Path = Path("models.yaml")
    drafts: list[str] | None = None  # default: every draft in the default sweep
    quants: list[str] | None = None  # default: every listed quantization
    prompts: Path | None = None  # default: configspec's own prompt set
    n_prompts: int | None = None  # the first N, round-robin over kinds; default: all
    kinds: list[str] | None = None  # only prompts of these kinds (Spec-Bench categories)
    threads: int = 2
    device: str | None = None  # default: the hostname
    out: Path | None = None  # default: results/<device>/alignment-<date>.json
    settings: AlignmentSettings = field(default_factory=AlignmentSettings)


def align(options: AlignOptions) -> tuple[AlignmentProfile, Path]:
    """Align every selected cell with its target over the prompts; the profile and its path."""
    o = options
    registry = load_registry(o.models)
    cells = select_cells(registry, o.drafts, o.quants)
    groups = group_by_target(registry, cells)
    prompts = select_prompts(load_prompts(o.prompts), o.n_prompts, o.kinds)
    with byte_progress() as factory:  # assemble / quantize files before the timed work
        for target, group in groups:
            with console.status(f"preparing {target.name}"):
                model_file(target, target.serving_quant, progress_factory=factory)
            for cell in group:
                with console.status(f"preparing {cell.label}"):
                    model_file(cell.model, cell.quant, progress_factory=factory)
    backend = "+".join(sorted({target.backend for target, _ in groups}))  # the target's runner
    settings = o.settings.model_copy(update={
        "prompts_file": str(o.prompts) if o.prompts else DEFAULT_PROMPTS, "n_prompts": len(prompts),
    })  # fmt: skip
    profile = AlignmentProfile(
        environment=Environment.capture(o.device, o.threads, backend, backend_version(backend)),
        settings=settings,
    )  # fmt: skip
    out = o.out or default_output(profile.environment.device)
    steps = sum(len(prompts) * (len(settings.modes) + len(group)) for _, group in groups)
    t0 = time.perf_counter()
    try:
        with step_progress("aligning", steps) as (advance, describe, _):
            last: list = []  # [phase, start time] of the step in progress

            def on_step(phase: str, text: str) -> None:
                now = time.perf_counter()
                if last:
                    advance()
                    profile.phase_s[last[0]] = profile.phase_s.get(last[0], 0.0) + now - last[1]
                last[:] = [phase, now]
                describe(text)

            for target, group in groups:
                align_target(target, group, prompts, settings, o.threads, profile, out,
                             on_step=on_step)  # fmt: skip
            on_step("", "done")
    except KeyboardInterrupt:
        exit_interrupted(
            len(profile.cells),
            "cell(s) with the prompts finished so far",
            out,
            "nothing finished yet",
        )
    profile.phase_s.pop("", None)
    profile.wall_s = time.perf_counter() - t0
    save_profile(profile, out)
    print_alignment(profile)
    phases = ", ".join(f"{name} {s:.0f} s" for name, s in profile.phase_s.items())
    console.print(f"time: {profile.wall_s:.0f} s in all; {phases}")
    console.print(f"alignment written to {out} (traces: {traces_path(out).name})")
    return profile, out
