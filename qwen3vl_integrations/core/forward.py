"""The engine's forward pass over right-padded or packed batches, returning only what the engine uses.

Both heads read one hidden state per row: the final state at the row's last real token. So the
language model's last decoder layer runs its key/value projections for every token (the pooled token
attends to them) but its query, attention, output projection and MLP for the pooled tokens alone.
Earlier layers run in full through transformers' own decoder layers, without an attention mask:
under causal attention a real token never sees the padding after it, so right padding is exact.

:func:`packed_pooled_states` is the same computation over rows laid end to end in one sequence (no
padding at all): every linear layer runs on the real tokens only, and attention runs row by row. It
is the engine's path on a CPU, where a padded batch buys no parallelism and padding is pure waste.

The vision tower's patch embedding (a ``Conv3d`` whose stride equals its kernel) is, term for
term, a linear map of the flattened patch; :func:`use_linear_patch_embed` runs it as one matmul.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .processing import VisualInput

__all__ = ["pooled_states", "packed_pooled_states", "prefix_kv", "use_linear_patch_embed", "PrefixKV"]

#: query rows per attention call after a cached prefix (bounds the explicit causal mask's size)
MASK_CHUNK = 1024

#: a cached shared prompt prefix: per decoder layer, keys and values of shape (1, kv_heads, P, head_dim)
PrefixKV = list[tuple[torch.Tensor, torch.Tensor]]


def _linear_patch_embed(self, hidden_states: torch.Tensor) -> torch.Tensor:
    weight = self.proj.weight
    flat = hidden_states.to(dtype=weight.dtype).reshape(-1, weight[0].numel())
    return F.linear(flat, weight.reshape(weight.shape[0], -1), self.proj.bias)


#: transformers' ``Qwen3VLVisionPatchEmbed`` with the matmul forward (made on first use, so that this
#: module imports without transformers); same parameters and state dict, picklable by this name
LinearPatchEmbed = None


def _linear_patch_embed_class():
    global LinearPatchEmbed
    if LinearPatchEmbed is None:
        from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionPatchEmbed

        LinearPatchEmbed = type("LinearPatchEmbed", (Qwen3VLVisionPatchEmbed,),
                                {"forward": _linear_patch_embed, "__module__": __name__})
    return LinearPatchEmbed


def use_linear_patch_embed(model) -> None:
    """Run the vision patch embedding of ``model`` (a ``Qwen3VLModel``) as a matmul with the same
    weights (3-4x faster than the Conv3d on CPU). Idempotent; other models are left alone."""
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionPatchEmbed

    embed = getattr(getattr(model, "visual", None), "patch_embed", None)
    if type(embed) is Qwen3VLVisionPatchEmbed:  # its Conv3d always has stride == kernel
        embed.__class__ = _linear_patch_embed_class()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of one tensor, as transformers' ``apply_rotary_pos_emb`` does for q and k."""
    from transformers.models.qwen3_vl.modeling_qwen3_vl import rotate_half

    return x * cos + rotate_half(x) * sin


def _features(visual: VisualInput) -> tuple:
    if visual.features is None:
        raise ValueError("a visual reached the language model before the vision tower encoded it")
    return visual.features


def _place_visuals(model, input_ids: torch.Tensor, embeds: torch.Tensor, images: Sequence[VisualInput],
                   videos: Sequence[VisualInput]) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """Write the vision features over the placeholder tokens (in sequence order, as transformers does)
    and return the mask of visual positions with the deepstack features to add after the first layers."""
    masks, deep = [], []
    for token_id, visuals in ((model.config.image_token_id, images), (model.config.video_token_id, videos)):
        if not visuals:
            continue
        mask = input_ids == token_id
        encoded = [_features(v) for v in visuals]
        feats = torch.cat([f[0] for f in encoded]).to(embeds.device, embeds.dtype)
        if int(mask.sum()) != feats.shape[0]:
            raise ValueError(f"{int(mask.sum())} visual tokens but {feats.shape[0]} feature rows")
        embeds[mask] = feats
        masks.append(mask)
        deep.append([torch.cat([f[1][k] for f in encoded]) for k in range(len(encoded[0][1]))])
    if not masks:
        return None, []
    if len(masks) == 1:
        return masks[0], deep[0]
    visual = masks[0] | masks[1]
    first = masks[0][visual]
    joint = []
    for image_feat, video_feat in zip(*deep):
        both = image_feat.new_empty(int(visual.sum()), image_feat.shape[-1])
        both[first] = image_feat
        both[~first] = video_feat
        joint.append(both)
    return visual, joint


