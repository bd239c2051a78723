"""The fleet file (`fleet.yaml`): device groups sharing one verification server.

Each group is `count` identical devices: a drafting profile (the device), a draft x quant and a
policy (fixed K, or a confidence threshold tau at K max), a network (round trip, link rate) and
an arrival pattern (closed loop: each device starts its next session after a think time; open
loop: sessions arrive as a Poisson process and take a free device of the group). The alignment
profile's traces say which tokens each draft proposes; the verification profile feeds the
model. Relative paths are read from the fleet file's folder. Format: docs/fleet.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from configspec.errors import ConfigspecError
from configspec.profiles.policy import Policy
from configspec.yaml_config import load_yaml_model

FLEET_SCHEMA_VERSION = 1
DOCS = "docs/fleet.md 'fleet file'"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Network(_Strict):
    rtt_ms: float = Field(0.0, ge=0)  # added to the round trip (half each way)
    bandwidth_mbit_s: float | None = Field(None, gt=0)  # link rate, both ways; None: unlimited


class Arrival(_Strict):
    kind: Literal["closed", "open"] = "closed"
    think_s: float = Field(0.0, ge=0)  # closed: mean of an exponential pause between sessions
    sessions_per_s: float | None = Field(None, gt=0)  # open: Poisson arrivals for the group

    @model_validator(mode="after")
    def _matches_kind(self) -> Arrival:
        if self.kind == "open" and self.sessions_per_s is None:
            raise ValueError("an open arrival needs sessions_per_s (Poisson rate for the group)")
        if self.kind == "closed" and self.sessions_per_s is not None:
            raise ValueError("sessions_per_s is for kind: open; closed loop uses think_s")
        return self


class Group(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    drafting: Path  # the devices' drafting profile (kind: drafting)
    draft: str | None = None  # registry name; None: chosen by `recommend --fleet`
    quant: str | None = None
    policy: Policy | None = None  # {k_max: K} or {k_max: K, tau: t}; a fleet speculates
    count: int = Field(1, ge=1, le=10000)
    network: Network = Network()
    arrival: Arrival = Arrival()
    itl_target_ms: float | None = Field(None, gt=0)  # mean inter-token latency per device

    @field_validator("quant")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_fields(cls, value: object) -> object:
        if isinstance(value, dict) and (unknown := sorted(set(value) - set(Policy.model_fields))):
            raise ValueError(f"unknown policy field(s) {', '.join(unknown)} (k_max, tau)")
        return value

    @field_validator("policy")
    @classmethod
    def _speculates(cls, value: Policy | None) -> Policy | None:
        if value is not None and not 1 <= value.k_max <= 64:
            raise ValueError("k_max is 1 to 64 (the server-only baseline is the fleet's "
                             "`baseline`, not a group)")  # fmt: skip
        return value

    @property
    def configured(self) -> bool:
        return self.draft is not None and self.quant is not None and self.policy is not None

    @property
    def label(self) -> str:
        policy = self.policy.label if self.policy else "policy ?"
        return f"{self.count} x {self.draft or '?'} {self.quant or '?'} {policy}"


class ServerSpec(_Strict):
    """The server's batching, as the model and `recommend --fleet` see it. The emulation runs
    against whatever `configspec serve` was started with (it reads the settings on Hello)."""

    max_batch: int = Field(8, ge=1)
    batch_window_ms: float = Field(5.0, ge=0)
    prefill_chunk_tokens: int = Field(8, ge=1)  # start serve with --prefill-chunk to match
    max_sessions: int = Field(256, ge=1)
    max_batch_choices: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])  # recommend
    batch_window_ms_choices: list[float] = Field(default_factory=lambda: [0.0, 5.0, 20.0])
    power_w: float | None = Field(None, gt=0)  # estimate when the verification profile has none
    packing: Literal["ragged", "padded"] = "ragged"  # how a batch of mixed lengths is laid out


class Fleet(_Strict):
    schema_version: Literal[1] = FLEET_SCHEMA_VERSION
    alignment: Path  # alignment profile whose traces drive the emulated drafts
    verification: Path | None = None  # verification profile (the model, recommend, energy)
    server: ServerSpec = ServerSpec()
    # the server-only reference: "model" (the target alone, continuous batching, from the
    # verification profile); a measured server-only profile plugs in here (docs/fleet.md)
    baseline: Literal["model"] = "model"
    groups: list[Group] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Fleet:
        names = [g.name for g in self.groups]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"group names must be unique (repeated: {', '.join(dupes)})")
        return self

    @property
    def devices(self) -> int:
        return sum(g.count for g in self.groups)

    def resolved(self, folder: Path) -> Fleet:
        """The same fleet with every relative path read from `folder` (the file's folder)."""

        def fix(p: Path | None) -> Path | None:
            return None if p is None or p.is_absolute() else (folder / p).resolve()

        data = self.model_copy(deep=True)
        data.alignment = fix(self.alignment) or self.alignment
        data.verification = fix(self.verification) or self.verification
        for group in data.groups:
            group.drafting = fix(group.drafting) or group.drafting
        return data


def load_fleet(path: Path) -> Fleet:
    path = Path(path)
    if not path.is_file():
        raise ConfigspecError(f"fleet file {path} not found; pass --fleet PATH ({DOCS})")
    fleet = load_yaml_model(path, Fleet, expected="a mapping with alignment and groups",
                            docs_hint=DOCS)  # fmt: skip
    return fleet.resolved(path.resolve().parent)


def require_configured(fleet: Fleet, what: str) -> None:
    """Emulation and prediction need every group's draft, quant and policy."""
    missing = [g.name for g in fleet.groups if not g.configured]
    if missing:
        raise ConfigspecError(
            f"{what} needs draft, quant and policy for every group; {', '.join(missing)} "
            "lack(s) them (set them, or run `configspec recommend --fleet` to choose)"
        )
