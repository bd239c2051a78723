"""The prompt set: configspec's own (configspec/data/prompts.jsonl) or the user's JSONL / CSV file.

JSONL, one object per line, in any of three shapes:
- configspec's: {"id", "kind", "messages": [{"role", "content"}, ...]}, or "prompt": "text" in
  place of messages (one user turn);
- plain {"prompt": "text"} lines: numbered `prompt-<line>`, kind `unspecified`;
- Spec-Bench's question.jsonl {"question_id", "category", "turns": [...]}: id
  `<category>-<question_id>`, kind = category, the first turn (a later turn needs the model's
  own answer to the first, which a fixed prompt set does not have).
CSV: a `prompt` column (one user turn), optional `id` and `kind` columns. The runner applies the
target's chat template to the messages (Runner.chat_prompt).
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
UNSPECIFIED_KIND = "unspecified"


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


def _spec_bench(record: dict, where: str) -> dict:
    """Spec-Bench's question.jsonl: {"question_id", "category", "turns"} -> the first turn."""
    turns = record["turns"]
    if not isinstance(turns, list) or not turns or not isinstance(turns[0], str):
        raise ConfigspecError(f"{where}: turns: expected a list of strings (Spec-Bench format)")
    category = str(record.get("category") or UNSPECIFIED_KIND)
    return {"id": f"{category}-{record['question_id']}", "kind": category,
            "messages": [{"role": "user", "content": turns[0]}]}  # fmt: skip


def _from_record(record: object, where: str, number: int) -> Prompt:
    if not isinstance(record, dict):
        raise ConfigspecError(f"{where}: expected a JSON object with id, kind and messages")
    if "question_id" in record and "turns" in record:
        record = _spec_bench(record, where)
    if "messages" not in record and isinstance(record.get("prompt"), str):
        record = {"id": f"prompt-{number}", "kind": UNSPECIFIED_KIND, **record}
        record = {**record, "messages": [{"role": "user", "content": record["prompt"]}]}
        record.pop("prompt")
    try:
        return _check(Prompt.model_validate(record), where)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "record"
        raise ConfigspecError(
            f"{where}: {field}: {first['msg']} (each line needs messages, or a prompt, or Spec-Bench's turns; docs/alignment.md)"
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
        prompts.append(_from_record(record, where, number))
    return prompts


def _read_csv(path: Path, text: str) -> list[Prompt]:
    rows = csv.DictReader(text.splitlines())
    if "prompt" not in (rows.fieldnames or []):
        raise ConfigspecError(f"{path}: CSV needs a prompt column (id and kind are optional)")
    return [
        _from_record({k: r[k] for k in ("id", "kind", "prompt") if r.get(k)}, f"{path}:{i}", i)
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


def select_prompts(
    prompts: list[Prompt], n: int | None, kinds: list[str] | None = None
) -> list[Prompt]:
    """The first `n` prompts (of `kinds`, when given) taken round-robin over kinds (file order
    within a kind), so a small subset still covers every task kind; all of them when n is None."""
    if kinds:
        have = sorted({p.kind for p in prompts})
        unknown = sorted(set(kinds) - set(have))
        if unknown:
            raise ConfigspecError(
                f"no prompts of kind {', '.join(unknown)} (the prompt set has: {', '.join(have)})"
            )
        prompts = [p for p in prompts if p.kind in kinds]
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
