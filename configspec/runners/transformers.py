"""transformers + torch: the server backend, for HF checkpoints on GPUs (or CPUs).

The KV cache is a DynamicCache we keep between calls; rollback crops it, several sequences are
rows of its batch dimension (all at the same length, so no padding or attention mask is needed).

Serving (`configspec serve`, open_sequences / decode_sequences / forget): every session keeps its
own key/value tensors. One call verifies several sessions at their own positions: their pasts are
left-padded to the longest, their new tokens right-padded to the longest, and an attention mask
hides the padding (the padding-and-mask batching of HF `generate`); each session's rows of the
returned cache are cut back out. The pad costs copies proportional to the sessions' contexts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from configspec.errors import ConfigspecError
from configspec.runners.base import Runner, SequenceTokens

DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def _model_location(path: Path) -> tuple[Path, str | None]:
    """A checkpoint folder, or a GGUF file (transformers dequantizes it: folder + gguf_file)."""
    if path.is_dir():
        return path, None
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.parent, path.name
    raise ConfigspecError(
        f"{path} is neither a transformers checkpoint folder nor a .gguf file; "
        "check the model's source in models.yaml"
    )


class TransformersRunner(Runner):
    backend = "transformers"

    def __init__(
        self, path: Path, threads: int, n_ctx: int = 2048, dtype: str = "F32",
        device: str | None = None, n_seq_max: int = 8,
    ):  # fmt: skip
        try:
            import torch
            import transformers
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise ConfigspecError(
                "the transformers backend needs torch and transformers: pip install -e '.[hf]'"
            ) from exc
        if dtype.upper() not in DTYPES:
            raise ConfigspecError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        folder, gguf_file = _model_location(Path(path))
        self._torch = torch
        if threads > 0:
            torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
            self.model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=getattr(torch, DTYPES[dtype.upper()]), **extra
            )
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigspecError(f"transformers could not load {path}: {first}") from exc
        self.model.to(self.device).eval()
        loaded = {getattr(torch, name): quant for quant, name in DTYPES.items()}
        self.precision = loaded.get(self.model.dtype, str(self.model.dtype))
        self.backend_version = f"transformers {transformers.__version__}, torch {torch.__version__}"
        self.path = Path(path)
        self.threads = threads
        self.n_ctx = n_ctx
        self.n_vocab = int(self.model.get_output_embeddings().weight.shape[0])
        self.max_sequences = n_seq_max
        self.n_past = 0
        self.n_sequences = 1
        self._new_cache()

    def _empty_cache(self):
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _new_cache(self) -> None:
        self.cache = self._empty_cache()

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special)["input_ids"])

    def detokenize(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """Render with the checkpoint's own chat template (tokenizer.apply_chat_template)."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigspecError(
                f"{self.path.name} has no chat template; use a chat (instruct) checkpoint"
            )
        try:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # jinja2 template errors of many kinds; all mean "bad messages"
            raise ConfigspecError(f"chat template of {self.path.name} failed: {exc}") from exc

    def stop_tokens(self) -> frozenset[int]:
        """The tokenizer's EOS plus the generation config's eos_token_id (one id or a list)."""
        ids = {self.tokenizer.eos_token_id}
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids |= set(eos) if isinstance(eos, list | tuple) else {eos}
        return frozenset(int(i) for i in ids if i is not None)

    def _run(self, ids: list[list[int]], all_logits: bool) -> np.ndarray:
        """One forward over a [B, L] block appended at n_past; logits [B, L or 1, V] float32."""
        torch = self._torch
        length = len(ids[0])
        if self.n_past + length > self.n_ctx:
            raise ConfigspecError(
                f"context of {self.n_ctx} tokens exceeded ({self.n_past} + {length})"
            )
        input_ids = torch.tensor(ids, dtype=torch.long, device=self.device)
        positions = torch.arange(self.n_past, self.n_past + length, device=self.device)
        with torch.inference_mode():
            out = self.model(
                input_ids=input_ids, past_key_values=self.cache, use_cache=True,
                cache_position=positions, position_ids=positions.expand(len(ids), -1),
                logits_to_keep=0 if all_logits else 1,
            )  # fmt: skip
        self.cache = out.past_key_values
        self.n_past += length
        return out.logits.float().cpu().numpy()

    def forward(self, tokens: list[int], all_logits: bool = False) -> np.ndarray:
        if not tokens:
            raise ValueError("forward() needs at least one token")
        if self.n_sequences > 1:  # forward() works on sequence 0 alone
            self.cache.batch_select_indices(self._torch.tensor([0], device=self.device))
            self.n_sequences = 1
        logits = self._run([list(tokens)], all_logits)[0]
        return logits if all_logits else logits[-1]

    def share_prefix(self, n_sequences: int) -> None:
        if not 1 <= n_sequences <= self.max_sequences:
            raise ValueError(f"{n_sequences} sequences asked, at most {self.max_sequences}")
        if self.n_sequences > 1:
            self.cache.batch_select_indices(self._torch.tensor([0], device=self.device))
        if n_sequences > 1 and self.n_past > 0:
            self.cache.batch_repeat_interleave(n_sequences)
        self.n_sequences = n_sequences

    def forward_batch(self, token_lists: list[list[int]], all_logits: bool = False) -> list:
        if len(token_lists) != self.n_sequences:
            raise ValueError(
                f"{len(token_lists)} token lists for {self.n_sequences} sequences: "
                "call share_prefix() first"
            )
        length = len(token_lists[0])
        if length == 0 or any(len(t) != length for t in token_lists):
            raise ValueError("forward_batch() needs non-empty token lists of equal length")
        logits = self._run([list(t) for t in token_lists], all_logits)
        return [row if all_logits else row[-1] for row in logits]

    def open_sequences(self, n_sequences: int, n_ctx_per_sequence: int) -> None:
        self.reset()
        self.n_ctx = n_ctx_per_sequence
        self._served: list[list[tuple] | None] = [None] * n_sequences  # per layer (keys, values)

    def _served_length(self, sequence: int) -> int:
        layers = self._served[sequence]
        return 0 if layers is None else int(layers[0][0].shape[2])

    def decode_sequences(self, items: list[SequenceTokens]) -> list[np.ndarray | None]:
        """Every item's tokens in ONE forward call at its own position (padding + attention mask,
        module docstring); per item, the logit rows of tokens[logits_from:]."""
        torch = self._torch
        self._check_room(items)
        for item in items:
            if not item.tokens:
                raise ValueError("decode_sequences() needs at least one token per item")
            held = self._served_length(item.sequence)
            if held < item.pos:
                raise ValueError(f"sequence {item.sequence} holds {held} positions, not {item.pos}")
        for item in items:  # checked first, so a refused call changes no sequence
            self.forget(item.sequence, item.pos)  # the cache holds positions [0, pos)
        past = max(item.pos for item in items)
        width = max(len(item.tokens) for item in items)
        ids = torch.zeros((len(items), width), dtype=torch.long)
        mask = torch.zeros((len(items), past + width), dtype=torch.long)
        positions = torch.zeros((len(items), width), dtype=torch.long)
        for b, item in enumerate(items):
            n = len(item.tokens)
            ids[b, :n] = torch.tensor(item.tokens)
            mask[b, past - item.pos : past + n] = 1
            positions[b] = torch.arange(item.pos, item.pos + width)
        cache = self._padded_cache(items, past)
        with torch.inference_mode():
            out = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                position_ids=positions.to(self.device), past_key_values=cache, use_cache=True,
                cache_position=torch.arange(past, past + width, device=self.device),
            )  # fmt: skip
        layers = out.past_key_values.layers
        logits = out.logits.float().cpu().numpy()
        rows: list[np.ndarray | None] = []
        for b, item in enumerate(items):
            n = len(item.tokens)
            self._served[item.sequence] = [
                (layer.keys[b : b + 1, :, past - item.pos : past + n].clone(),
                 layer.values[b : b + 1, :, past - item.pos : past + n].clone())
                for layer in layers
            ]  # fmt: skip
            rows.append(None if item.logits_from is None else logits[b, item.logits_from : n])
        return rows

    def _padded_cache(self, items: list[SequenceTokens], past: int):
        """A DynamicCache of the items' pasts, each left-padded with zeros to `past` positions."""
        cache = self._empty_cache()
        if past == 0:
            return cache
        torch = self._torch
        template = next(self._served[i.sequence] for i in items if i.pos > 0)
        for index, (keys, values) in enumerate(template):
            shape = (len(items), keys.shape[1], past, keys.shape[3])
            k_all = torch.zeros(shape, dtype=keys.dtype, device=keys.device)
            v_all = torch.zeros(shape, dtype=values.dtype, device=values.device)
            for b, item in enumerate(items):
                if item.pos > 0:
                    k, v = self._served[item.sequence][index]
                    k_all[b, :, past - item.pos :] = k[0]
                    v_all[b, :, past - item.pos :] = v[0]
            cache.update(k_all, v_all, index)
        return cache

    def forget(self, sequence: int, from_pos: int = 0) -> None:
        layers = self._served[sequence]
        if layers is None or from_pos >= self._served_length(sequence):
            return
        self._served[sequence] = None if from_pos <= 0 else [
            (k[:, :, :from_pos].clone(), v[:, :, :from_pos].clone()) for k, v in layers
        ]  # fmt: skip

    def rollback(self, n_past: int) -> None:
        if n_past <= 0:
            self.reset()
            return
        if n_past < self.n_past:
            # A negative count removes that many positions (absolute sizes are refused in 5.x).
            self.cache.crop(n_past - self.n_past)
        self.n_past = min(n_past, self.n_past)

    def reset(self) -> None:
        self._new_cache()
        self.n_past = 0
        self.n_sequences = 1

    def close(self) -> None:
        self.model = None
        self.cache = None
