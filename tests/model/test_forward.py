"""The engine's forward pass (``Engine._pooled``: packed or right-padded rows, last layer at the pooled
tokens only, prefix reuse, linear patch embedding) against transformers' own Qwen3-VL forward on the
same batch."""

import pytest
import torch

from qwen3vl_integrations import EngineConfig, Qwen3VLEmbedder, Qwen3VLReranker
from qwen3vl_integrations.core.batching import collate
from qwen3vl_integrations.core.forward import prefix_kv, use_linear_patch_embed
from qwen3vl_integrations.core.processing import PreparedItem
from qwen3vl_integrations.core.reranker import shared_prefix_length
from tests.conftest import random_image


def _stock_pooled(hf_model, items):
    """transformers' full forward (pixels in the batch, attention mask on), gathered at each row's last token."""
    batch, images, videos = collate(items, 151643, "right", torch.device("cpu"))
    if images:
        batch["pixel_values"] = torch.cat([v.pixel_values for v in images])
    if videos:
        batch["pixel_values_videos"] = torch.cat([v.pixel_values for v in videos])
    with torch.no_grad():
        hidden = hf_model.model(**batch).last_hidden_state
    last = batch["attention_mask"].sum(1) - 1
    return hidden[torch.arange(len(items)), last]


def _variant(engine, packing: bool, monkeypatch) -> tuple:
    """The same loaded model and processor, packed or right-padded, and the list of forward paths
    its ``_pooled`` calls have taken ("packed" / "padded")."""
    import qwen3vl_integrations.core.engine as engine_module

    variant = type(engine)(engine.model, engine.processor, config=EngineConfig(packing=packing),
                           **({"score_weight": engine.score_weight} if isinstance(engine, Qwen3VLReranker) else {}))
    assert variant.packing is packing
    taken: list[str] = []
    def make_spy(real, label):
        def spy(*args, **kwargs):
            taken.append(label)
            return real(*args, **kwargs)
        return spy

    for name, label in (("packed_pooled_states", "packed"), ("pooled_states", "padded")):
        monkeypatch.setattr(engine_module, name, make_spy(getattr(engine_module, name), label))
    return variant, taken


def test_packing_is_the_cpu_default(embedder):
    assert embedder.device.type == "cpu" and embedder.packing is True
    assert EngineConfig().packing is None  # auto
    assert EngineConfig.from_env({"QWEN3VL_PACKING": "auto"}).packing is None


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_pooled_states_equal_the_full_forward_on_a_mixed_batch(embedder, hf_model, rng, packing, monkeypatch):
    embedder, taken = _variant(embedder, packing, monkeypatch)
    frames = [random_image(rng, 64, 96)] * 4
    raw = ["short", "a much longer text " * 30, {"image": random_image(rng, 90, 200), "text": "caption"},
           {"video": frames}, {"image": random_image(rng, 64, 64), "video": frames, "text": "both kinds"}]
    items = [embedder.prepare(x) for x in raw]
    assert len({len(it) for it in items}) == len(items)  # padded rows of different lengths
    ours, stock = embedder._pooled(items), _stock_pooled(hf_model, items)
    assert ours.shape == stock.shape
    assert torch.allclose(ours, stock, atol=1e-4, rtol=1e-4)
    # each row alone gives the same state (batch invariance of the packed and the right-padded paths)
    for k, item in enumerate(items):
        assert torch.allclose(embedder._pooled([item])[0], ours[k], atol=1e-4, rtol=1e-4)
    assert set(taken) == {"packed" if packing else "padded"}


@pytest.mark.parametrize("packing,chunk", [(True, None), (True, 3), (False, None)],
                         ids=["packed", "packed-chunked-mask", "padded"])
def test_rows_continuing_a_cached_prefix_equal_full_rows(reranker, hf_model, rng, packing, chunk, monkeypatch):
    if chunk:  # long rows after a prefix attend in chunks of query rows
        monkeypatch.setattr("qwen3vl_integrations.core.forward.MASK_CHUNK", chunk)
    reranker, taken = _variant(reranker, packing, monkeypatch)
    query = reranker._prepare_query({"image": random_image(rng, 100, 140), "text": "q"})
    docs = ["first document", "second, longer document " * 5, {"image": random_image(rng, 64, 64)}]
    items = [reranker._prepare_pair(query, d, None, None) for d in docs]
    n = shared_prefix_length([it.input_ids for it in items], 1)  # system, instruction, query (with its image)
    assert n > 0 and items[0].input_ids[:n].count(151655) == query[1][0].tokens.count("<|image_pad|>")
    head = PreparedItem(items[0].input_ids[:n], list(query[1]), [])
    batch, images, _ = reranker._collate_encoded([head])
    kv = prefix_kv(reranker.model, batch["input_ids"], batch["position_ids"], images)
    offset = int(batch["position_ids"][0, 0, -1]) + 1
    rest = [PreparedItem(it.input_ids[n:], it.images[1:], it.videos, False, offset) for it in items]
    continued = reranker._pooled(rest, kv)
    assert torch.allclose(continued, reranker._pooled(items), atol=1e-4, rtol=1e-4)
    assert torch.allclose(continued, _stock_pooled(hf_model, items), atol=1e-4, rtol=1e-4)
    assert set(taken) == {"packed" if packing else "padded"}


