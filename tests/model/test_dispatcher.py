"""The dispatcher behind every call: concurrent callers, cross-caller batches, admission, cancel,
timeout and failure isolation (issue 12, "Build 2"; issue 11, item 8)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from qwen3vl_integrations import (
    EmbedOutput,
    EmptyInputError,
    EngineClosedError,
    EngineConfig,
    ItemError,
    MediaDecodeError,
    ModelOverloadedError,
    Qwen3VLEmbedder,
    Qwen3VLReranker,
    RequestTimeoutError,
    ScoreOutput,
    TooLargeForDeviceError,
)
from tests.conftest import cosine, random_image, wait_for


class Gate:
    """A batch listener that holds the forward worker after a forward pass while closed, so that the
    calls submitted meanwhile queue up; it records (rows, callers) of every pass and its thread."""

    def __init__(self):
        self.reached = threading.Event()
        self.open = threading.Event()
        self.batches: list[tuple[int, int]] = []
        self.threads: set[str] = set()

    def __call__(self, rows, tokens, seconds, callers):
        self.batches.append((rows, callers))
        self.threads.add(threading.current_thread().name)
        self.reached.set()
        assert self.open.wait(60)


def held_engine(engine_cls, base, **config):
    """A fresh engine on ``base``'s model whose worker is held by a Gate after a first 1-item call."""
    kwargs = {"score_weight": base.score_weight} if engine_cls is Qwen3VLReranker else {}
    engine = engine_cls(base.model, base.processor, config=EngineConfig(**config), **kwargs)
    gate = Gate()
    engine.add_batch_listener(gate)
    first = engine.submit_embed(["warm-up"]) if engine_cls is Qwen3VLEmbedder else engine.submit_score("q", ["d"])
    assert gate.reached.wait(60)
    return engine, gate, first


def _caller_inputs(rng, k):
    frames = [random_image(rng, 64, 64) for _ in range(2 + k % 3)]
    return [f"caller {k} text " + "word " * (3 * k), {"image": random_image(rng, 40 + 16 * k, 72), "text": f"c{k}"},
            {"video": frames}, {"text": f"with its own instruction {k}", "instruction": "Find it"}][: 2 + k % 3]


@pytest.mark.parametrize("workers", [0, 2], ids=["inline", "pool"])
def test_eight_threads_get_the_results_of_sequential_calls(embedder, rng, workers):
    engine = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(num_workers=workers))
    inputs = [_caller_inputs(rng, k) for k in range(8)]
    sequential = [engine.embed(x) for x in inputs]
    threads: list[str] = []
    engine.add_batch_listener(lambda *args: threads.append(threading.current_thread().name))
    with ThreadPoolExecutor(8) as callers:
        concurrent = list(callers.map(engine.embed, inputs))
    for alone, together in zip(sequential, concurrent):
        assert together.shape == alone.shape and cosine(together, alone).min() >= 0.99999
    assert len(set(threads)) == 1 and threads[0].endswith("-forward")  # one forward worker
    prep = [t.name for t in threading.enumerate() if t.name.startswith(f"qwen3vl-{id(engine):x}-prep")]
    assert len(prep) <= 2  # one bounded pool per engine, not one per call


@pytest.mark.parametrize("workers", [0, 2], ids=["inline", "pool"])
def test_items_of_concurrent_callers_share_forward_passes(embedder, workers):
    engine, gate, first = held_engine(Qwen3VLEmbedder, embedder, num_workers=workers)
    try:
        futures = [engine.submit_embed([f"caller {k} says hello", f"and more from {k}"]) for k in range(6)]
        assert engine.stats()["queue_items"] == 13
        if workers:  # prepared in the pool while the worker is held (inline, the worker prepares them all first)
            wait_for(lambda: engine.stats()["ready_items"] == 12)
    finally:
        gate.open.set()
    results = [f.result(60) for f in futures]
    assert first.result(60)[0].tokens > 0
    assert max(callers for _, callers in gate.batches) == 6  # all six calls in one forward pass
    for k, result in enumerate(results):
        assert all(isinstance(o, EmbedOutput) for o in result)
        alone = engine.embed([f"caller {k} says hello", f"and more from {k}"])
        assert cosine(np.stack([o.vector for o in result]), alone).min() >= 0.99999
    stats = engine.stats()
    assert stats["queue_items"] == 0 and stats["forward_items"] >= 13 and stats["forward_seconds"] > 0


def test_an_inline_call_is_one_window_and_one_forward_pass(embedder):
    # inline, nothing is prepared while the model runs, so a small first window (as the pool has, to
    # start the model early) would only add a forward pass: 40 texts are one window and one pass
    engine = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(num_workers=0))
    rows: list[int] = []
    engine.add_batch_listener(lambda n, *args: rows.append(n))
    with engine:
        vectors = engine.embed([f"text number {k}" for k in range(40)])
        alone = engine.embed(["text number 39"])
    assert rows == [40, 1]
    assert cosine(vectors[39:], alone).min() >= 0.99999