@functools.cache
def _cache_keyword(function) -> str:
    """The name under which ``function`` takes the key/value cache: ``cache`` since transformers 5.24
    (``past_key_values`` is deprecated there), ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(function).parameters else "past_key_values"


def _run_body(model, input_ids: torch.Tensor, position_ids: torch.Tensor, images, videos, cache, layers):
    """Embed the ids, place the visuals, run ``layers`` in full; return hidden states and rotary tables."""
    from transformers.masking_utils import create_causal_mask

    lm = model.language_model
    hidden = lm.embed_tokens(input_ids)
    visual, deepstack = _place_visuals(model, input_ids, hidden, images, videos)
    cos, sin = lm.rotary_emb(hidden, position_ids)
    mask = create_causal_mask(config=lm.config, inputs_embeds=hidden, attention_mask=None,
                              **{_cache_keyword(create_causal_mask): cache})
    layer_cache = {_cache_keyword(type(layers[0]).forward): cache} if layers else {}
    for index, layer in enumerate(layers):
        hidden = layer(hidden, attention_mask=mask, position_embeddings=(cos, sin), **layer_cache)
        if visual is not None and index < len(deepstack):
            hidden[visual] = hidden[visual] + deepstack[index].to(hidden.device, hidden.dtype)
    return hidden, cos, sin


@torch.inference_mode()
def prefix_kv(model, input_ids: torch.Tensor, position_ids: torch.Tensor, images: Sequence[VisualInput] = (),
              videos: Sequence[VisualInput] = (), packed: bool = False) -> PrefixKV:
    """Keys and values of every decoder layer for one prompt prefix (``input_ids`` of shape (1, P),
    ``position_ids`` (3, 1, P)): through transformers' decoder layers, or with ``packed`` through the
    packed path's own (:func:`packed_pooled_states`; of the last layer only the key/value projections)."""
    if packed:
        return _packed_prefix_kv(model, input_ids[0], position_ids[:, 0], images, videos)
    from transformers import DynamicCache

    cache = DynamicCache(config=model.language_model.config)
    _run_body(model, input_ids, position_ids, images, videos, cache, model.language_model.layers)
    return [(layer.keys, layer.values) for layer in cache.layers]  # type: ignore[union-attr,misc]


def _packed_prefix_kv(model, input_ids: torch.Tensor, position_ids: torch.Tensor, images, videos) -> PrefixKV:
    kept = list[tuple[torch.Tensor, torch.Tensor]]()
    hidden, cos, sin = _packed_body(model, input_ids, position_ids, images, videos, [(0, len(input_ids))], None, kept)
    final = model.language_model.layers[-1]
    keys, values = _packed_keys_values(final.self_attn, final.input_layernorm(hidden), cos, sin)
    return [*kept, (keys[None], values[None])]


@torch.inference_mode()
def pooled_states(model, input_ids: torch.Tensor, position_ids: torch.Tensor, last: torch.Tensor,
                  images: Sequence[VisualInput] = (), videos: Sequence[VisualInput] = (),
                  prefix: PrefixKV | None = None) -> torch.Tensor:
    """Final (normed) hidden state of each row at its last real token ``last[row]``: shape (rows, hidden).

    ``input_ids`` (rows, width) is right-padded; ``position_ids`` (3, rows, width) are M-RoPE positions;
    the visuals carry their vision features (``VisualInput.features``) in sequence order. ``prefix``
    holds the keys/values of a prompt prefix every row continues (positions already offset)."""
    from transformers import DynamicCache

    lm = model.language_model
    cache = None
    if prefix is not None:
        cache = DynamicCache(config=lm.config)
        shape = (input_ids.shape[0], -1, -1, -1)
        for layer, (keys, values) in enumerate(prefix[:-1]):
            cache.update(keys.expand(*shape), values.expand(*shape), layer)
    *body, final = lm.layers
    hidden, cos, sin = _run_body(model, input_ids, position_ids, images, videos, cache, body)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    # the pooled tokens are text (the prompt suffix), so no deepstack features land on them after the last layer
    return lm.norm(_last_layer(final, hidden, cos, sin, rows, last, prefix[-1] if prefix else None))


