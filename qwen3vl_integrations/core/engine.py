"""The shared engine of the embedder and the reranker: loading, preparation, the
dispatcher every call goes through, and batched forwards."""

from __future__ import annotations

import inspect
import logging
import os
import threading
import weakref
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch

from ..errors import Qwen3VLError
from ..media import DEFAULT_POLICY, MediaPolicy
from .arguments import check_flag, check_instruction, coerce_item
from .batching import collate, pack, plan_batches, to_device
from .cache import MediaCache, model_fingerprint, resolve_cache_bytes
from .config import IMAGE_FACTOR, EngineConfig
from .dispatcher import Dispatcher, Job
from .forward import PrefixKV, packed_pooled_states, pooled_states
from .inputs import MultimodalInput, has_remote_media
from .loading import DeviceChoice, choose_device, load_backbone, load_processor, progress_bars, resolve_checkpoint
from .processing import PreparedItem, Preprocessor, VisualInput
from .runner import on_forward_thread
from .tokens import SpecialTokens, read_special_tokens

logger = logging.getLogger(__name__)

__all__ = ["Engine", "wait"]

#: token estimate (for admission) of an image whose size is unknown before it is loaded
UNKNOWN_IMAGE_TOKENS = 1024
#: prompt tokens around the content (system text, chat markers)
PROMPT_OVERHEAD_TOKENS = 48


def wait(future: Future) -> Any:
    """The result of a submitted call; interrupting the wait cancels the call's queued items."""
    if on_forward_thread() and not future.done():
        future.cancel()
        raise RuntimeError("an engine call waited on the forward thread (from a batch listener or a future's "
                           "done-callback), which would hold the thread the call needs: use submit_embed / "
                           "submit_score and do not wait there")
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