def test_a_full_queue_refuses_at_once_and_recovers(embedder):
    engine, gate, first = held_engine(Qwen3VLEmbedder, embedder, max_queue_items=4)
    try:
        admitted = engine.submit_embed(["a", "b", "c"])  # 1 + 3 = 4 queued: fits
        start = time.perf_counter()
        with pytest.raises(ModelOverloadedError) as info:
            engine.submit_embed(["one too many"])
        assert time.perf_counter() - start < 0.5  # never waits for room
        assert info.value.retry_after > 0 and info.value.retryable and info.value.code == "overloaded"
        with pytest.raises(ModelOverloadedError):
            engine.embed(["the blocking form refuses too"])
    finally:
        gate.open.set()
    assert len(admitted.result(60)) == 3 and len(first.result(60)) == 1
    assert engine.embed(["x"] * 10).shape[0] == 10  # a call larger than the bound is admitted into an empty queue


def test_cancel_and_timeout_drop_queued_items(embedder):
    engine, gate, first = held_engine(Qwen3VLEmbedder, embedder, num_workers=2)
    try:
        before = engine.stats()["forward_items"]
        cancelled = engine.submit_embed(["dropped"] * 5)
        timed = engine.submit_embed(["late"] * 4, timeout=0.2)
        kept = engine.submit_embed(["kept"])
        wait_for(lambda: engine.stats()["ready_items"] == 10)
        assert cancelled.cancel()
        start = time.perf_counter()
        with pytest.raises(RequestTimeoutError) as info:
            timed.result(30)  # raises at its deadline, while the worker is still held
        assert time.perf_counter() - start < 5 and info.value.code == "timeout" and info.value.retryable
        assert engine.stats()["queue_items"] == 2  # the warm-up and `kept`
    finally:
        gate.open.set()
    assert len(kept.result(60)) == 1 and len(first.result(60)) == 1
    assert engine.stats()["forward_items"] - before == 1  # only `kept` ran after the warm-up


def test_one_callers_failures_never_fail_another_caller(embedder, rng, monkeypatch):
    engine, gate, first = held_engine(Qwen3VLEmbedder, embedder, num_workers=0)
    real = engine._pool

    def pool(items):  # an item of over 300 tokens runs out of device memory, in any batch
        if any(len(it) > 300 for it in items):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real(items)

    monkeypatch.setattr(engine, "_pool", pool)
    good = ["a good text", {"image": random_image(rng, 64, 64)}]
    try:
        ok = engine.submit_embed(good)
        mixed = engine.submit_embed(["fine", {"image": b"\x89PNG not really"}, "huge " * 400])
        blank = engine.submit_embed(["fine too", "   "])
    finally:
        gate.open.set()
    assert all(isinstance(o, EmbedOutput) for o in ok.result(60))
    out = mixed.result(60)
    assert isinstance(out[0], EmbedOutput)
    assert isinstance(out[1], ItemError) and isinstance(out[1].error, MediaDecodeError) and out[1].index == 1
    assert isinstance(out[2], ItemError) and isinstance(out[2].error, TooLargeForDeviceError)
    assert isinstance(out[2].error.__cause__, torch.cuda.OutOfMemoryError)
    assert isinstance(blank.result(60)[1], ItemError) and isinstance(blank.result()[0], EmbedOutput)
    assert max(callers for _, callers in gate.batches) >= 2  # they did share batches
    alone = engine.embed(good)
    assert cosine(np.stack([o.vector for o in ok.result()]), alone).min() >= 0.99999
    with pytest.raises(MediaDecodeError, match=r"input\[1\]"):  # errors="raise" fails only its own call
        engine.embed(["fine", {"image": b"\x89PNG not really"}])


def test_an_early_error_stops_the_call_without_running_the_rest(embedder):
    for workers in (0, 2):
        engine = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(num_workers=workers))
        with pytest.raises(EmptyInputError, match=r"input\[0\]"):
            engine.embed([""] + [f"text {i}" for i in range(200)])
        assert engine.stats()["forward_items"] < 50 and engine.stats()["queue_items"] == 0


def test_reranker_calls_with_the_same_query_share_batches_and_the_prefix(reranker, monkeypatch):
    import qwen3vl_integrations.core.reranker as module

    runs = []
    real_prefix = module.prefix_kv
    monkeypatch.setattr(module, "prefix_kv", lambda *a, **k: runs.append(a[1].shape[1]) or real_prefix(*a, **k))
    engine, gate, first = held_engine(Qwen3VLReranker, reranker, num_workers=0)
    try:
        a = engine.submit_score("what is a cat", ["A cat is an animal.", "Cats sleep a lot."])
        b = engine.submit_score("what is a cat", ["A dog barks.", "Kittens are young cats."])
        other = engine.submit_score("another query", ["A dog barks."])
        wait_for(lambda: engine.stats()["queue_items"] == 6)
        runs.clear()
    finally:
        gate.open.set()
    scores_a, scores_b, other_score = [o.score for o in a.result(60)], [o.score for o in b.result(60)], other.result(60)
    assert all(isinstance(o, ScoreOutput) and o.tokens > 0 for o in a.result() + b.result())
    assert (4, 2) in gate.batches  # the pairs of both calls in one forward pass
    assert len(runs) == 2  # one prefix for the shared query, one for the other query
    plain = engine.score("what is a cat", ["A cat is an animal.", "Cats sleep a lot.", "A dog barks.",
                                           "Kittens are young cats."])
    assert max(abs(x - y) for x, y in zip(scores_a + scores_b, plain)) <= 1e-5
    assert abs(other_score[0].score - engine.score("another query", ["A dog barks."])[0]) <= 1e-5


