"""The shared engine of the embedder and the reranker: loading, preparation and batched forwards."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..errors import ItemError, Qwen3VLError
from ..media import DEFAULT_POLICY, MediaPolicy
from .batching import collate, pack, plan_batches, prepare_in_windows, run_with_oom_split, to_device
from .cache import MediaCache, model_fingerprint, resolve_cache_bytes
from .config import EngineConfig
from .forward import PrefixKV, packed_pooled_states, pooled_states
from .inputs import MultimodalInput, has_remote_media
from .loading import DeviceChoice, choose_device, load_backbone, load_processor, resolve_checkpoint
from .processing import PreparedItem, Preprocessor, VisualInput

logger = logging.getLogger(__name__)

__all__ = ["Engine", "check_errors_mode"]

PAD_ID = 151643


def check_errors_mode(errors: str) -> None:
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")


class Engine:
    """Base of Qwen3VLEmbedder and Qwen3VLReranker (not public on its own)."""

    default_max_length = 8192

    def __init__(self, model, processor, *, config: EngineConfig | None = None, policy: MediaPolicy | None = None,
                 device_choice: DeviceChoice | None = None, model_id: str = "", model_path: Path | None = None):
        self.model = model
        self.processor = processor
        self.config = config or EngineConfig()
        self.policy = policy or DEFAULT_POLICY
        param = next(model.parameters())
        self.device_choice = device_choice or DeviceChoice(param.device, param.dtype, "sdpa")
        self.model_id = model_id or str(model_path or "")
        self.model_path = model_path
        #: prepared media and vision features shared by every call of this engine (``cache_bytes``)
        self.cache = MediaCache(resolve_cache_bytes(self.config.cache_bytes, self.device),
                                model_fingerprint(model, self.model_id, model_path))
        self.preprocessor = Preprocessor(processor, self.config, self.policy, self.cache)

    @classmethod
    def _load(cls, model: str | os.PathLike, *, device=None, dtype=None, attn_implementation=None, revision=None,
              config: EngineConfig | None = None, policy: MediaPolicy | None = None, **config_overrides):
        if config is None:
            config = EngineConfig.from_env(**config_overrides)
        elif config_overrides:
            config = config.replace(**config_overrides)
        path = resolve_checkpoint(model, revision)
        choice = choose_device(device, dtype, attn_implementation)
        backbone = load_backbone(path, choice)
        processor = load_processor(path)
        return path, dict(config=config, policy=policy, device_choice=choice, model_id=str(model), model_path=path), \
            backbone, processor

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    @property
    def max_length(self) -> int:
        return self.config.max_length or self.default_max_length

    @property
    def device(self) -> torch.device:
        return self.device_choice.device

    # -- preparation ------------------------------------------------------------------------
    def _visuals(self, item: MultimodalInput) -> tuple[list[VisualInput], list[VisualInput]]:
        pre = self.preprocessor
        videos = [pre.video(v, item.fps, item.max_frames) for v in item.videos]
        images = [pre.image(i) for i in item.images]
        return images, videos

    def _tokenize(self, prompt: str, truncate: bool | None, body_limit: int) -> tuple[list[int], bool]:
        truncate = self.config.truncate if truncate is None else truncate
        return self.preprocessor.tokenize(prompt, self.max_length, truncate, body_limit)

    # -- running ------------------------------------------------------------------------------
    def _run(self, items: Sequence, prepare: Callable[[object], PreparedItem],
             forward: Callable[[list[PreparedItem]], torch.Tensor], errors: str, progress=None,
             on_window: Callable[[list[PreparedItem]], None] | None = None) -> list:
        """Prepare every item window by window (in worker threads one window ahead of the model, or
        inline: see :meth:`_num_workers`), run token-budget batches, and return one result or
        ItemError per item, in input order.
        ``on_window`` sees each window's prepared items before its batches run."""
        results: list = [None] * len(items)

        def safe_prepare(index: int, raw) -> PreparedItem | Qwen3VLError:
            try:
                return prepare(raw)
            except Qwen3VLError as exc:
                return exc.at(index)

        def record_error(index: int, exc: Qwen3VLError) -> None:
            err = exc.at(index)
            if errors == "raise":
                raise err
            results[index] = ItemError(index, err)

        window = max(self.config.max_batch_items * 2, 32)
        for chunk in prepare_in_windows(items, safe_prepare, self._num_workers(items), window):
            good: list[tuple[int, PreparedItem]] = []
            for index, prepared in chunk:
                if isinstance(prepared, Qwen3VLError):
                    record_error(index, prepared)
                else:
                    good.append((index, prepared))
            if on_window is not None and good:
                on_window([p for _, p in good])
            lengths = [len(p) for _, p in good]
            for batch in plan_batches(lengths, self.config.token_budget, self.config.max_batch_items, self.min_batch_fill,
                                      packed=self.packing):
                def run(sub: list[int], good=good) -> list:
                    return list(forward([good[k][1] for k in sub]))

                def on_error(k: int, exc: Qwen3VLError, good=good) -> None:
                    record_error(good[k][0], exc)

                for k, value in run_with_oom_split(batch, run, on_error).items():
                    results[good[k][0]] = value
                if progress is not None:
                    progress.update(len(batch))
        return results

    @property
    def min_batch_fill(self) -> float:
        """``EngineConfig.min_batch_fill``, or its device default (0.95 on CPU, 0.85 elsewhere)."""
        if self.config.min_batch_fill is not None:
            return self.config.min_batch_fill
        return 0.95 if self.device.type == "cpu" else 0.85

    @property
    def packing(self) -> bool:
        """``EngineConfig.packing``, or its device default (packed rows on a CPU, padded batches elsewhere)."""
        if self.config.packing is not None:
            return self.config.packing
        return self.device.type == "cpu"

    def _num_workers(self, items: Sequence) -> int:
        """Preparation threads for this call (``EngineConfig.num_workers``; ``None`` = auto, see there)."""
        if self.config.num_workers is not None:
            return self.config.num_workers
        if self.device.type != "cpu" or any(has_remote_media(item) for item in items):
            return 2
        return max(0, min(2, (os.cpu_count() or 1) - torch.get_num_threads()))

    @property
    def vision_patch_budget(self) -> int | None:
        """``EngineConfig.vision_patch_budget``, or its device default (8192 on CPU, no cap elsewhere)."""
        if self.config.vision_patch_budget is not None:
            return self.config.vision_patch_budget
        return 8192 if self.device.type == "cpu" else None

    def _encode_visuals(self, visuals: list[VisualInput], kind: str) -> None:
        """Give each visual its vision features: from :attr:`cache` (the same media with the same
        settings, encoded earlier or elsewhere in this batch), else from the vision tower."""
        scope = f"{self.device_choice.dtype}|{self.device}"
        self.cache.encode(visuals, scope, lambda todo: self._run_vision_tower(todo, kind))

    def _run_vision_tower(self, visuals: list[VisualInput], kind: str) -> None:
        """Run the vision tower on ``visuals``, in groups of at most :attr:`vision_patch_budget`
        patches, and keep each visual's features on it; a visual is encoded independently of the
        others in its group."""
        budget = self.vision_patch_budget
        group: list[VisualInput] = []
        patches = 0
        for visual in visuals:
            size = int(visual.pixel_values.shape[0])
            if group and budget is not None and patches + size > budget:
                self._encode_group(group, kind)
                group, patches = [], 0
            group.append(visual)
            patches += size
        if group:
            self._encode_group(group, kind)

    @torch.inference_mode()
    def _encode_group(self, todo: list[VisualInput], kind: str) -> None:
        pixels = to_device(torch.cat([v.pixel_values for v in todo]), self.device)
        grid = to_device(torch.tensor([v.grid_thw for v in todo], dtype=torch.long), self.device)
        encode = self.model.get_image_features if kind == "image" else self.model.get_video_features
        out = encode(pixels, grid, return_dict=True)
        for i, visual in enumerate(todo):
            visual.features = (out.pooler_output[i], [layer[i] for layer in out.deepstack_features])

    def _collate_encoded(self, items: Sequence[PreparedItem],
                         packed: bool = False) -> tuple[dict, list[VisualInput], list[VisualInput]]:
        """Right-padded (or ``packed``) batch tensors of ``items`` and their visuals, with vision
        features encoded."""
        batch, images, videos = pack(items, self.device) if packed else collate(items, PAD_ID, "right", self.device)
        for kind, visuals in (("image", images), ("video", videos)):
            if visuals:
                self._encode_visuals(visuals, kind)
        return batch, images, videos

    @torch.inference_mode()
    def _pooled(self, items: Sequence[PreparedItem], prefix: PrefixKV | None = None) -> torch.Tensor:
        """Final hidden state of each item at its last real token, shape (rows, hidden).

        Items are packed end to end (:attr:`packing`) or right-padded into one batch (exact under causal
        attention, see ``forward.py``); ``prefix`` holds the key/value cache of a shared prompt prefix
        the items continue."""
        if self.packing:
            batch, images, videos = self._collate_encoded(items, packed=True)
            return packed_pooled_states(self.model, batch["input_ids"], batch["position_ids"], batch["lengths"],
                                        images, videos, prefix)
        batch, images, videos = self._collate_encoded(items)
        last = batch["attention_mask"].sum(dim=1) - 1
        return pooled_states(self.model, batch["input_ids"], batch["position_ids"], last, images, videos, prefix)

    def __repr__(self) -> str:
        c = self.device_choice
        return f"{type(self).__name__}({self.model_id!r}, device={c.device}, dtype={c.dtype}, attn={c.attn_implementation})"
