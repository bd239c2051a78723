"""The `configspec` command. Each command parses options and delegates; no logic lives here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from configspec.errors import ConfigspecError
from configspec.output import print_json, stdout
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


def _ints(text: str, option: str, example: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigspecError(f"{option} takes integers like {example}, not {text!r}") from exc


@models_app.command("list")
def models_list(
    models: Path = ModelsOpt,
    json: bool = typer.Option(False, "--json", help="Print the registry as JSON."),
) -> None:
    """Show the registry: every model, its role, source and quantizations."""
    from configspec.registry import load_registry

    registry = load_registry(models)
    if json:
        print_json(registry.model_dump(mode="json", exclude_none=True))
        return
    table = Table(title=f"{models}")
    for column in ("name", "role", "target", "family", "backend", "source", "quantizations"):
        table.add_column(column)
    for m in registry.models:
        src = m.source
        hf = f"hf:{src.hf}" + (f"/{src.file}" if src.file else "")
        source = {"demo": f"demo:{src.demo}", "path": src.path, "hf": hf}
        quants = ", ".join(q + ("*" if q == m.quant else "") for q in m.quantizations)
        sweep = "" if m.in_default_sweep or m.role == "target" else " (opt-in)"
        table.add_row(m.name, m.role + sweep, m.target or "", m.family, m.backend,
                      source[src.kind], quants)  # fmt: skip
    stdout.print(table)
    stdout.print("* the source file's own quantization; others are derived by llama.cpp")


@models_app.command("prepare")
def models_prepare(
    models: Path = ModelsOpt,
    model: list[str] = typer.Option(None, "--model", help="Only these models (default: all)."),
    quants: list[str] = typer.Option(None, "--quants", help="Only these quantizations."),
    vllm: bool = typer.Option(
        False, "--vllm", help="Also make each target's transformers folder for vLLM (docs/vllm.md)."
    ),
) -> None:
    """Assemble, download (hf sources) and quantize model files into the cache."""
    from configspec.registry import load_registry
    from configspec.sources.prepare import prepare_models

    registry = load_registry(models)
    for line in prepare_models(registry, _split(model), _split(quants)):
        console.print(line)
    if vllm:
        from configspec.vllm_backend.prepare import vllm_model_folder

        names = _split(model)
        for target in registry.targets:
            if not names or target.name in names:
                folder = vllm_model_folder(target, log=console.print)
                console.print(f"{target.name:<32} vLLM    {folder}")


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
    batch_tokens: str = typer.Option(
        "2,5,9,17", help="Forwards over n tokens per context (llama.cpp re-reads each batch)."
    ),
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    out: Path = typer.Option(None, help="Output file (default results/<device>/drafting-*.json)."),
    power_w: float = typer.Option(None, help="Active power in W, if you know it (estimate)."),
    idle_power_w: float = typer.Option(None, help="Idle power in W with --power-w."),
) -> None:
    """Measure drafting throughput, prefill and power for each draft x quantization here."""
    from configspec.profiles.drafting import DraftingSettings
    from configspec.profiling.profile_command import ProfileOptions, profile_drafts

    settings = DraftingSettings(
        threads=threads, repetitions=repetitions, warmup_tokens=min(8, tokens),
        decode_tokens=tokens, contexts=list(_ints(contexts, "--contexts", "16,512")),
        prefill_tokens=prefill_tokens,
        batch_tokens=list(_ints(batch_tokens, "--batch-tokens", "2,5,9,17")),
    )  # fmt: skip
    profile_drafts(ProfileOptions(
        models=models, drafts=_split(drafts), quants=_split(quants), settings=settings,
        device=device, out=out, power_w=power_w, idle_power_w=idle_power_w,
    ))  # fmt: skip


@app.command()
def align(
    models: Path = ModelsOpt,
    drafts: list[str] = typer.Option(None, "--drafts", help="Drafts to align (default: all)."),
    quants: list[str] = typer.Option(None, "--quants", help="Quantizations (default: listed)."),
    prompts: Path = typer.Option(
        None,
        help='Prompt file, .jsonl or .csv; plain {"prompt"} lines and Spec-Bench\'s '
        "question.jsonl work too (default: built-in).",
    ),
    n_prompts: int = typer.Option(None, min=1, help="Use this many prompts, spread over kinds."),
    kinds: list[str] = typer.Option(None, "--kinds", help="Only prompts of these kinds."),
    new_tokens: int = typer.Option(128, min=2, help="Tokens the target writes per prompt."),
    temperature: float = typer.Option(0.7, min=0.0, help="Sampling temperature (0: greedy only)."),
    seed: int = typer.Option(0, help="Seed for sampled continuations and Monte Carlo walks."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads for llama.cpp."),
    k_max: int = typer.Option(16, min=1, max=64, help="Largest K (and K max of thresholds)."),
    taus: str = typer.Option("0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", help="Threshold grid."),
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    out: Path = typer.Option(None, help="Output file (default results/<device>/alignment-*.json)."),
) -> None:
    """Measure draft-target acceptance from teacher-forced traces, for every K and threshold."""
    from configspec.alignment.command import AlignOptions
    from configspec.alignment.command import align as run_align
    from configspec.profiles.alignment import AlignmentSettings

    try:
        tau_grid = tuple(float(t) for t in taus.split(",") if t.strip())
    except ValueError as exc:
        raise ConfigspecError(f"--taus takes numbers like 0.3,0.5, not {taus!r}") from exc
    if any(not 0.0 <= t <= 1.0 for t in tau_grid):
        raise ConfigspecError(f"--taus are probabilities in [0, 1], not {taus!r}")
    settings = AlignmentSettings(new_tokens=new_tokens, temperature=temperature, seed=seed,
                                 k_max=k_max, tau_grid=list(tau_grid))  # fmt: skip
    run_align(AlignOptions(
        models=models, drafts=_split(drafts), quants=_split(quants), prompts=prompts,
        n_prompts=n_prompts, kinds=_split(kinds), threads=threads, device=device, out=out,
        settings=settings,
    ))  # fmt: skip


@app.command("verify-latency")
def verify_latency(
    models: Path = ModelsOpt,
    target: str = typer.Option(None, help="Target model to time (default: the first target)."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads for the backend."),
    k_max: int = typer.Option(16, min=0, max=64, help="Time K = 0..k-max draft tokens (K+1 fed)."),
    ks: str = typer.Option(None, help="Explicit K values instead of 0..k-max, e.g. 0,1,2,4,8."),
    contexts: str = typer.Option("128,512", help="Context lengths (tokens) in the KV cache."),
    batch_sizes: str = typer.Option("1,2,4,8", help="Sequences per call, where batched."),
    batched_ks: str = typer.Option(
        None, help="K values at batch sizes above 1 (default: as batch 1)."
    ),
    repetitions: int = typer.Option(5, min=1, help="Timed calls per point (raw samples kept)."),
    passes: int = typer.Option(
        1, min=1, help="Sweeps over the grid, repetitions split between them (a drifting VM)."
    ),
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    out: Path = typer.Option(None, help="Output (default results/<device>/verification-*.json)."),
    power_w: float = typer.Option(None, help="Active power in W, if you know it (estimate)."),
    idle_power_w: float = typer.Option(None, help="Idle power in W with --power-w."),
    engine: str = typer.Option("llama_cpp", help="llama_cpp, or vllm (re-prefill; docs/vllm.md)."),
    vllm_url: str = typer.Option(None, help="vllm: a running vLLM server (default: start one)."),
    vllm_python: str = typer.Option(None, help="vllm: Python that has vLLM (default: this one)."),
) -> None:
    """Time the target scoring K+1 tokens on a warm cache, per K, context and batch size."""
    from configspec.profiles.verification import VerifySettings
    from configspec.profiling.verify_command import VerifyOptions
    from configspec.profiling.verify_command import verify_latency as run_verify

    k_values = _ints(ks, "--ks", "0,1,2,4,8") if ks else tuple(range(k_max + 1))
    settings = VerifySettings(
        ks=list(k_values), contexts=list(_ints(contexts, "--contexts", "128,512")),
        batch_sizes=list(_ints(batch_sizes, "--batch-sizes", "1,2,4,8")), repetitions=repetitions,
        passes=passes,
        batched_ks=list(_ints(batched_ks, "--batched-ks", "0,1,2,4,8")) if batched_ks else None,
    )  # fmt: skip
    run_verify(VerifyOptions(models=models, target=target, threads=threads, settings=settings,
                             device=device, out=out, power_w=power_w, idle_power_w=idle_power_w,
                             engine=engine, vllm_url=vllm_url,
                             vllm_python=vllm_python))  # fmt: skip


@app.command()
def devices(
    threads: int = typer.Option(os.cpu_count() or 1, help="Threads a job would use."),
    json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
):
    """Show the power meter configspec would use here, why others were not, and how to enable them."""
    from device_profilers.report import devices_report

    rows = devices_report(threads)
    if json:
        print_json([{"label": label, "text": text} for label, text in rows])
        return
    for label, text in rows:
        stdout.print(f"{label:>18}: {text}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def doctor(
    model_file: Path = typer.Option(
        None, "--model-file", help="GGUF to probe with (default: the smallest in the cache)."
    ),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads for the probe."),
) -> None:
    """Check the llama.cpp build for this CPU: features compiled in, origin, and a crash probe."""
    from configspec.doctor import doctor_rows, smallest_model_file

    rows, ok = doctor_rows(model_file or smallest_model_file(), threads)
    for label, text in rows:
        stdout.print(f"{label:>12}: {text}", highlight=False, markup=False, soft_wrap=True)
    if not ok:
        raise typer.Exit(1)


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
    evaluations: int = typer.Option(
        None, min=1, help="optuna: configurations evaluated per device (default 10%, >= 50)."
    ),
    storage: str = typer.Option(None, help="optuna storage: RDB URL or journal file path."),
    seed: int = typer.Option(0, help="optuna sampler seed."),
    llama_cpp_flags: str = typer.Option("new", help="new (--spec-draft-*) or old (--draft-*)."),
    out_dir: Path = typer.Option(None, help="Where recommendations.yaml/.json go (--results)."),
    json: bool = typer.Option(False, "--json", help="Print the recommendations as JSON."),
    fleet: Path = typer.Option(
        None, help="A fleet file: one joint pick for devices sharing a server."
    ),
    calibration: Path = typer.Option(None, help="--fleet: a fleet profile (per-round overheads)."),
    confirm: int = typer.Option(
        20, min=0, help="--fleet: simulate the N best joint picks by MVA; the best simulated wins."
    ),
    models: Path = ModelsOpt,
) -> None:
    """Search draft x quant x policy (or no speculation) per device, or jointly for a --fleet;
    print and write the picks."""
    from configspec.recommend.command import RecommendOptions
    from configspec.recommend.command import recommend as run_recommend

    if fleet is not None:
        from configspec.recommend.fleet import FleetRecommendOptions, recommend_fleet

        recommend_fleet(FleetRecommendOptions(
            fleet=fleet, models=models, scenario=scenario, objective=objective,
            method="auto" if method == "exact" else method, evaluations=evaluations or 20000,
            storage=storage, seed=seed, calibration=calibration, confirm=confirm,
            out_dir=out_dir or results, json=json,
        ))  # fmt: skip
        return

    run_recommend(RecommendOptions(
        results=results, drafting=drafting or None, alignment=alignment,
        verification=verification, scenario=scenario, min_goodput=min_goodput,
        max_joules_per_token=max_joules_per_token, max_cost=max_cost, method=method,
        objective=objective, sampler=sampler, evaluations=evaluations, storage=storage, seed=seed,
        flags=llama_cpp_flags, out_dir=out_dir, json=json,
    ))  # fmt: skip


@app.command()
def report(
    results: Path = typer.Option(Path("results"), help="Folder with profiles and recommendations."),
    name: str = typer.Option("latest", help="Report name: writes reports/<name>/index.html."),
    png: bool = typer.Option(False, "--png", help="Also export each figure as PNG (kaleido)."),
) -> None:
    """Write one self-contained HTML report (plots, recommendations, provenance)."""
    from configspec.report.build import ReportOptions
    from configspec.report.build import report as run_report

    run_report(ReportOptions(results=results, name=name, png=png))


baseline_app = typer.Typer(help="Promote profiles to the baselines compare checks against.",
                           no_args_is_help=True)  # fmt: skip
app.add_typer(baseline_app, name="baseline")


@app.command()
def compare(
    baseline: Path = typer.Argument(..., help="Baseline: drafting, alignment or verification."),
    current: Path = typer.Argument(..., help="The fresh profile of the same kind."),
    tolerance: float = typer.Option(0.10, help="Speed drop (fraction) allowed; see --alpha."),
    alpha: float = typer.Option(0.05, help="Significance level of the one-sided Welch t-test."),
    acceptance_tolerance: float = typer.Option(0.03, help="Alignment: tokens/round drop allowed."),
    markdown: Path = typer.Option(None, help="Also write a Markdown summary (CI comment) here."),
    junit: Path = typer.Option(None, help="Also write JUnit XML here."),
    json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Regression gate: exit 0 pass, 1 regression, 2 incompatible or invalid input."""
    from configspec.compare.command import CompareOptions, run_compare
    from configspec.compare.result import Thresholds

    thresholds = Thresholds(tolerance, alpha, acceptance_tolerance)
    raise typer.Exit(run_compare(CompareOptions(baseline, current, thresholds, markdown, junit,
                                                json)))  # fmt: skip


