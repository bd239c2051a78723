"""The shipped prompt set and the loader's one-line errors for users' files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from configspec.alignment.prompts import load_prompts, select_prompts
from configspec.errors import ConfigspecError

SPEC_BENCH_KINDS = {"code", "chat", "qa", "summarization", "math", "translation"}


def test_shipped_set_has_48_prompts_over_six_kinds():
    prompts = load_prompts()
    kinds = Counter(p.kind for p in prompts)
    assert len(prompts) >= 48
    assert set(kinds) >= SPEC_BENCH_KINDS
    assert min(kinds.values()) >= 6
    assert len({p.id for p in prompts}) == len(prompts)
    assert all(p.messages[-1].role == "user" for p in prompts)
    chats = [p for p in prompts if p.kind == "chat"]
    assert all(len(p.messages) >= 3 for p in chats)  # multi-turn: user, assistant, user


def test_select_prompts_spreads_over_kinds():
    prompts = load_prompts()
    chosen = select_prompts(prompts, 12)
    assert len(chosen) == 12
    assert Counter(p.kind for p in chosen) == {k: 2 for k in SPEC_BENCH_KINDS}
    assert select_prompts(prompts, None) == prompts
    assert [p.id for p in select_prompts(prompts, 3)] == ["code-01", "chat-01", "qa-01"]


def test_user_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a", "kind": "code", "messages": [{"role": "user", "content": "hi"}]})
        + "\n\n"
        + json.dumps({"id": "b", "kind": "qa", "prompt": "why?"})
        + "\n"
    )
    got = load_prompts(jsonl)
    assert [(p.id, p.messages[0].content) for p in got] == [("a", "hi"), ("b", "why?")]
    csv_file = tmp_path / "p.csv"
    csv_file.write_text('id,kind,prompt\nx,math,"2 + 2, then?"\n')
    got = load_prompts(csv_file)
    assert got[0].id == "x" and got[0].messages[0].content == "2 + 2, then?"


def _error(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigspecError) as info:
        load_prompts(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_loader_errors_are_one_line_and_say_where(tmp_path):
    ok = {"id": "a", "kind": "code", "messages": [{"role": "user", "content": "hi"}]}
    assert ":2: not valid JSON" in _error(tmp_path, "a.jsonl", json.dumps(ok) + "\n{oops\n")
    no_kind = {"id": "a", "messages": ok["messages"]}
    assert "kind" in _error(tmp_path, "b.jsonl", json.dumps(no_kind))
    bad_role = {**ok, "messages": [{"role": "robot", "content": "hi"}]}
    assert "unknown role 'robot'" in _error(tmp_path, "c.jsonl", json.dumps(bad_role))
    ends_with_answer = {**ok, "messages": [*ok["messages"], {"role": "assistant", "content": "x"}]}
    assert "last message" in _error(tmp_path, "d.jsonl", json.dumps(ends_with_answer))
    assert "repeated ids a" in _error(tmp_path, "e.jsonl", json.dumps(ok) + "\n" + json.dumps(ok))
    assert "no prompts" in _error(tmp_path, "f.jsonl", "\n")
    assert "missing: prompt" in _error(tmp_path, "g.csv", "id,kind\na,b\n")
    assert "use a .jsonl or .csv" in _error(tmp_path, "h.txt", "hello")
    assert "expected a JSON object" in _error(tmp_path, "i.jsonl", "[1, 2]")
    with pytest.raises(ConfigspecError, match="not found"):
        load_prompts(tmp_path / "missing.jsonl")
