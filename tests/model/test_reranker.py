"""Reranker scores against transformers' own LM-head logits, batching, ordering, errors."""

import math

import pytest
import torch
from qwen_vl_utils.vision_process import smart_resize
from safetensors.torch import load_file

from qwen3vl_integrations import EmptyInputError, EngineConfig, ItemError, Qwen3VLReranker
from tests.conftest import random_image

SYSTEM = ('<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the '
          'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
DEFAULT = "Given a search query, retrieve relevant candidates that answer the query."


def logit_score(hf_model, hf_processor, prompt, images=None) -> float:
    inputs = hf_processor(text=[prompt], images=images, do_resize=False, return_tensors="pt")
    with torch.no_grad():
        logits = hf_model(**inputs).logits[0, -1]
    return float(torch.sigmoid(logits[9693] - logits[2152]))


def test_text_score_equals_sigmoid_of_yes_minus_no_logits(reranker, hf_model, hf_processor):
    prompt = SYSTEM + f"<Instruct>: {DEFAULT}<Query>:what is a cat\n<Document>:A cat is a small animal.<|im_end|>\n<|im_start|>assistant\n"
    ours = reranker.score("what is a cat", ["A cat is a small animal."])[0]
    assert abs(ours - logit_score(hf_model, hf_processor, prompt)) <= 1e-5


def test_image_document_score_equals_logits(reranker, hf_model, hf_processor, rng):
    img = random_image(rng, 200, 333)
    h, w = smart_resize(200, 333, factor=32, min_pixels=4096, max_pixels=1843200)
    prompt = (SYSTEM + "<Instruct>: Retrieve images.<Query>:a red car\n<Document>:"
              "<|vision_start|><|image_pad|><|vision_end|>caption<|im_end|>\n<|im_start|>assistant\n")
    ours = reranker.score("a red car", [{"image": img, "text": "caption"}], instruction="Retrieve images.")[0]
    assert abs(ours - logit_score(hf_model, hf_processor, prompt, [img.resize((w, h), 3)])) <= 1e-5


def test_score_weight_is_yes_minus_no_rows(reranker, tiny_checkpoint):
    emb = load_file(str(tiny_checkpoint / "model.safetensors"))["model.language_model.embed_tokens.weight"]
    assert torch.equal(reranker.score_weight.cpu(), emb[9693] - emb[2152])


def _docs(rng):
    docs = [f"document {i} " + "filler " * (i * 7) for i in range(10)]
    docs += [{"image": random_image(rng, 50 + 20 * i, 90)} for i in range(4)]
    docs += [{"text": "both", "image": random_image(rng, 64, 64)}, {"video": [random_image(rng, 64, 64)] * 3}]
    return docs


@pytest.mark.parametrize("query_kind", ["text", "image", "text+image"])
@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_batched_scores_equal_one_pair_at_a_time(reranker, rng, query_kind, packing):
    img = random_image(rng, 120, 160)
    query = {"text": "q", "image": img} if query_kind == "text+image" else (
        {"image": img} if query_kind == "image" else "a query")
    docs = _docs(rng)
    batched = Qwen3VLReranker(reranker.model, reranker.processor, score_weight=reranker.score_weight,
                              config=EngineConfig(packing=packing)).score(query, docs)
    single = Qwen3VLReranker(reranker.model, reranker.processor, score_weight=reranker.score_weight,
                             config=EngineConfig(max_batch_items=1, num_workers=0, packing=not packing))
    one_by_one = single.score(query, docs)
    assert len(batched) == len(docs)
    assert max(abs(a - b) for a, b in zip(batched, one_by_one)) <= 1e-5
    assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in batched)


def test_rerank_sorts_and_keeps_indices(reranker):
    docs = ["alpha", "beta gamma", "delta", "epsilon zeta eta", "theta"]
    scores = reranker.score("query", docs)
    results = reranker.rerank("query", docs, top_k=3)
    assert [r.index for r in results] == sorted(range(5), key=lambda i: -scores[i])[:3]
    assert [r.score for r in results] == sorted(scores, reverse=True)[:3]
    assert all(r.document == docs[r.index] for r in results)
    assert len(reranker.rerank("query", docs)) == 5