@baseline_app.command("update")
def baseline_update(
    profile: Path = typer.Argument(..., help="The profile to promote."),
    to: Path = typer.Option(None, help="Default: results/baselines/<device>-<kind>.json."),
) -> None:
    """Check a profile and copy it atomically to the committed baseline."""
    from configspec.compare.command import update_baseline

    update_baseline(profile, to)


@app.command()
def serve(
    models: Path = ModelsOpt,
    model: str = typer.Option(None, "--model", help="Target to serve (default: the first)."),
    quant: str = typer.Option(None, help="Its quantization (default: the source file's)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(50051, min=0, max=65535, help="Port (0: any free port)."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads for the target."),
    max_sessions: int = typer.Option(8, min=1, max=256, help="Sessions served at once."),
    ctx: int = typer.Option(2048, min=64, help="Context (tokens) per session."),
    max_batch: int = typer.Option(8, min=1, help="Most sessions' rounds per forward call."),
    batch_window_ms: float = typer.Option(5.0, min=0.0, help="Wait this long for more rounds."),
    prefill_chunk: int = typer.Option(
        None, min=1, help="Prefill chunk (tokens; default: about one batch window of work)."
    ),
    idle_timeout_s: float = typer.Option(120.0, min=0.1, help="Free a silent session after."),
    duration_s: float = typer.Option(None, min=0.1, help="Stop after this many seconds."),
    stop_after_sessions: int = typer.Option(None, min=1, help="Stop once this many closed."),
    metrics_port: int = typer.Option(None, help="Serve Prometheus /metrics on this port."),
    log_every_s: float = typer.Option(10.0, min=0.0, help="Log a rates line this often (0: off)."),
    port_file: Path = typer.Option(None, help="Write the port listened on to this file."),
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    out: Path = typer.Option(None, help="Serving profile (default results/<device>/serving-*)."),
    engine: str = typer.Option(
        "llama_cpp",
        help="llama_cpp: the target in this process with its registry backend (llama.cpp or "
        "transformers); or vllm (prompt logprobs; docs/vllm.md).",
    ),
    vllm_url: str = typer.Option(None, help="vllm: a running vLLM server (default: start one)."),
    vllm_python: str = typer.Option(None, help="vllm: Python that has vLLM (default: this one)."),
    vllm_top_logprobs: int = typer.Option(20, min=1, help="vllm: top-N logprobs per position."),
    vllm_enforce_eager: bool = typer.Option(
        False, help="vllm: skip torch.compile (starts ~3x sooner, runs ~2.5x slower)."
    ),
) -> None:
    """Verification server: host the target, verify edge drafts over gRPC, batch across sessions."""
    from configspec.serving.server import ServeOptions, run_server

    run_server(ServeOptions(
        models=models, target=model, quant=quant, host=host, port=port, threads=threads,
        max_sessions=max_sessions, n_ctx_per_session=ctx, max_batch=max_batch,
        batch_window_ms=batch_window_ms, prefill_chunk=prefill_chunk,
        idle_timeout_s=idle_timeout_s, duration_s=duration_s,
        stop_after_sessions=stop_after_sessions, metrics_port=metrics_port,
        log_every_s=log_every_s, port_file=port_file, device=device, out=out, engine=engine,
        vllm_url=vllm_url, vllm_python=vllm_python, vllm_top_logprobs=vllm_top_logprobs,
        vllm_enforce_eager=vllm_enforce_eager,
    ))  # fmt: skip


