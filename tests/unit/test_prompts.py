"""Rendered prompts equal docs/model-contract.md's strings character for character."""

import pytest

from qwen3vl_integrations import MultimodalInput
from qwen3vl_integrations.core.inputs import coerce_input
from qwen3vl_integrations.core.prompts import (
    embed_instruction,
    expand_video,
    render_embedder_prompt,
    render_reranker_prompt,
)

IMG = "<|vision_start|><|image_pad|><|vision_end|>"
VID = "<|vision_start|><|video_pad|><|vision_end|>"
RERANK_SYSTEM = (
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".'
)


def embed_prompt(system: str, content: str) -> str:
    return (
        "<|im_start|>system\n" + system + "<|im_end|>\n<|im_start|>user\n" + content
        + "<|im_end|>\n<|im_start|>assistant\n"
    )


def test_embedder_default_instruction():
    assert render_embedder_prompt(coerce_input("A dog.")) == embed_prompt("Represent the user's input.", "A dog.")


def test_embedder_custom_instruction_is_kept_when_punctuated():
    got = render_embedder_prompt(coerce_input("cats"), "Retrieve images or text relevant to the user's query.")
    assert got == embed_prompt("Retrieve images or text relevant to the user's query.", "cats")


def test_embedder_unpunctuated_instruction_gets_a_period_and_is_stripped():
    got = render_embedder_prompt(coerce_input("cats"), "  Find images matching this description  ")
    assert got == embed_prompt("Find images matching this description.", "cats")


@pytest.mark.parametrize("instruction,expected", [
    ("Why?", "Why?"),
    ("Quote»", "Quote»"),          # Pf: Unicode punctuation, no period added
    ("句子。", "句子。"),            # Po
    ("Ends with digit 3", "Ends with digit 3."),
    ("", "Represent the user's input."),
    ("   ", "Represent the user's input."),
    (None, "Represent the user's input."),
])
def test_instruction_punctuation_rule(instruction, expected):
    assert embed_instruction(instruction) == expected


def test_item_instruction_wins_over_call_instruction():
    item = coerce_input({"text": "x", "instruction": "Item task"})
    assert "system\nItem task.<|im_end|>" in render_embedder_prompt(item, "Call task")


def test_content_order_is_videos_images_texts_whatever_the_caller_order():
    item = MultimodalInput(texts=("t1", "t2"), images=("a.png", "b.png"), videos=("v.mp4",))
    assert render_embedder_prompt(item) == embed_prompt("Represent the user's input.", VID + IMG + IMG + "t1t2")
    from_dict = coerce_input({"text": "t1", "image": "a.png", "video": "v.mp4"})
    assert render_embedder_prompt(from_dict) == embed_prompt("Represent the user's input.", VID + IMG + "t1")


def test_reranker_prompt_default_instruction():
    got = render_reranker_prompt(coerce_input("what is a cat"), coerce_input("A cat is an animal."))
    assert got == (
        "<|im_start|>system\n" + RERANK_SYSTEM + "<|im_end|>\n<|im_start|>user\n"
        "<Instruct>: Given a search query, retrieve relevant candidates that answer the query."
        "<Query>:what is a cat\n<Document>:A cat is an animal.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_reranker_prompt_custom_instruction_has_no_punctuation_rule_and_mixed_content():
    query = coerce_input({"text": "beach", "image": "q.png"})
    doc = MultimodalInput(texts=("caption",), images=("d.png",), videos=(["f1.png", "f2.png"],))
    got = render_reranker_prompt(query, doc, "Retrieve images or text relevant to the user's query")
    assert got == (
        "<|im_start|>system\n" + RERANK_SYSTEM + "<|im_end|>\n<|im_start|>user\n"
        "<Instruct>: Retrieve images or text relevant to the user's query"
        "<Query>:" + IMG + "beach\n<Document>:" + VID + IMG + "caption<|im_end|>\n<|im_start|>assistant\n"
    )


def test_video_expansion_is_one_block_per_two_frames():
    got = expand_video([0.25, 1.25], 2)
    block = "<|vision_start|><|video_pad|><|video_pad|><|vision_end|>"
    assert got == "<0.2 seconds>" + block + "<1.2 seconds>" + block
