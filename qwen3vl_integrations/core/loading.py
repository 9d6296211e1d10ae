"""Loading checkpoints safely: local dir or hub id, safetensors only, no remote code, device/dtype choice."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ModelLoadError

logger = logging.getLogger(__name__)

__all__ = ["DeviceChoice", "choose_device", "resolve_checkpoint", "load_backbone", "load_processor", "read_head_rows",
           "progress_bars"]

_PROGRESS_LOCK = threading.Lock()


@contextlib.contextmanager
def progress_bars(show: bool) -> Iterator[None]:
    """Within the block, transformers' and huggingface_hub's progress bars ("Loading weights",
    downloads) are shown only if ``show``; their previous setting is restored afterwards. (The
    setting is process-wide in those libraries, so loads are serialised while it is changed.)"""
    from transformers.utils import logging as hf_logging

    with _PROGRESS_LOCK:
        enabled = hf_logging.is_progress_bar_enabled()
        if enabled != show:
            (hf_logging.enable_progress_bar if show else hf_logging.disable_progress_bar)()
        try:
            yield
        finally:
            if enabled != show:
                (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str


def choose_device(device=None, dtype=None, attn_implementation: str | None = None) -> DeviceChoice:
    """``device=None``: CUDA (bfloat16, flash-attention 2 when installed, else SDPA) when present,
    otherwise CPU float32 with SDPA."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(dtype, str):
        if dtype == "auto":
            dtype = None
        else:
            try:
                dtype = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                         "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
            except KeyError:
                raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}") from None
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    if attn_implementation is None:
        use_flash = dev.type == "cuda" and dtype != torch.float32 and importlib.util.find_spec("flash_attn") is not None
        attn_implementation = "flash_attention_2" if use_flash else "sdpa"
    return DeviceChoice(dev, dtype, attn_implementation)


def resolve_checkpoint(model: str | os.PathLike, revision: str | None = None) -> Path:
    """A local directory as is; ``"tiny-random"``: the tiny random test checkpoint, built once into
    the cache (:func:`qwen3vl_integrations.testing.tiny_random_checkpoint`); otherwise a hub id
    downloaded (safetensors and configs only)."""
    from ..testing import TINY_RANDOM, tiny_random_checkpoint

    if str(model) == TINY_RANDOM:
        return tiny_random_checkpoint()
    path = Path(model).expanduser()
    if path.is_dir():
        logger.debug("loading the checkpoint in %s", path)
        return path
    if path.exists() or str(model).startswith((".", "/")):
        raise ModelLoadError(f"{model} is not a checkpoint directory")
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(
            str(model), revision=revision,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model"],
        )
    except Exception as exc:
        raise ModelLoadError(
            f"could not download {model!r} from the Hugging Face hub ({type(exc).__name__}). "
            "Pass a local checkpoint directory instead, or build a random test checkpoint with "
            "`python -m qwen3vl_integrations.testing DIR`."
        ) from exc
    return Path(local)


def check_checkpoint(path: Path) -> None:
    """Refuse checkpoints that would run remote code or unpickle weights."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{path} has no config.json")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if "auto_map" in config:
        raise ModelLoadError(f"{path}/config.json has auto_map (remote code); refusing to load it")
    if not any(path.glob("*.safetensors")):
        raise ModelLoadError(f"{path} has no .safetensors weights; only safetensors checkpoints are loaded")
    if config.get("model_type") != "qwen3_vl":
        raise ModelLoadError(f"{path} is a {config.get('model_type')!r} checkpoint, not qwen3_vl")


def load_backbone(path: Path, choice: DeviceChoice):
    """The Qwen3-VL backbone (vision tower + language model, no LM head), weights asserted loaded."""
    from transformers import Qwen3VLModel

    from .forward import use_linear_patch_embed

    check_checkpoint(path)
    model = Qwen3VLModel.from_pretrained(
        path, dtype=choice.dtype, attn_implementation=choice.attn_implementation,
        use_safetensors=True, trust_remote_code=False,
    )
    use_linear_patch_embed(model)
    logger.debug("loaded %s on %s (%s, attention %s)", path, choice.device, choice.dtype, choice.attn_implementation)
    return model.to(choice.device).eval()  # type: ignore[arg-type]  # transformers types .to() loosely


def load_processor(path: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path, trust_remote_code=False)


def read_head_rows(path: Path, rows: list[int]) -> torch.Tensor:
    """Rows of the LM head (``lm_head.weight``, or the tied input embeddings) read from safetensors,
    without loading the whole head."""
    from safetensors import safe_open

    for name in ("lm_head.weight", "model.language_model.embed_tokens.weight"):
        for file in sorted(path.glob("*.safetensors")):
            with safe_open(str(file), framework="pt") as f:
                if name in f.keys():
                    sl = f.get_slice(name)
                    return torch.stack([sl[r : r + 1][0] for r in rows]).float()
    raise ModelLoadError(f"{path} has neither lm_head.weight nor tied input embeddings")