@app.command("baseline-serve")
def baseline_serve(
    models: Path = ModelsOpt,
    model: str = typer.Option(None, "--model", help="Target to serve (default: the first)."),
    quant: str = typer.Option(None, help="Its quantization (default: the source file's)."),
    prompts: Path = typer.Option(None, help="Prompt file, .jsonl or .csv (default: built-in)."),
    n_prompts: int = typer.Option(4, min=1, help="Requests: this many prompts, spread over kinds."),
    sessions: int = typer.Option(1, min=1, max=256, help="Concurrent closed-loop sessions."),
    max_new_tokens: int = typer.Option(64, min=1, help="Tokens to generate per request."),
    lengths_from: Path = typer.Option(
        None, help="An e2e profile: replay its prompts with their generated lengths."
    ),
    ignore_eos: bool = typer.Option(False, help="Always generate --max-new-tokens."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads for vLLM."),
    ctx: int = typer.Option(2048, min=64, help="Context (tokens) per session (--max-model-len)."),
    vllm_url: str = typer.Option(None, help="A running vLLM server (default: start one)."),
    vllm_python: str = typer.Option(None, help="Python that has vLLM (default: this one)."),
    vllm_enforce_eager: bool = typer.Option(
        False, help="Skip torch.compile (starts ~3x sooner, runs ~2.5x slower)."
    ),
    poll_s: float = typer.Option(0.25, min=0.05, help="Sample vLLM's running gauge this often."),
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    out: Path = typer.Option(None, help="Baseline profile (default results/<device>/baseline-*)."),
) -> None:
    """Server-only baseline: the target served alone by vLLM to N closed-loop sessions."""
    from configspec.vllm_backend.baseline import BaselineOptions, run_baseline

    run_baseline(BaselineOptions(
        models=models, target=model, quant=quant, prompts=prompts, n_prompts=n_prompts,
        sessions=sessions, max_new_tokens=max_new_tokens, lengths_from=lengths_from,
        ignore_eos=ignore_eos, threads=threads, n_ctx=ctx, vllm_url=vllm_url,
        vllm_python=vllm_python, enforce_eager=vllm_enforce_eager, poll_s=poll_s, device=device,
        out=out,
    ))  # fmt: skip


@app.command()
def edge(
    models: Path = ModelsOpt,
    server: str = typer.Option("127.0.0.1:50051", help="The verification server, HOST:PORT."),
    draft: str = typer.Option(None, help="Draft model (default: the first draft)."),
    quant: str = typer.Option(None, help="Its quantization (default: the source file's)."),
    k: int = typer.Option(
        4, "--k", min=1, max=64, help="Draft tokens per round (K max with --tau)."
    ),
    tau: float = typer.Option(None, min=0.0, max=1.0, help="Stop drafting below this confidence."),
    mode: str = typer.Option("greedy", help="greedy or sampled (lossless rejection sampling)."),
    temperature: float = typer.Option(0.0, min=0.0, help="Sampling temperature (sampled mode)."),
    top_n: int = typer.Option(None, min=1, help="Sampled: send only the draft's top-n probs."),
    prompts: Path = typer.Option(None, help="Prompt file, .jsonl or .csv (default: built-in)."),
    n_prompts: int = typer.Option(4, min=1, help="Use this many prompts, spread over kinds."),
    max_new_tokens: int = typer.Option(64, min=1, help="Tokens to generate per prompt."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads for the draft."),
    seed: int = typer.Option(0, help="Seed for sampling (draft here, acceptance on the server)."),
    delay_ms: float = typer.Option(0.0, help="Emulated delay added to the round trip (ms)."),
    bandwidth_mbit: float = typer.Option(None, help="Emulated link rate, both ways (Mbit/s)."),
    overlap: str = typer.Option(
        "none", help="none, or proactive: draft the next round while this one is verified."
    ),
    drafting_profile: Path = typer.Option(
        None, help="Drafting profile for the drafting energy (default: results/<device>/ newest)."
    ),
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    out: Path = typer.Option(None, help="e2e profile (default results/<device>/e2e-*.json)."),
) -> None:
    """Edge device: draft here with a real model, verify on `configspec serve`; e2e profile."""
    from configspec.registry import load_registry
    from configspec.serving.edge import EdgeOptions, run_edge

    if draft is None:
        drafts = load_registry(models).drafts
        if not drafts:
            raise ConfigspecError(f"{models} has no draft model")
        draft = drafts[0].name
    run_edge(EdgeOptions(
        models=models, server=server, draft=draft, quant=quant, k=k, tau=tau, mode=mode,
        temperature=temperature, top_n=top_n, prompts=prompts, n_prompts=n_prompts,
        max_new_tokens=max_new_tokens, threads=threads, seed=seed, delay_ms=delay_ms,
        bandwidth_mbit=bandwidth_mbit, device=device, out=out, overlap=overlap,
        drafting_profile=drafting_profile,
    ))  # fmt: skip


@app.command()
def fleet(
    fleet_file: Path = typer.Option(
        ..., "--fleet", help="Fleet file (device groups; docs/fleet.md)."
    ),
    models: Path = ModelsOpt,
    server: str = typer.Option("127.0.0.1:50051", help="The verification server, HOST:PORT."),
    duration: float = typer.Option(60.0, "--duration", help="Seconds measured, after the warm-up."),
    warmup: float = typer.Option(10.0, help="Seconds run first and not measured (devices start)."),
    round_timeout: float = typer.Option(
        300.0, help="A round (or Open) unanswered this long times out."
    ),
    seed: int = typer.Option(0, help="Seed for drafting times, prompts and arrivals."),
    device: str = typer.Option(None, help="Name of this machine (default: hostname)."),
    out: Path = typer.Option(None, help="Fleet profile (default results/<device>/fleet-*.json)."),
) -> None:
    """Emulated edge devices (draft compute, network) against a real `configspec serve`."""
    from configspec.fleet.run import FleetOptions, run_fleet

    run_fleet(FleetOptions(
        fleet=fleet_file, models=models, server=server, duration_s=duration, warmup_s=warmup,
        seed=seed, round_timeout_s=round_timeout, device=device, out=out,
    ))  # fmt: skip


@app.command()
def run(
    models: Path = ModelsOpt,
    device: str = typer.Option(None, help="Device name (default: hostname)."),
    threads: int = typer.Option(min(4, os.cpu_count() or 1), help="CPU threads."),
) -> None:
    """The whole pipeline on the registry (default: the bundled demo pair)."""
    from configspec.pipeline import RunOptions, run_pipeline

    run_pipeline(RunOptions(models=models, device=device, threads=threads))


def main() -> None:
    try:
        app()
    except ConfigspecError as exc:
        console.print(f"[red]configspec: error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
