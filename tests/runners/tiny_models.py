"""Tiny Qwen2 checkpoints built and saved locally (no hub): a target and a draft that mostly agrees
with it (the target's weights plus a little noise), sharing a character-level tokenizer.

transformers 5 loads it as a Qwen2Tokenizer (from config.json's model_type), whose byte-level
pipeline has no token for a space here: test texts are letters and punctuation only."""

from __future__ import annotations

from pathlib import Path

ALPHABET = "abcdefghijklmnopqrstuvwxyz .,:;!?\n"
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'][0] }}:{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}a:{% endif %}"
)


def save_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(ALPHABET)}
    vocab["<unk>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()  # characters back into text, spaces kept
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="!", clean_up_tokenization_spaces=False
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)


def build_pair(root: Path, noise: float = 0.02, seed: int = 0) -> tuple[Path, Path]:
    """Save a tiny target and draft under `root`; returns (target_dir, draft_dir)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=48, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=False,
    )  # fmt: skip
    target = Qwen2ForCausalLM(config)
    with torch.no_grad():  # sharper next-token distributions than the default init gives
        target.lm_head.weight.mul_(8.0)
    draft = Qwen2ForCausalLM(config)
    draft.load_state_dict(target.state_dict())
    with torch.no_grad():
        for param in draft.parameters():
            param.add_(noise * torch.randn_like(param))
    dirs = (root / "tiny-target", root / "tiny-draft")
    for model, folder in zip((target, draft), dirs, strict=True):
        model.save_pretrained(folder)
        save_tokenizer(folder)
    return dirs
