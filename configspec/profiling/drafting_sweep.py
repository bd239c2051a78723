"""Sweep draft x quantization cells on this device and write one DeviceProfile.

The file is rewritten (atomically) after every cell, so Ctrl-C or a crash keeps what was measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.profiles.drafting import DeviceProfile, DraftCell, DraftingSettings, PowerInfo
from configspec.profiles.environment import Environment
from configspec.profiles.io import default_output as profile_path
from configspec.profiles.io import save_profile
from configspec.profiles.machine_load import MachineLoad
from configspec.profiling.drafting import profile_tokens, time_batch, time_decode, time_prefill
from configspec.profiling.machine_load import measure_until_quiet
from configspec.registry.schema import ModelEntry, Registry
from configspec.runners import open_runner
from configspec.sources.cache import model_bytes, model_sha256
from configspec.sources.resolve import model_file
from device_profilers.base import MeterUnavailable, PowerMeter


@dataclass(frozen=True)
class Cell:
    model: ModelEntry
    quant: str

    @property
    def label(self) -> str:
        return f"{self.model.name} {self.quant}"


def select_cells(
    registry: Registry, drafts: list[str] | None = None, quants: list[str] | None = None
) -> list[Cell]:
    """Draft x quantization cells: the named drafts (default: the default sweep), filtered by quant."""
    if drafts:
        models = []
        for name in drafts:
            try:
                model = registry.get(name)
            except KeyError as exc:
                raise ConfigspecError(str(exc.args[0])) from exc
            if model.role != "draft":
                raise ConfigspecError(f"{name} is a {model.role}, not a draft")
            models.append(model)
    else:
        models = [m for m in registry.drafts if m.in_default_sweep]
    wanted = [q.upper() for q in quants] if quants else None
    cells = [Cell(m, q) for m in models for q in m.quantizations if not wanted or q in wanted]
    if not cells:
        listed = sorted({q for m in models for q in m.quantizations})
        raise ConfigspecError(
            f"no draft x quantization matches --quants {','.join(quants or [])} "
            f"(available: {', '.join(listed)})"
        )
    return cells


def default_output(device: str) -> Path:
    return profile_path(device, "drafting")


def profile_cell(
    cell: Cell, settings: DraftingSettings, meter: PowerMeter,
    on_step: Callable[[], None] | None = None,
    on_busy: Callable[[str, MachineLoad], None] | None = None,
) -> tuple[DraftCell, list[str], str]:  # fmt: skip
    """Measure one cell; returns it, its warnings and the backend version. A measurement made
    while the machine was busy is repeated (profiling/machine_load.py); `on_busy` hears of it."""
    path = model_file(cell.model, cell.quant)
    t0 = time.perf_counter()
    runner = open_runner(cell.model.backend, path, threads=settings.threads,
                         n_ctx=settings.n_ctx, quant=cell.quant)  # fmt: skip
    load_s = time.perf_counter() - t0
    warnings: list[str] = []
    busy = on_busy or (lambda what, load: None)

    def decode_once(tokens: list[int]):
        result, warns = time_decode(runner, tokens, settings, meter, on_step)
        return (result, warns), result.tokens_per_s.samples

    def prefill_once(tokens: list[int]):
        prefill = time_prefill(runner, tokens, settings.repetitions)
        return prefill, prefill.tokens_per_s.samples

    def batch_once(context: list[int], n: int):
        point = time_batch(runner, context, n, settings.repetitions)
        return point, [1.0 / s for s in point.latency_s.samples]

    try:
        decode = []
        for context in settings.contexts:
            tokens = profile_tokens(runner, context)
            (result, warns), load = measure_until_quiet(
                lambda t=tokens: decode_once(t), on_retry=partial(busy, f"{cell.label} @{context}")
            )
            decode.append(result.model_copy(update={"machine_load": load}))
            warnings += warns
        tokens = profile_tokens(runner, settings.prefill_tokens)
        prefill, load = measure_until_quiet(
            lambda: prefill_once(tokens), on_retry=partial(busy, f"{cell.label} prefill")
        )
        prefill = prefill.model_copy(update={"machine_load": load})
        batches = []
        for context in settings.contexts if settings.batch_tokens else []:
            tokens = profile_tokens(runner, context)
            for n in settings.batch_tokens:
                point, load = measure_until_quiet(
                    lambda t=tokens, n=n: batch_once(t, n),
                    on_retry=partial(busy, f"{cell.label} batch of {n} @{context}"),
                )  # fmt: skip
                batches.append(point.model_copy(update={"machine_load": load}))
        version = runner.backend_version
        precision = runner.precision or cell.quant  # what was loaded (transformers: the dtype)
    finally:
        runner.close()
    draft_cell = DraftCell(
        draft=cell.model.name, target=cell.model.target or "", quant=precision, file=str(path),
        file_sha256=model_sha256(path), file_bytes=model_bytes(path), load_s=load_s,
        decode=decode, prefill=prefill, batch=batches,
    )  # fmt: skip
    return draft_cell, sorted(set(warnings + draft_cell.busy_notes())), version


# Idle power (the device waiting for the server) is measured over this long; several update periods
# of every meter we support.
IDLE_S = 2.0


def new_profile(
    device: str | None, settings: DraftingSettings, meter: PowerMeter, skipped: dict[str, str],
    backend: str, backend_version: str,
) -> DeviceProfile:  # fmt: skip
    idle = meter.idle_power(IDLE_S)
    period = meter.sampling_period_s
    return DeviceProfile(
        environment=Environment.capture(device, settings.threads, backend, backend_version),
        settings=settings,
        power=PowerInfo(
            source=meter.source, basis=meter.basis,
            sampling_period_s=period, idle_power_w=idle.mean_power_w,
            idle_source=idle.source, meters_skipped=skipped, idle_duration_s=idle.duration_s,
            sampling_rate_hz=1 / period if period > 0 else None, metadata=meter.metadata(),
        ),
    )  # fmt: skip


def run_sweep(
    cells: list[Cell], profile: DeviceProfile, out: Path, meter: PowerMeter, on_step=None,
    on_cell=None, on_measured=None, on_busy=None,
) -> DeviceProfile:  # fmt: skip
    """Measure every cell at the profile's settings, saving after each; on Ctrl-C save what was
    measured and re-raise."""
    try:
        for cell in cells:
            if on_cell:
                on_cell(cell)
            measured, warnings, version = profile_cell(
                cell, profile.settings, meter, on_step, on_busy
            )
            profile.cells.append(measured)
            profile.environment.backend_version = version
            profile.warnings = sorted(set(profile.warnings + warnings))
            save_profile(profile, out)
            if on_measured:
                on_measured(measured)
    except KeyboardInterrupt:
        profile.interrupted = True
        if profile.cells:
            save_profile(profile, out)
        raise
    except MeterUnavailable as exc:  # the sensor went away mid-sweep: keep what was measured
        profile.interrupted = True
        if profile.cells:
            save_profile(profile, out)
        raise ConfigspecError(f"power meter failed while profiling: {exc}") from exc
    return profile
