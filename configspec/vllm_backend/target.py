"""The target of `configspec serve --engine vllm`: a VllmRunner on a vLLM server that configspec
starts (loopback, stopped by pid) or that already runs (--vllm-url), checked against the
registry's target before any session is served.

Checks, each a one-line error: vLLM installed (when configspec starts it), the server reachable,
its tokenizer the registry target's (the same fingerprint as the edge checks: tokenizer_fingerprint)
and its vocabulary within llama.cpp's padding allowance, and the top-N logprobs asked within the
server's --max-logprobs (a first request, which also takes vLLM's slow first call out of the
measurements).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from configspec.alignment.tokenizers import MAX_VOCAB_DIFFERENCE, tokenizer_fingerprint
from configspec.errors import ConfigspecError
from configspec.registry.schema import ModelEntry
from configspec.vllm_backend.client import VllmClient
from configspec.vllm_backend.launch import VllmLaunch, VllmServer
from configspec.vllm_backend.prepare import STAMP, folder_vocab_size, vllm_model_folder
from configspec.vllm_backend.runner import VllmRunner


@dataclass(frozen=True)
class VllmTargetOptions:
    url: str | None = None  # a running vLLM server; None: start one
    python: str | None = None  # the interpreter with vLLM (when starting one)
    threads: int = 2
    n_ctx: int = 2048  # --max-model-len when starting one
    max_sessions: int = 8
    top_n: int = 20
    enforce_eager: bool = False
    log_file: Path | None = None


@dataclass
class VllmTarget:
    runner: VllmRunner
    fingerprint: str
    server: VllmServer | None = None  # the process configspec started, if it did
    start_s: float | None = None  # its launch-to-ready time

    def close(self) -> None:
        self.runner.close()
        if self.server is not None:
            self.server.stop()


@dataclass(frozen=True)
class Reference:
    """The registry target's own tokenizer, read from its GGUF with llama.cpp."""

    fingerprint: str
    n_vocab: int
    file_sha256: str = ""


def reference_tokenizer(path: Path, prompts_to_tokenize: list | None = None):
    """(Reference, token ids of each prompt's chat rendering) from the target's GGUF: the same
    template and tokenizer the edge uses, so a baseline sends the edge's exact prompts."""
    from configspec.runners import open_runner
    from configspec.sources.cache import file_sha256

    with open_runner("llama_cpp", path, threads=1, n_ctx=256) as runner:
        ids = [runner.tokenize(runner.chat_prompt([m.model_dump() for m in p.messages]))
               for p in prompts_to_tokenize or []]  # fmt: skip
        return Reference(tokenizer_fingerprint(runner), runner.n_vocab, file_sha256(path)), ids


def open_vllm_target(model: ModelEntry, reference: Reference, options: VllmTargetOptions,
                     log=None) -> VllmTarget:  # fmt: skip
    """A checked VllmRunner for the registry's `model`."""
    server = None
    if options.url:
        client = VllmClient(options.url)
    else:
        folder = vllm_model_folder(model, log=log)
        server = VllmServer(VllmLaunch(
            folder=folder, python=options.python, threads=options.threads,
            max_model_len=options.n_ctx, max_num_seqs=options.max_sessions,
            max_logprobs=max(20, options.top_n), enforce_eager=options.enforce_eager,
            log_file=options.log_file,
        ), log=log)  # fmt: skip
        client = server.start()
    try:
        served = client.model()
        check_same_source(Path(served.get("root") or ""), model.name, reference, client.url)
        n_vocab = folder_vocab_size(Path(served.get("root") or "")) or reference.n_vocab
        runner = VllmRunner(client, served["id"], n_vocab, int(served.get("max_model_len", 0)),
                            options.top_n, f"vLLM {client.version()}")  # fmt: skip
        fingerprint = check_same_model(runner, model.name, reference.fingerprint,
                                       reference.n_vocab, client.url)  # fmt: skip
        runner.forward([0, 1], all_logits=True)  # the logprobs limit, and vLLM's slow first call
        runner.reset()
    except BaseException:
        if server is not None:
            server.stop()
        raise
    return VllmTarget(runner, fingerprint, server, server.start_s if server else None)


def check_same_source(folder: Path, name: str, reference: Reference, url: str) -> None:
    """A folder configspec made names its source GGUF: it must be the registry's file (another
    model of the same family tokenizes identically, so the fingerprint cannot tell them apart)."""
    try:
        made_from = json.loads((folder / STAMP).read_text()).get("source_sha256")
    except (OSError, ValueError, AttributeError):
        return  # not a folder configspec made (or not on this machine): the tokenizer decides
    if reference.file_sha256 and made_from and made_from != reference.file_sha256:
        raise ConfigspecError(f"vLLM at {url} serves {folder.name}, made from another file than "
                              f"the registry's {name} (sha256 {made_from[:12]}... vs "
                              f"{reference.file_sha256[:12]}...); serve the registry's target")  # fmt: skip


def check_same_model(runner: VllmRunner, name: str, fingerprint: str, n_vocab: int,
                     url: str) -> str:  # fmt: skip
    """The served model's fingerprint, or a one-line error when it is not the registry's."""
    if abs(runner.n_vocab - n_vocab) > MAX_VOCAB_DIFFERENCE:
        raise ConfigspecError(f"vLLM at {url} serves a model with a vocabulary of "
                              f"{runner.n_vocab} tokens, the registry's {name} has {n_vocab}: "
                              "not the same model; serve the registry's target")  # fmt: skip
    served = tokenizer_fingerprint(runner)
    if served != fingerprint:
        raise ConfigspecError(f"vLLM at {url} tokenizes differently from the registry's {name} "
                              f"(fingerprints {served} vs {fingerprint}): not the same model; "
                              "serve the registry's target")  # fmt: skip
    return served
