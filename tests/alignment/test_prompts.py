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


def test_plain_prompt_lines_are_numbered_and_unspecified(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text(json.dumps({"prompt": "Write a haiku."}) + "\n\n"
                    + json.dumps({"prompt": "Sum 2 and 3."}) + "\n")  # fmt: skip
    got = load_prompts(path)
    assert [(p.id, p.kind) for p in got] == [
        ("prompt-1", "unspecified"),
        ("prompt-3", "unspecified"),
    ]
    assert got[1].messages[0].role == "user" and got[1].messages[0].content == "Sum 2 and 3."
    csv_file = tmp_path / "plain.csv"
    csv_file.write_text('prompt\n"one, two"\nthree\n')
    assert [(p.id, p.kind) for p in load_prompts(csv_file)] == [
        ("prompt-2", "unspecified"), ("prompt-3", "unspecified")]  # fmt: skip


def test_spec_bench_question_jsonl_by_category(tmp_path):
    """Spec-Bench's question.jsonl as it ships: question_id, category, turns (two for MT-Bench)."""
    rows = [{"question_id": 81, "category": "writing",
             "turns": ["Compose a travel blog post.", "Rewrite it starting every sentence with A."]},
            {"question_id": 161, "category": "translation", "turns": ["Translate: Bonjour."]},
            {"question_id": 82, "category": "writing", "turns": ["Draft an email."]}]  # fmt: skip
    path = tmp_path / "question.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = load_prompts(path)
    assert [(p.id, p.kind) for p in got] == [
        ("writing-81", "writing"), ("translation-161", "translation"), ("writing-82", "writing")]  # fmt: skip
    assert [m.content for m in got[0].messages] == ["Compose a travel blog post."]  # turn one
    assert [p.id for p in select_prompts(got, None, kinds=["writing"])] == [
        "writing-81",
        "writing-82",
    ]
    with pytest.raises(ConfigspecError, match="no prompts of kind coding"):
        select_prompts(got, 2, kinds=["coding"])


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
    assert "needs a prompt column" in _error(tmp_path, "g.csv", "id,kind\na,b\n")
    assert "turns: expected a list" in _error(
        tmp_path, "j.jsonl", json.dumps({"question_id": 1, "category": "x", "turns": "hi"})
    )
    assert "use a .jsonl or .csv" in _error(tmp_path, "h.txt", "hello")
    assert "expected a JSON object" in _error(tmp_path, "i.jsonl", "[1, 2]")
    with pytest.raises(ConfigspecError, match="not found"):
        load_prompts(tmp_path / "missing.jsonl")
