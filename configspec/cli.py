"""The `configspec` command. Each command parses options and delegates; no logic lives here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from configspec.errors import ConfigspecError
from configspec.progress import console

app = typer.Typer(
    help="Measure, model and choose speculative-decoding configurations for edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="List and prepare the models in models.yaml.", no_args_is_help=True)
app.add_typer(models_app, name="models")

ModelsOpt = typer.Option(Path("models.yaml"), "--models", help="Model registry file.")


def _split(values: list[str] | None) -> list[str] | None:
    """Accept both `--quants A --quants B` and `--quants A,B`."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@models_app.command("list")
def models_list(models: Path = ModelsOpt) -> None:
    """Show the registry: every model, its role, source and quantizations."""
    from configspec.registry import load_registry

    registry = load_registry(models)
    table = Table(title=f"{models}")
    for column in ("name", "role", "target", "family", "backend", "source", "quantizations"):
        table.add_column(column)
    for m in registry.models:
        src = m.source
        source = {"demo": f"demo:{src.demo}", "path": src.path, "hf": f"hf:{src.hf}/{src.file}"}
        quants = ", ".join(q + ("*" if q == m.quant else "") for q in m.quantizations)
        sweep = "" if m.in_default_sweep or m.role == "target" else " (opt-in)"
        table.add_row(m.name, m.role + sweep, m.target or "", m.family, m.backend,
                      source[src.kind], quants)  # fmt: skip
    console.print(table)
    console.print("* the source file's own quantization; others are derived by llama.cpp")


@models_app.command("prepare")
def models_prepare(
    models: Path = ModelsOpt,
    model: list[str] = typer.Option(None, "--model", help="Only these models (default: all)."),
    quants: list[str] = typer.Option(None, "--quants", help="Only these quantizations."),
) -> None:
    """Assemble, download (hf sources) and quantize model files into the cache."""
    from configspec.registry import load_registry
    from configspec.sources.prepare import prepare_models

    registry = load_registry(models)
    for line in prepare_models(registry, _split(model), _split(quants)):
        console.print(line)


@app.command()
def profile(
    models: Path = ModelsOpt,
    drafts: list[str] = typer.Option(None, "--drafts", help="Drafts to profile (default: all)."),
    quants: list[str] = typer.Option(None, "--quants", help="Quantizations (default: listed)."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads for llama.cpp."),
    repetitions: int = typer.Option(5, min=2, help="Timed repetitions per measurement."),
    tokens: int = typer.Option(64, min=4, help="Tokens decoded per repetition."),
    contexts: str = typer.Option("16,512", help="Context lengths (tokens) to decode at."),
    prefill_tokens: int = typer.Option(256, min=2, help="Prompt length for prefill."),
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    out: Path = typer.Option(None, help="Output file (default results/<device>/drafting-*.json)."),
    power_w: float = typer.Option(None, help="Active power in W, if you know it (estimate)."),
    idle_power_w: float = typer.Option(None, help="Idle power in W with --power-w."),
) -> None:
    """Measure drafting throughput, prefill and power for each draft x quantization here."""
    from configspec.profiling.profile_command import profile_drafts

    try:
        context_list = tuple(int(c) for c in contexts.split(","))
    except ValueError as exc:
        raise ConfigspecError(f"--contexts takes integers like 16,512, not {contexts!r}") from exc
    profile_drafts(
        models, _split(drafts), _split(quants), threads, repetitions, tokens, context_list,
        prefill_tokens, device, out, power_w, idle_power_w,
    )  # fmt: skip


@app.command()
def devices(threads: int = typer.Option(os.cpu_count() or 1, help="Threads a job would use.")):
    """Show the power meter configspec would use here, and why others were not."""
    from device_profilers import describe_host, detect_meter

    meter, skipped = detect_meter(threads=threads)
    for key, value in describe_host().items():
        console.print(f"{key:>18}: {value}")
    console.print(f"{'power meter':>18}: {meter.source}")
    basis = getattr(getattr(meter, "estimate", None), "basis", None)
    if basis:
        console.print(f"{'estimate basis':>18}: {basis} (no sensor found: figures are estimates)")
    for name, why in skipped.items():
        console.print(f"{'not ' + name:>18}: {why}")


@app.command()
def recommend(
    results: Path = typer.Option(Path("results"), help="Where to find the newest profiles."),
    drafting: list[Path] = typer.Option(None, "--drafting", help="Drafting profile(s)."),
    alignment: Path = typer.Option(None, help="Alignment profile (default: newest)."),
    verification: Path = typer.Option(None, help="Verification profile (default: newest)."),
    scenario: Path = typer.Option(None, help="Scenario YAML (default: ./scenario.yaml)."),
    min_goodput: float = typer.Option(None, help="Least verified tokens/s per device."),
    max_joules_per_token: float = typer.Option(None, help="Most joules per verified token."),
    max_cost: float = typer.Option(None, help="Most US$ per 1M verified tokens."),
    method: str = typer.Option("exact", help="exact (enumerate all) or optuna."),
    objective: str = typer.Option("all", help="optuna: all (NSGA-II) or goodput|cost|energy."),
    sampler: str = typer.Option("nsga2", help="optuna, all objectives: nsga2 or tpe (MOTPE)."),
    trials: int = typer.Option(None, min=1, help="optuna trials per device (default 10%)."),
    storage: str = typer.Option(None, help="optuna storage: RDB URL or journal file path."),
    seed: int = typer.Option(0, help="optuna sampler seed."),
    llama_cpp_flags: str = typer.Option("new", help="new (--spec-draft-*) or old (--draft-*)."),
    out_dir: Path = typer.Option(None, help="Where recommendations.yaml/.json go (--results)."),
) -> None:
    """Search draft x quant x policy per device; print the picks; write recommendations."""
    from configspec.recommend.command import RecommendOptions
    from configspec.recommend.command import recommend as run_recommend

    run_recommend(RecommendOptions(
        results=results, drafting=drafting or None, alignment=alignment,
        verification=verification, scenario=scenario, min_goodput=min_goodput,
        max_joules_per_token=max_joules_per_token, max_cost=max_cost, method=method,
        objective=objective, sampler=sampler, trials=trials, storage=storage, seed=seed,
        flags=llama_cpp_flags, out_dir=out_dir,
    ))  # fmt: skip


@app.command()
def report(
    results: Path = typer.Option(Path("results"), help="Folder with profiles and recommendations."),
    name: str = typer.Option("latest", help="Report name: writes reports/<name>/index.html."),
    png: bool = typer.Option(False, "--png", help="Also export each figure as PNG (kaleido)."),
) -> None:
    """Write one self-contained HTML report (plots, recommendations, provenance)."""
    from configspec.report.build import write_report

    write_report(results, name, png)


@app.command()
def run(
    models: Path = ModelsOpt,
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads."),
) -> None:
    """The whole pipeline on the registry (default: the bundled demo pair)."""
    from configspec.pipeline import run_pipeline

    run_pipeline(models, device, threads)


def main() -> None:
    try:
        app()
    except ConfigspecError as exc:
        console.print(f"[red]configspec: error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