def test_engines_on_one_device_take_turns_on_one_forward_thread(embedder, reranker):
    """torch runs a CPU op's parallel parts on a thread team of the calling thread: with a forward
    thread per engine, an embedder slowed down by about 40 % once a reranker in the same process had
    run (benchmarks/bench_concurrency.py). The engines of a device share its one thread, in turns."""
    emb = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(max_batch_items=1, num_workers=0))
    rr = Qwen3VLReranker(reranker.model, reranker.processor, score_weight=reranker.score_weight)
    order: list[tuple[str, str]] = []
    rerank: list = []
    for name, engine in (("embed", emb), ("rerank", rr)):
        engine.add_batch_listener(lambda *args, name=name: order.append((name, threading.current_thread().name)))

    def after_the_first_embed_pass(*args):  # a rerank call arrives while the embed call has passes left
        if not rerank:
            rerank.append(rr.submit_score("a query", ["one document", "another document"]))

    emb.add_batch_listener(after_the_first_embed_pass)
    texts = [f"text number {k} " + "word " * k for k in range(8)]
    vectors = emb.embed(texts)
    scores = [o.score for o in rerank[0].result(60)]
    assert {thread for _, thread in order} == {"qwen3vl-cpu-forward"}
    engines = [name for name, _ in order]
    assert engines.count("embed") == 8 and "rerank" in engines[:-1]  # the rerank took a turn between embed passes
    assert cosine(vectors, embedder.embed(texts)).min() >= 0.99999
    assert max(abs(x - y) for x, y in zip(scores, reranker.score("a query", ["one document", "another document"]))) <= 1e-5


def test_waiting_on_the_forward_thread_is_an_error_not_a_hang(embedder, reranker):
    """A batch listener (or done-callback) that waited for another engine's results would hold the
    one forward thread that the awaited call needs."""
    emb = Qwen3VLEmbedder(embedder.model, embedder.processor)
    rr = Qwen3VLReranker(reranker.model, reranker.processor, score_weight=reranker.score_weight)
    seen: list = []

    def listener(*args):
        try:
            rr.score("a query", ["a document"])
        except RuntimeError as exc:
            seen.append(exc)

    emb.add_batch_listener(listener)
    assert emb.submit_embed(["one text"]).result(60)[0].vector.shape == (embedder.hidden_size,)
    assert len(seen) == 1 and "forward thread" in str(seen[0])
    assert rr.score("a query", ["a document"])[0] > 0  # the engines still work


def test_a_failing_turn_does_not_stall_the_rest_of_the_call(embedder):
    emb = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(max_batch_items=1, num_workers=0))
    calls: list[int] = []

    def progress(n):
        calls.append(n)
        if len(calls) == 1:
            raise ValueError("a progress bar that fails once")

    future = emb._submit_embed(["first", "second", "third"], None, None, "float32", None, None, None,
                               on_progress=progress)
    outputs = future.result(60)
    assert [o.vector.shape for o in outputs] == [(embedder.hidden_size,)] * 3 and len(calls) == 3


def test_close_fails_queued_calls_and_refuses_new_ones(embedder):
    engine, gate, first = held_engine(Qwen3VLEmbedder, embedder)
    queued = engine.submit_embed(["never run"])
    closer = threading.Thread(target=engine.close)
    closer.start()
    with pytest.raises(EngineClosedError):
        queued.result(30)
    gate.open.set()
    closer.join(30)
    with pytest.raises(EngineClosedError):
        engine.submit_embed(["after close"])
    engine.close()  # idempotent
    with Qwen3VLEmbedder(embedder.model, embedder.processor) as scoped:
        assert scoped.embed(["inside"]).shape[0] == 1
    with pytest.raises(EngineClosedError):
        scoped.embed(["outside"])


def _embed_in_child(engine, queue):
    queue.put(engine.embed(["hello", "world"]))


def test_an_engine_works_after_fork_and_pickling(embedder):
    import multiprocessing
    import pickle

    engine = Qwen3VLEmbedder(embedder.model, embedder.processor)
    reference = engine.embed(["hello", "world"])  # the dispatcher's threads exist in the parent now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_embed_in_child, args=(engine, queue))
    child.start()
    try:
        assert np.array_equal(queue.get(timeout=120), reference)  # the child's dispatcher starts its own threads
    finally:
        child.join(30)
    assert child.exitcode == 0
    copy = pickle.loads(pickle.dumps(engine))
    assert np.array_equal(copy.embed(["hello", "world"]), reference)