def test_bad_document_and_query_errors(reranker):
    with pytest.raises(EmptyInputError, match=r"input\[1\]"):
        reranker.score("q", ["ok", ""])
    out = reranker.score("q", ["ok", "", "fine"], errors="return")
    assert isinstance(out[1], ItemError) and out[1].index == 1
    assert abs(out[0] - reranker.score("q", ["ok"])[0]) <= 1e-5
    with pytest.raises(EmptyInputError, match="query"):
        reranker.score("  ", ["doc"])
    assert reranker.score("q", []) == []


def _plain_scores(reranker, query, docs):
    """Every pair in one right-padded batch, without prefix reuse."""
    prepared = reranker._prepare_query(query)
    items = [reranker._prepare_pair(prepared, d, None, None) for d in docs]
    return reranker._scores(items, {"length": 0}).tolist()


@pytest.mark.parametrize("query_kind", ["text", "image", "video"])
def test_prefix_reuse_equals_plain_batches(reranker, rng, query_kind):
    shared = random_image(rng, 64, 96)
    query = {"text": "q"} if query_kind == "text" else (
        {"image": random_image(rng, 100, 140), "text": "q"} if query_kind == "image"
        else {"video": [random_image(rng, 64, 64)] * 4})
    # every document starts with the same image: it must stay with the documents, not the prefix
    docs = [{"image": shared, "text": f"doc {i} " + "x " * i} for i in range(6)]
    mixed = ["(starts with punctuation)", "A plain document", {"video": [random_image(rng, 64, 64)] * 2}]
    for group in (docs, mixed):
        prefixed = reranker.score(query, group)
        assert max(abs(a - b) for a, b in zip(prefixed, _plain_scores(reranker, query, group))) <= 1e-5


def test_shared_prefix_length_rules():
    from qwen3vl_integrations.core.reranker import shared_prefix_length

    vs, ve = 151652, 151653
    rows = [[1, 2, vs, 9, ve, 3, vs, 8, ve, 4], [1, 2, vs, 9, ve, 3, vs, 8, ve, 5]]
    assert shared_prefix_length(rows, 1) == 6  # stops before the documents' shared image block
    assert shared_prefix_length(rows, 2) == 9
    assert shared_prefix_length([[1, 2, vs, 9, ve, 3]], 2) == 0  # the query's blocks are not all there
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]], 0) == 2  # leaves a token per row


def test_prefix_cache_is_reused_across_windows_and_redone_when_rows_diverge(reranker, monkeypatch):
    import qwen3vl_integrations.core.reranker as module

    runs = []
    original = module.prefix_kv
    monkeypatch.setattr(module, "prefix_kv", lambda *a, **k: runs.append(a[1].shape[1]) or original(*a, **k))
    # prepared inline in windows of 128 documents: the first window's rows all start with the same
    # words, so its shared prefix is longer than what the second window shares and must be recomputed
    # once; the first window's two batches (64 rows each) share one prefix
    inline = Qwen3VLReranker(reranker.model, reranker.processor, score_weight=reranker.score_weight,
                             config=reranker.config.replace(num_workers=0, max_batch_items=64))
    with inline:
        docs = ["The river runs " + "far " * (i % 9) for i in range(128)] + [f"doc {i} " + "y " * i for i in range(32)]
        scores = inline.score("a query", docs)
        assert len(runs) == 2 and runs[0] > runs[1]
        assert max(abs(a - b) for a, b in zip(scores, _plain_scores(inline, "a query", docs))) <= 1e-5
        runs.clear()
        inline.score("a query", [f"doc {i} " + "y " * i for i in range(160)])
        assert len(runs) == 1  # one prefix for every window