class Engine:
    """Base of Qwen3VLEmbedder and Qwen3VLReranker (not public on its own)."""

    default_max_length = 8192

    def __init__(self, model, processor, *, config: EngineConfig | None = None, policy: MediaPolicy | None = None,
                 device_choice: DeviceChoice | None = None, model_id: str = "", model_path: Path | None = None,
                 tokens: SpecialTokens | None = None):
        self.model = model
        self.processor = processor
        self.config = config or EngineConfig()
        self.policy = policy or DEFAULT_POLICY
        param = next(model.parameters())
        self.device_choice = device_choice or DeviceChoice(param.device, param.dtype, "sdpa")
        self.model_id = model_id or str(model_path or "")
        self.model_path = model_path
        #: the checkpoint's special token ids (read from its tokenizer and config, checked against the contract)
        self.tokens = tokens or read_special_tokens(processor.tokenizer, getattr(model, "config", None))
        #: prepared media and vision features shared by every call of this engine (``cache_bytes``)
        self.cache = MediaCache(resolve_cache_bytes(self.config.cache_bytes, self.device),
                                model_fingerprint(model, self.model_id, model_path))
        self.preprocessor = Preprocessor(processor, self.config, self.policy, self.cache)
        self._dispatcher: Dispatcher | None = None
        self._dispatcher_lock = threading.Lock()

    @classmethod
    def _load(cls, model: str | os.PathLike, *, device=None, dtype=None, attn_implementation=None, revision=None,
              config: EngineConfig | None = None, policy: MediaPolicy | None = None, show_progress: bool = False,
              **config_overrides):
        """Load a checkpoint's backbone and processor; settings come from ``config`` and the keyword
        overrides only (never from the environment: see :meth:`EngineConfig.from_env`)."""
        check_flag(show_progress, "show_progress", optional=False)
        config = EngineConfig.create(config, **config_overrides)
        with progress_bars(show_progress):
            path = resolve_checkpoint(model, revision)
            choice = choose_device(device, dtype, attn_implementation)
            processor = load_processor(path)
            backbone = load_backbone(path, choice)
        tokens = read_special_tokens(processor.tokenizer, backbone.config)
        return path, dict(config=config, policy=policy, device_choice=choice, model_id=str(model), model_path=path,
                          tokens=tokens), backbone, processor

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    @property
    def max_length(self) -> int:
        return self.config.max_length or self.default_max_length

    @property
    def device(self) -> torch.device:
        return self.device_choice.device

    # -- the dispatcher ------------------------------------------------------------------------
    @property
    def dispatcher(self) -> Dispatcher:
        """The engine's one dispatcher (created on first use)."""
        with self._dispatcher_lock:
            if self._dispatcher is None:
                workers = self.config.num_workers or 2
                self._dispatcher = Dispatcher(self._plan, workers, max_items=self.config.max_queue_items,
                                              max_tokens=self.config.max_queue_tokens,
                                              cross_caller=self.config.cross_caller_batching,
                                              name=f"qwen3vl-{id(self):x}", device=str(self.device))
            return self._dispatcher

    def set_admission(self, *, max_queue_items: int | None = None, max_queue_tokens: int | None = None,
                      cross_caller_batching: bool = True) -> None:
        """Replace the dispatcher's admission bounds and cross-caller batching (the ``EngineConfig``
        fields of the same names) for calls from now on; a server applies its own limits this way."""
        with self._dispatcher_lock:
            self.config = self.config.replace(max_queue_items=max_queue_items, max_queue_tokens=max_queue_tokens,
                                              cross_caller_batching=cross_caller_batching)
            if self._dispatcher is not None:
                self._dispatcher.set_limits(max_items=max_queue_items, max_tokens=max_queue_tokens,
                                            cross_caller=cross_caller_batching)

    def stats(self) -> dict:
        """Queue and forward-pass counters of this engine (cheap, thread-safe); ``"cache"`` when it has one."""
        out = self.dispatcher.stats()
        cache = getattr(self, "cache", None)
        if cache is not None:
            out["cache"] = cache.stats()
        return out

    def add_batch_listener(self, fn: Callable[[int, int, float, int], None]) -> None:
        """Call ``fn(rows, tokens, seconds, callers)`` after every forward pass, from the worker thread
        (keep it cheap); ``callers`` is the number of distinct calls whose items were in the batch."""
        self.dispatcher.add_batch_listener(fn)

    def close(self) -> None:
        """Stop the dispatcher's worker and preparation pool; queued calls fail with EngineClosedError."""
        with self._dispatcher_lock:
            dispatcher = self._dispatcher
        if dispatcher is not None:
            dispatcher.close()

    def __enter__(self):
        return self

    def __getstate__(self) -> dict:
        """Pickling keeps the model and settings; the dispatcher (threads, queues) is made anew on use."""
        state = self.__dict__.copy()
        state["_dispatcher"] = None
        del state["_dispatcher_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._dispatcher_lock = threading.Lock()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _plan(self, lengths: list[int]) -> list[list[int]]:
        return plan_batches(lengths, self.config.token_budget, self.config.max_batch_items, self.min_batch_fill,
                            packed=self.packing)

    def _submit(self, raw: Sequence, prepare: Callable[[MultimodalInput, dict], PreparedItem],
                forward: Callable[[list, dict, list], Any], finish: Callable[[int, Any, Any], Any], *,
                fail_fast: bool, timeout: float | None, setup: Callable[[], tuple[Hashable, dict]] | None = None,
                extra_media: Sequence = (), on_progress: Callable[[int], None] | None = None) -> Future:
        items = [coerce_item(i, x) for i, x in enumerate(raw)]
        good = [x for x in items if isinstance(x, MultimodalInput)]
        job = Job(items, [self._estimate(x) for x in items], prepare, forward, finish, setup=setup,
                  fail_fast=fail_fast, inline=self._num_workers([*good, *extra_media]) == 0,
                  window=max(self.config.max_batch_items * 2, 32), timeout=timeout, on_progress=on_progress)
        return self.dispatcher.submit(job)

    def _estimate(self, item: MultimodalInput | Qwen3VLError) -> int:
        """Cheap token estimate of one item, for admission (no media is loaded)."""
        if not isinstance(item, MultimodalInput):
            return 0
        cap = self.config.max_pixels // IMAGE_FACTOR ** 2
        tokens = PROMPT_OVERHEAD_TOKENS + sum(len(t) for t in item.texts) // 3
        for image in item.images:
            size = getattr(image, "size", None) if hasattr(image, "mode") else getattr(image, "shape", None)
            pixels = int(size[0]) * int(size[1]) if isinstance(size, tuple) and len(size) >= 2 else None
            tokens += min(cap, UNKNOWN_IMAGE_TOKENS if pixels is None else pixels // IMAGE_FACTOR ** 2 + 4)
        return tokens + len(item.videos) * (self.config.total_pixels // IMAGE_FACTOR ** 2)

    # -- preparation ------------------------------------------------------------------------
    def _checked(self, item: MultimodalInput) -> MultimodalInput:
        """An item's cheap checks before any media is loaded."""
        check_instruction(item.instruction)
        item.check_not_empty()
        self.preprocessor.check_text(item)
        return item

    def _visuals(self, item: MultimodalInput) -> tuple[list[VisualInput], list[VisualInput]]:
        pre = self.preprocessor
        videos = [pre.video(v, item.fps, item.max_frames) for v in item.videos]
        images = [pre.image(i) for i in item.images]
        return images, videos

    def _tokenize(self, prompt: str, truncate: bool | None, body_limit: int) -> tuple[list[int], bool]:
        truncate = self.config.truncate if truncate is None else truncate
        return self.preprocessor.tokenize(prompt, self.max_length, truncate, body_limit)

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
        """Preparation threads for a call (``EngineConfig.num_workers``; ``None`` = auto, see there);
        0 means the call is prepared on the forward thread, between forward passes."""
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

    # -- forward ------------------------------------------------------------------------------
    def _encode_visuals(self, visuals: list[VisualInput], kind: str) -> None:
        """Give each visual its vision features: from :attr:`cache` (the same media with the same
        settings, encoded earlier or elsewhere in this batch), else from the vision tower."""
        scope = f"{self.device_choice.dtype}|{self.device}"
        self.cache.encode(visuals, scope, lambda todo: self._run_vision_tower(todo, kind))

    def _run_vision_tower(self, visuals: list[VisualInput], kind: str) -> None:
        """Run the vision tower on ``visuals`` (distinct and not encoded yet: ``MediaCache.encode``
        hands over only those), in groups of at most :attr:`vision_patch_budget` patches, and keep each
        visual's features on it; a visual is encoded independently of the others in its group."""
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
        if packed:
            batch, images, videos = pack(items, self.device)
        else:
            batch, images, videos = collate(items, self.tokens.pad, "right", self.device)
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

    # -- sharing, copies and pickles (owner: adapters; issue 16 item 6) -------------------------------
    @classmethod
    def shared(cls, model: str | os.PathLike, **settings):
        """The engine of ``model`` loaded with ``settings`` (``from_pretrained`` arguments) in this
        process: loaded by the first call, the same object afterwards (and for unpickled copies)."""
        key = _shared_key(cls, str(model), settings)
        with _SHARED_LOCK:
            engine = _SHARED.get(key)
            if engine is None:
                engine = cls.from_pretrained(model, **settings)  # type: ignore[attr-defined]
                _SHARED[key] = engine
                _LOADED.append(engine)  # loaded here: kept for the life of the process
        return engine

    def __deepcopy__(self, memo: dict):
        return self  # the weights are shared, never copied

    def __reduce_ex__(self, protocol):
        """Pickled as (model reference, settings); unpickling loads it once per process (:meth:`shared`).
        An engine built from in-memory weights (no checkpoint path) pickles with them (``__getstate__``)."""
        if self.model_path is None:
            return super().__reduce_ex__(protocol)
        model = self.model_id
        if Path(model).expanduser().is_dir():
            model = str(Path(model).expanduser().resolve())
        choice = self.device_choice
        settings = {"device": str(choice.device), "dtype": choice.dtype, "attn_implementation": choice.attn_implementation,
                    "config": self.config, "policy": self.policy}
        if self.model_path.parent.name == "snapshots" and not Path(self.model_id).expanduser().is_dir():
            settings["revision"] = self.model_path.name  # the hub commit that was loaded
        params = inspect.signature(type(self).from_pretrained).parameters  # type: ignore[attr-defined]
        settings.update({name: getattr(self, name) for name in _PICKLED_ATTRIBUTES if name in params})
        with _SHARED_LOCK:
            _SHARED.setdefault(_shared_key(type(self), model, settings), self)
        return (_unpickle_engine, (type(self), model, settings))
    # -- end of sharing, copies and pickles ----------------------------------------------------------

    def __repr__(self) -> str:
        c = self.device_choice
        return f"{type(self).__name__}({self.model_id!r}, device={c.device}, dtype={c.dtype}, attn={c.attn_implementation})"


# -- sharing, copies and pickles (owner: adapters) -------------------------------------------------------
#: engines by (class, model reference, settings); engines loaded by ``shared`` are also in _LOADED
_SHARED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_LOADED: list[Engine] = []
_SHARED_LOCK = threading.RLock()
#: ``from_pretrained`` arguments a pickle carries when the engine's class has them
_PICKLED_ATTRIBUTES = ("dim", "query_instruction", "document_instruction")


def _shared_key(cls: type, model: str, settings: dict) -> tuple:
    return cls.__module__, cls.__qualname__, model, repr(sorted(settings.items()))


def _unpickle_engine(cls: type[Engine], model: str, settings: dict) -> Engine:
    return cls.shared(model, **settings)
