"""One small interface over inference backends. A runner knows nothing of profiling."""

from configspec.runners.base import Runner

__all__ = ["Runner", "backend_version", "open_runner"]

# The packages behind each backend, as their runners report them in backend_version.
BACKEND_PACKAGES = {"llama_cpp": ("llama-cpp-python",), "transformers": ("transformers", "torch")}


def backend_version(backend: str) -> str:
    """The installed version of a backend, read without loading it (for a profile's
    environment before any model is open); the same text its runner reports."""
    from importlib.metadata import PackageNotFoundError, version

    packages = BACKEND_PACKAGES.get(backend, ())
    try:
        versions = [version(name) for name in packages]
    except PackageNotFoundError:
        return "not installed"
    if backend == "llama_cpp":
        return versions[0]
    return ", ".join(f"{name} {v}" for name, v in zip(packages, versions, strict=True))


def open_runner(
    backend: str, path, threads: int, n_ctx: int = 2048, quant: str | None = None, **kwargs
) -> Runner:
    """Load `path` with the named backend at the registry's `quant`: a llama.cpp file is its
    quantization already; transformers loads the checkpoint in that dtype (F32, F16, BF16).
    llama.cpp's first call is probed in a child process first (once per build and file), so a
    native crash is one clear line (crash_guard.py)."""
    if backend == "llama_cpp":
        from configspec.runners.crash_guard import ensure_llama_cpp_runs
        from configspec.runners.llama_cpp import LlamaCppRunner

        ensure_llama_cpp_runs(path, threads)

        return LlamaCppRunner(path, threads=threads, n_ctx=n_ctx, **kwargs)
    if backend == "transformers":
        from configspec.runners.transformers import TransformersRunner

        if quant is not None:
            kwargs["dtype"] = quant
        return TransformersRunner(path, threads=threads, n_ctx=n_ctx, **kwargs)
    from configspec.errors import ConfigspecError

    raise ConfigspecError(
        f"backend {backend!r} has no runner yet (available: llama_cpp, transformers)"
    )
