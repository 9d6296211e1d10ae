"""The special token ids of the Qwen3-VL checkpoints: the one place the code gets them from.

:data:`CONTRACT_TOKENS` holds the model contract's values (docs/model-contract.md, section 1).
Every engine reads the ids from its checkpoint's tokenizer and config at load time
(:func:`read_special_tokens`) and refuses a checkpoint whose ids differ, so the module-level
aliases below (used by functions that run without an engine at hand) always equal the loaded
checkpoint's ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelLoadError

__all__ = ["SpecialTokens", "CONTRACT_TOKENS", "read_special_tokens", "PAD_ID", "IMAGE_PAD_ID", "VIDEO_PAD_ID",
           "VISION_START_ID", "VISION_END_ID", "SPECIAL_IDS"]


@dataclass(frozen=True)
class SpecialTokens:
    """Token ids the engine uses, by role."""

    pad: int
    im_start: int
    im_end: int
    vision_start: int
    vision_end: int
    image_pad: int
    video_pad: int
    #: the reranker's answer tokens (vocabulary keys ``yes`` / ``no``, no leading space)
    yes: int
    no: int
    #: every id the tokenizer reports as special (``all_special_ids``); truncation keeps them all
    special: frozenset[int]


CONTRACT_TOKENS = SpecialTokens(pad=151643, im_start=151644, im_end=151645, vision_start=151652, vision_end=151653,
                                image_pad=151655, video_pad=151656, yes=9693, no=2152,
                                special=frozenset(range(151643, 151657)))

PAD_ID = CONTRACT_TOKENS.pad
IMAGE_PAD_ID, VIDEO_PAD_ID = CONTRACT_TOKENS.image_pad, CONTRACT_TOKENS.video_pad
VISION_START_ID, VISION_END_ID = CONTRACT_TOKENS.vision_start, CONTRACT_TOKENS.vision_end
SPECIAL_IDS = CONTRACT_TOKENS.special

#: token string of each role read from the tokenizer's vocabulary
_TOKEN_STRINGS = {"pad": "<|endoftext|>", "im_start": "<|im_start|>", "im_end": "<|im_end|>",
                  "vision_start": "<|vision_start|>", "vision_end": "<|vision_end|>", "image_pad": "<|image_pad|>",
                  "video_pad": "<|video_pad|>", "yes": "yes", "no": "no"}
#: config attribute that must agree with the tokenizer, for the roles the model itself looks up
_CONFIG_ATTRS = {"image_pad": "image_token_id", "video_pad": "video_token_id",
                 "vision_start": "vision_start_token_id", "vision_end": "vision_end_token_id"}


def read_special_tokens(tokenizer, config=None) -> SpecialTokens:
    """The ids of ``tokenizer`` (and ``config``, a Qwen3-VL model config), checked against the contract.

    Raises :class:`ModelLoadError` naming the token when the checkpoint's ids differ from the
    contract's (the prompts, truncation and the reranker head assume them)."""
    values: dict = {}
    for role, token in _TOKEN_STRINGS.items():
        token_id = tokenizer.convert_tokens_to_ids(token)
        expected = getattr(CONTRACT_TOKENS, role)
        if token_id != expected:
            raise ModelLoadError(f"the tokenizer maps {token!r} to {token_id}, the model contract says {expected}")
        attr = _CONFIG_ATTRS.get(role)
        configured = getattr(config, attr, None) if attr and config is not None else None
        if configured is not None and configured != expected:
            raise ModelLoadError(f"config.{attr} is {configured}, the model contract says {expected}")
        values[role] = token_id
    special = frozenset(int(i) for i in tokenizer.all_special_ids)
    if special != CONTRACT_TOKENS.special:
        raise ModelLoadError(f"the tokenizer's special ids {sorted(special)} differ from the model contract's "
                             f"{sorted(CONTRACT_TOKENS.special)}")
    return SpecialTokens(special=special, **values)