@pytest.mark.parametrize("query_kind", ["text", "image"])
def test_a_packed_prefix_equals_the_transformers_prefix(reranker, rng, query_kind):
    # the packed path runs the prefix on its own layers (and only the key/value projections of the
    # last one); the keys and values equal transformers' own decoder layers' cache
    query = reranker._prepare_query("a query" if query_kind == "text" else {"image": random_image(rng, 100, 140)})
    items = [reranker._prepare_pair(query, d, None, None) for d in ["first document", "second document"]]
    n = shared_prefix_length([it.input_ids for it in items], len(query[1]))
    batch, images, _ = reranker._collate_encoded([PreparedItem(items[0].input_ids[:n], list(query[1]), [])])
    stock = prefix_kv(reranker.model, batch["input_ids"], batch["position_ids"], images)
    packed = prefix_kv(reranker.model, batch["input_ids"], batch["position_ids"], images, packed=True)
    assert len(packed) == len(stock) == reranker.model.config.text_config.num_hidden_layers
    for (keys, values), (stock_keys, stock_values) in zip(packed, stock):
        assert keys.shape == stock_keys.shape and values.shape == stock_values.shape
        assert torch.allclose(keys, stock_keys, atol=1e-5) and torch.allclose(values, stock_values, atol=1e-5)


def test_linear_patch_embedding_equals_the_conv3d(hf_model, embedder):
    import pickle

    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionPatchEmbed

    stock = hf_model.model.visual.patch_embed
    assert type(stock) is Qwen3VLVisionPatchEmbed
    assert type(embedder.model.visual.patch_embed).__name__ == "LinearPatchEmbed"  # loaded engines run the matmul
    pixels = torch.randn(37, stock.proj.weight[0].numel())
    with torch.no_grad():
        conv = stock(pixels)
        use_linear_patch_embed(hf_model.model)
        try:
            assert type(stock).__name__ == "LinearPatchEmbed"
            linear = stock(pixels)
            copy = pickle.loads(pickle.dumps(stock))  # still a plain, picklable module
            assert torch.allclose(copy(pixels), linear)
        finally:
            stock.__class__ = Qwen3VLVisionPatchEmbed
    assert linear.shape == conv.shape
    assert torch.allclose(linear, conv, atol=1e-5, rtol=1e-5)
    use_linear_patch_embed(torch.nn.Linear(2, 2))  # anything else is left alone


def test_eager_attention_gets_the_causal_mask(tiny_checkpoint, embedder, rng):
    # the padded path runs transformers' layers, which use the model's attention implementation
    eager = Qwen3VLEmbedder.from_pretrained(tiny_checkpoint, device="cpu", attn_implementation="eager", packing=False)
    assert eager.model.config.text_config._attn_implementation == "eager"
    items = ["short", "a longer text " * 12, {"image": random_image(rng, 80, 120), "text": "x"}]
    ours, reference = eager.embed(items), embedder.embed(items)  # eager has no implicit causal mask
    assert float((ours * reference).sum(1).min()) >= 0.99999


def test_vision_tower_runs_in_groups_under_the_patch_budget(embedder, rng, monkeypatch):
    assert embedder.vision_patch_budget == 8192  # CPU default
    raw = [{"image": random_image(rng, 64 + 32 * k, 96)} for k in range(5)]
    whole = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(vision_patch_budget=10**9))
    grouped = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(vision_patch_budget=100))
    sizes = [int(v.pixel_values.shape[0]) for x in raw for v in grouped.prepare(x).images]
    assert all(s < 100 for s in sizes) and sum(sizes) > 200  # several groups needed
    calls: list[int] = []
    real = embedder.model.get_image_features

    def spy(pixels, grid, **kwargs):
        calls.append(int(pixels.shape[0]))
        return real(pixels, grid, **kwargs)

    monkeypatch.setattr(embedder.model, "get_image_features", spy)
    reference = whole.embed(raw)
    assert calls == [sum(sizes)]  # one call for the whole batch
    calls.clear()
    assert float((grouped.embed(raw) * reference).sum(1).min()) >= 0.99999
    assert len(calls) > 1 and max(calls) <= 100 and sum(calls) == sum(sizes)
