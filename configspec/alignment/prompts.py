"""The prompt set: configspec's own (configspec/data/prompts.jsonl) or the user's JSONL / CSV file.

JSONL: one object per line, {"id", "kind", "messages": [{"role", "content"}, ...]} (a plain
"prompt" string is accepted in place of messages). CSV: columns id, kind, prompt (one user turn).
The runner applies the target's chat template to the messages (Runner.chat_prompt).
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from configspec.errors import ConfigspecError

DEFAULT_PROMPTS = "configspec/data/prompts.jsonl"  # label written into profiles
ROLES = ("system", "user", "assistant")


class Message(BaseModel):
    role: str
    content: str = Field(min_length=1)


class Prompt(BaseModel):
    id: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)


def _check(prompt: Prompt, where: str) -> Prompt:
    roles = [m.role for m in prompt.messages]
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ConfigspecError(f"{where}: unknown role {bad[0]!r} (use {', '.join(ROLES)})")
    if roles[-1] != "user":
        raise ConfigspecError(f"{where}: the last message must be the user's (the model answers)")
    return prompt


def _from_record(record: object, where: str) -> Prompt:
    if not isinstance(record, dict):
        raise ConfigspecError(f"{where}: expected a JSON object with id, kind and messages")
    if "messages" not in record and isinstance(record.get("prompt"), str):
        record = {**record, "messages": [{"role": "user", "content": record["prompt"]}]}
        record.pop("prompt")
    try:
        return _check(Prompt.model_validate(record), where)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "record"
        raise ConfigspecError(
            f"{where}: {field}: {first['msg']} (each line needs id, kind and messages)"
        ) from exc


def _read_jsonl(path: Path, text: str) -> list[Prompt]:
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigspecError(f"{where}: not valid JSON ({exc.msg})") from exc
        prompts.append(_from_record(record, where))
    return prompts


def _read_csv(path: Path, text: str) -> list[Prompt]:
    rows = csv.DictReader(text.splitlines())
    missing = {"id", "kind", "prompt"} - set(rows.fieldnames or [])
    if missing:
        raise ConfigspecError(
            f"{path}: CSV needs the columns id, kind, prompt (missing: {', '.join(sorted(missing))})"
        )
    return [
        _from_record({"id": r["id"], "kind": r["kind"], "prompt": r["prompt"]}, f"{path}:{i}")
        for i, r in enumerate(rows, start=2)
    ]


def load_prompts(path: Path | None = None) -> list[Prompt]:
    """The prompts in `path` (.jsonl/.json lines or .csv), or configspec's own set when None."""
    if path is None:
        text = resources.files("configspec.data").joinpath("prompts.jsonl").read_text("utf-8")
        return _read_jsonl(Path(DEFAULT_PROMPTS), text)
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise ConfigspecError(f"prompt file {path} not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigspecError(f"prompt file {path} is not UTF-8 text") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        prompts = _read_csv(path, text)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        prompts = _read_jsonl(path, text)
    else:
        raise ConfigspecError(f"prompt file {path}: use a .jsonl or .csv file")
    if not prompts:
        raise ConfigspecError(f"prompt file {path} has no prompts")
    ids = [p.id for p in prompts]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ConfigspecError(f"prompt file {path}: repeated ids {', '.join(repeated[:5])}")
    return prompts


def select_prompts(prompts: list[Prompt], n: int | None) -> list[Prompt]:
    """The first `n` prompts taken round-robin over kinds (file order within a kind), so a small
    subset still covers every task kind; all of them when n is None."""
    if n is None or n >= len(prompts):
        return list(prompts)
    if n < 1:
        raise ConfigspecError(f"--n-prompts must be at least 1 (got {n})")
    by_kind: dict[str, list[Prompt]] = {}
    for prompt in prompts:
        by_kind.setdefault(prompt.kind, []).append(prompt)
    chosen: list[Prompt] = []
    depth = 0
    while len(chosen) < n:
        for group in by_kind.values():
            if depth < len(group) and len(chosen) < n:
                chosen.append(group[depth])
        depth += 1
    return chosen