def _last_layer(layer, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rows: torch.Tensor,
                last: torch.Tensor, prefix: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """The decoder layer ``layer`` evaluated at the pooled positions only."""
    attn = layer.self_attn
    batch, width, _ = hidden.shape
    head_dim = attn.head_dim
    normed = layer.input_layernorm(hidden)
    keys = attn.k_norm(attn.k_proj(normed).view(batch, width, -1, head_dim)).transpose(1, 2)
    keys = _rotate(keys, cos[:, None], sin[:, None])
    values = attn.v_proj(normed).view(batch, width, -1, head_dim).transpose(1, 2)
    query = attn.q_norm(attn.q_proj(normed[rows, last]).view(batch, 1, -1, head_dim)).transpose(1, 2)
    query = _rotate(query, cos[rows, last][:, None, None], sin[rows, last][:, None, None])
    offset = 0
    if prefix is not None:
        offset = prefix[0].shape[2]
        keys = torch.cat([prefix[0].expand(batch, -1, -1, -1), keys], dim=2)
        values = torch.cat([prefix[1].expand(batch, -1, -1, -1), values], dim=2)
    visible = torch.arange(keys.shape[2], device=keys.device)[None, :] <= (last + offset)[:, None]
    out = F.scaled_dot_product_attention(
        query, keys, values, attn_mask=visible[:, None, None, :], scale=attn.scaling,
        enable_gqa=query.shape[1] != keys.shape[1])
    out = attn.o_proj(out.transpose(1, 2).reshape(batch, -1))
    state = hidden[rows, last] + out
    return state + layer.mlp(layer.post_attention_layernorm(state))


def _segments(lengths: Sequence[int]) -> list[tuple[int, int]]:
    bounds = [0]
    for n in lengths:
        bounds.append(bounds[-1] + int(n))
    return list(zip(bounds[:-1], bounds[1:]))


def _segment_attention(attn, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                       segments: list[tuple[int, int]], prefix: tuple[torch.Tensor, torch.Tensor] | None,
                       out: torch.Tensor, masks: dict) -> None:
    """Causal attention of each packed row (``query``/``keys``/``values``: (heads, N, head_dim)) within
    itself, after the prefix keys every row continues; results go to ``out`` (N, heads, head_dim).

    After a prefix the causal mask is explicit; a long row's queries go in chunks of
    ``MASK_CHUNK``, each against the keys it can see, so a mask never exceeds chunk x (prefix + row)."""
    gqa = query.shape[0] != keys.shape[0]
    for start, end in segments:
        k, v = keys[:, start:end], values[:, start:end]
        if prefix is None:
            o = F.scaled_dot_product_attention(query[None, :, start:end], k[None], v[None], is_causal=True,
                                               scale=attn.scaling, enable_gqa=gqa)
            out[start:end] = o[0].transpose(0, 1)
            continue
        width = prefix[0].shape[2]
        k, v = torch.cat([prefix[0][0], k], dim=1), torch.cat([prefix[1][0], v], dim=1)
        for first in range(0, end - start, MASK_CHUNK):
            last = min(first + MASK_CHUNK, end - start)
            shape = (last - first, width + last, width + first)  # query i sees keys up to width + first + i
            if shape not in masks:
                masks[shape] = torch.ones(shape[:2], dtype=torch.bool, device=query.device).tril(shape[2])
            o = F.scaled_dot_product_attention(query[None, :, start + first:start + last], k[None, :, :width + last],
                                               v[None, :, :width + last], attn_mask=masks[shape], scale=attn.scaling,
                                               enable_gqa=gqa)
            out[start + first:start + last] = o[0].transpose(0, 1)


def _packed_keys_values(attn, normed: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    n, head_dim = normed.shape[0], attn.head_dim
    keys = _rotate(attn.k_norm(attn.k_proj(normed).view(n, -1, head_dim)), cos, sin).transpose(0, 1)
    return keys, attn.v_proj(normed).view(n, -1, head_dim).transpose(0, 1)


def _packed_layer(layer, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                  segments: list[tuple[int, int]], prefix, masks: dict, kept: PrefixKV | None = None) -> torch.Tensor:
    """One decoder layer over packed rows (``hidden``: (N, hidden)), as transformers computes it; its
    keys and values, shaped (1, kv_heads, N, head_dim), are appended to ``kept`` when given."""
    attn = layer.self_attn
    n, head_dim = hidden.shape[0], attn.head_dim
    normed = layer.input_layernorm(hidden)
    query = _rotate(attn.q_norm(attn.q_proj(normed).view(n, -1, head_dim)), cos, sin).transpose(0, 1)
    keys, values = _packed_keys_values(attn, normed, cos, sin)
    if kept is not None:
        kept.append((keys[None], values[None]))
    out = hidden.new_empty(n, query.shape[0], head_dim)
    _segment_attention(attn, query, keys, values, segments, prefix, out, masks)
    hidden = hidden + attn.o_proj(out.view(n, -1))
    return hidden + layer.mlp(layer.post_attention_layernorm(hidden))


def _packed_last_layer(layer, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                       segments: list[tuple[int, int]], prefix) -> torch.Tensor:
    """The last decoder layer at each packed row's last token only."""
    attn = layer.self_attn
    head_dim = attn.head_dim
    normed = layer.input_layernorm(hidden)
    keys, values = _packed_keys_values(attn, normed, cos, sin)
    last = torch.tensor([end - 1 for _, end in segments], device=hidden.device)
    query = _rotate(attn.q_norm(attn.q_proj(normed[last]).view(len(segments), -1, head_dim)), cos[last], sin[last])
    out = hidden.new_empty(len(segments), query.shape[1], head_dim)
    gqa = query.shape[1] != keys.shape[0]
    for row, (start, end) in enumerate(segments):
        k, v = keys[:, start:end], values[:, start:end]
        if prefix is not None:
            k, v = torch.cat([prefix[0][0], k], dim=1), torch.cat([prefix[1][0], v], dim=1)
        # the last token sees every key of its row: no mask
        out[row] = F.scaled_dot_product_attention(query[row][None, :, None], k[None], v[None], scale=attn.scaling,
                                                  enable_gqa=gqa)[0, :, 0]
    state = hidden[last] + attn.o_proj(out.view(len(segments), -1))
    return state + layer.mlp(layer.post_attention_layernorm(state))


def _packed_body(model, input_ids: torch.Tensor, position_ids: torch.Tensor, images, videos,
                 segments: list[tuple[int, int]], prefix: PrefixKV | None, kept: PrefixKV | None = None) -> tuple:
    """Packed ``input_ids`` (N,) at ``position_ids`` (3, N) embedded, with the visuals placed, through
    every decoder layer but the last (deepstack features added after the first ones); returns the
    hidden states (N, hidden) and the rotary tables (N, 1, head_dim). Each layer's keys and values go
    to ``kept`` when given."""
    lm = model.language_model
    ids = input_ids[None]
    hidden = lm.embed_tokens(ids)
    visual, deepstack = _place_visuals(model, ids, hidden, images, videos)
    cos, sin = lm.rotary_emb(hidden, position_ids[:, None])
    hidden, cos, sin = hidden[0], cos[0, :, None], sin[0, :, None]
    masks = dict[tuple, torch.Tensor]()
    for index, layer in enumerate(lm.layers[:-1]):
        hidden = _packed_layer(layer, hidden, cos, sin, segments, prefix[index] if prefix else None, masks, kept)
        if visual is not None and index < len(deepstack):
            hidden[visual[0]] = hidden[visual[0]] + deepstack[index].to(hidden.device, hidden.dtype)
    return hidden, cos, sin


@torch.inference_mode()
def packed_pooled_states(model, input_ids: torch.Tensor, position_ids: torch.Tensor, lengths: Sequence[int],
                         images: Sequence[VisualInput] = (), videos: Sequence[VisualInput] = (),
                         prefix: PrefixKV | None = None) -> torch.Tensor:
    """:func:`pooled_states` for rows packed end to end: ``input_ids`` (N,) and ``position_ids`` (3, N)
    hold the rows one after another, ``lengths`` their lengths. Returns (rows, hidden)."""
    lm = model.language_model
    segments = _segments(lengths)
    hidden, cos, sin = _packed_body(model, input_ids, position_ids, images, videos, segments, prefix)
    return lm.norm(_packed_last_layer(lm.layers[-1], hidden, cos, sin, segments, prefix[-1] if prefix else None))
