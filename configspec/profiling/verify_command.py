"""`configspec verify-latency`: pick the target, measure with a progress bar, print and save."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from configspec.errors import ConfigspecError
from configspec.output import stdout
from configspec.profiles.environment import Environment
from configspec.profiles.io import default_output as profile_path
from configspec.profiles.io import save_profile
from configspec.profiles.verification import VerificationProfile, VerifySettings
from configspec.profiling.verification import measure_verification, supported_batches
from configspec.progress import byte_progress, console, exit_interrupted, step_progress
from configspec.registry import load_registry
from configspec.registry.schema import ModelEntry, Registry
from configspec.runners import open_runner
from configspec.sources.cache import model_sha256
from configspec.sources.resolve import model_file
from device_profilers import detect_meter

KV_LAYOUT = {
    "llama_cpp": "one KV stream per sequence (n_seq_max, kv_unified=false), context copied "
    "from sequence 0 (llama_memory_seq_cp)",
    "transformers": "DynamicCache rows of one batch, context repeated from row 0",
    "vllm": "no cache kept between calls: each call re-prefills context + K + 1 tokens + 1 probe "
    "(prompt logprobs, docs/vllm.md); sequences are concurrent requests vLLM batches",
}


def pick_target(registry: Registry, name: str | None) -> ModelEntry:
    targets = [m for m in registry.models if m.role == "target"]
    if name is None:
        if not targets:
            raise ConfigspecError("the registry has no target model (role: target)")
        return targets[0]
    try:
        model = registry.get(name)
    except KeyError as exc:
        raise ConfigspecError(str(exc.args[0])) from exc
    if model.role != "target":
        raise ConfigspecError(
            f"{name} is a {model.role}; verify-latency times a target "
            f"(targets: {', '.join(t.name for t in targets) or 'none'})"
        )
    return model


def default_output(device: str) -> Path:
    return profile_path(device, "verification")


def check_settings(settings: VerifySettings) -> None:
    for ks, message in ((settings.ks, "K values must be >= 0, e.g. --k-max 16"),
                        (settings.batched_ks, "--batched-ks takes K values >= 0 like 0,1,2,4,8,16")):  # fmt: skip
        if ks is not None and (not ks or min(ks) < 0):
            raise ConfigspecError(message)
    if not settings.contexts or min(settings.contexts) < 1:
        raise ConfigspecError("--contexts takes positive token counts like 128,512")
    if not settings.batch_sizes or min(settings.batch_sizes) < 1:
        raise ConfigspecError("--batch-sizes takes positive integers like 1,2,4,8")
    if settings.repetitions < 1:
        raise ConfigspecError("--repetitions must be at least 1")
    if not 1 <= settings.passes <= settings.repetitions:
        raise ConfigspecError(
            f"--passes is 1 to --repetitions ({settings.repetitions}), not {settings.passes}: "
            "each pass times at least one call per point"
        )


def print_verification(profile: VerificationProfile) -> None:
    columns = sorted({(p.context_tokens, p.batch) for p in profile.points})
    env = profile.environment
    table = Table(
        title=f"Verification latency, ms per call: {profile.target} {profile.target_quant} on "
        f"{env.device} ({env.cpu_model}, {env.threads} threads)"
    )
    table.add_column("K", justify="right")
    for context, batch in columns:
        table.add_column(f"ctx {context} B={batch}", justify="right")
    by_key = {(p.context_tokens, p.batch, p.k): p for p in profile.points}
    for k in sorted({p.k for p in profile.points}):
        cells = []
        for context, batch in columns:
            p = by_key.get((context, batch, k))
            cells.append(f"{1e3 * p.latency_s.mean:.1f} ± {1e3 * p.latency_s.std:.1f}" if p else "")
        table.add_row(str(k), *cells)
    stdout.print(table)
    sources = sorted({p.power_source for p in profile.points if p.power_source})
    if sources:
        stdout.print(
            f"energy per call from {', '.join(sources)}"
            + (f" (basis: {profile.power_basis})" if profile.power_basis else "")
        )
    for warning in profile.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _open_vllm(target: ModelEntry, path: Path, threads: int, settings: VerifySettings,
               url: str | None, python: str | None):  # fmt: skip
    """(runner, close) for the target on vLLM (docs/vllm.md); close() also stops a vLLM server
    configspec started."""
    from configspec.vllm_backend.target import (
        VllmTargetOptions,
        open_vllm_target,
        reference_tokenizer,
    )  # fmt: skip

    vllm = open_vllm_target(target, reference_tokenizer(path)[0], VllmTargetOptions(
        url=url, python=python, threads=threads, n_ctx=max(2048, settings.n_ctx + 1),
        max_sessions=max(settings.batch_sizes),
    ), log=lambda line: console.print(line, highlight=False))  # fmt: skip
    vllm.runner.max_sequences = max(settings.batch_sizes)
    return vllm.runner, vllm.close


@dataclass
class VerifyOptions:
    """`configspec verify-latency`: which target, how (settings), on which engine and where to."""

    models: Path = Path("models.yaml")
    target: str | None = None  # default: the registry's first target
    threads: int = 2
    settings: VerifySettings = field(default_factory=VerifySettings)
    device: str | None = None  # default: the hostname
    out: Path | None = None  # default: results/<device>/verification-<date>.json
    power_w: float | None = None  # the user's own wattage when no sensor exists (an estimate)
    idle_power_w: float | None = None
    engine: str = "llama_cpp"  # llama_cpp | vllm (docs/vllm.md)
    vllm_url: str | None = None  # a running vLLM server; None: start one
    vllm_python: str | None = None


def verify_latency(options: VerifyOptions) -> tuple[VerificationProfile, Path]:
    """Measure the target's verification latency here and write results/<device>/verification-*."""
    o = options
    threads = o.threads
    check_settings(o.settings)
    registry = load_registry(o.models)
    target = pick_target(registry, o.target)
    with byte_progress() as factory, console.status(f"preparing {target.name}"):
        path = model_file(target, target.serving_quant, progress_factory=factory)
    meter, _ = detect_meter(threads=threads, user_active_w=o.power_w, user_idle_w=o.idle_power_w)
    t0 = time.perf_counter()
    if o.engine == "vllm":
        runner, close = _open_vllm(target, path, threads, o.settings, o.vllm_url, o.vllm_python)
    elif o.engine == "llama_cpp":
        with console.status(f"loading {target.name} {target.serving_quant}"):
            runner = open_runner(
                target.backend, path, threads=threads, n_ctx=o.settings.n_ctx,
                quant=target.serving_quant, n_seq_max=max(o.settings.batch_sizes),
            )  # fmt: skip
        close = runner.close
    else:
        raise ConfigspecError(f"--engine is llama_cpp or vllm, not {o.engine!r}")
    load_s = time.perf_counter() - t0
    settings = o.settings.model_copy(update={"kv_layout": KV_LAYOUT.get(runner.backend, "")})
    try:
        idle = meter.idle_power(2.0)
        profile = VerificationProfile(
            environment=Environment.capture(o.device, threads, runner.backend,
                                            runner.backend_version),  # fmt: skip
            target=target.name, target_quant=runner.precision or target.serving_quant,
            target_sha256=model_sha256(path),
            target_file=str(path), load_s=load_s, repetitions=settings.repetitions,
            settings=settings,
            idle_power_w=idle.mean_power_w, idle_source=idle.source,
            power_basis=meter.basis,
        )  # fmt: skip
        out = o.out or default_output(profile.environment.device)
        steps = settings.passes * len(
            settings.points(supported_batches(runner, settings.batch_sizes))
        )
        try:
            with step_progress("verification latency", steps) as (advance, describe, _):

                def on_point(point) -> None:
                    advance()
                    describe(f"verify ctx {point.context_tokens} B={point.batch} K={point.k}")

                measure_verification(
                    runner, profile, settings, meter, save=lambda: save_profile(profile, out),
                    on_point=on_point,
                )  # fmt: skip
        except KeyboardInterrupt:
            exit_interrupted(len(profile.points), "measured point(s)", out, "nothing measured yet")
    finally:
        close()
        meter.close()
    save_profile(profile, out)
    print_verification(profile)
    console.print(f"verification profile written to {out}")
    return profile, out
