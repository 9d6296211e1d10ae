"""Multimodal retrieval with Haystack and Qwen3-VL: photos and notes, retrieved and reranked.

An indexing Pipeline converts the photos (ImageFileToDocument) and notes (TextFileToDocument) of
examples/media, embeds them into one vector space with Qwen3VLDocumentEmbedder and writes them to an
InMemoryDocumentStore; a query Pipeline embeds the question (Qwen3VLTextEmbedder), retrieves and
reranks with Qwen3VLRanker, which sees the photos themselves. Everything else is plain Haystack.

    python examples/haystack_multimodal_rag.py                      # the real models from the hub
    python examples/haystack_multimodal_rag.py --model tiny-random  # offline: random weights, meaningless ranks

Needs: pip install "qwen3vl-integrations[haystack]"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from haystack import Pipeline
from haystack.components.converters import TextFileToDocument
from haystack.components.converters.image import ImageFileToDocument
from haystack.components.joiners import DocumentJoiner
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

from qwen3vl_integrations.haystack import Qwen3VLDocumentEmbedder, Qwen3VLRanker, Qwen3VLTextEmbedder
from qwen3vl_integrations.testing import TINY_RANDOM

MEDIA = Path(__file__).resolve().parent / "media"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="model id, path or tiny-random")
    parser.add_argument("--reranker", default=None,
                        help="reranker id or path (default: Qwen/Qwen3-VL-Reranker-2B, or --model when it is "
                             "tiny-random or a local directory, as a tiny test checkpoint serves both)")
    parser.add_argument("--media", type=Path, default=MEDIA, help="a folder of .jpg/.png photos and .txt/.md notes")
    parser.add_argument("--workdir", type=Path, default=None, help="unused (the store is in memory)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    args = parser.parse_args(argv)
    local = args.model == TINY_RANDOM or Path(args.model).is_dir()
    reranker = args.reranker or (args.model if local else "Qwen/Qwen3-VL-Reranker-2B")
    photos = sorted(str(p) for p in args.media.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    notes = sorted(str(p) for p in args.media.iterdir() if p.suffix.lower() in (".txt", ".md"))

    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    indexing = Pipeline()
    indexing.add_component("photos", ImageFileToDocument())
    indexing.add_component("notes", TextFileToDocument())
    indexing.add_component("join", DocumentJoiner())
    # the converters keep only the file name in meta["file_path"]: root_path says where the files are
    indexing.add_component("embedder", Qwen3VLDocumentEmbedder(args.model, device=args.device,
                                                               root_path=str(args.media)))
    indexing.add_component("writer", DocumentWriter(store))
    indexing.connect("photos.documents", "join.documents")
    indexing.connect("notes.documents", "join.documents")
    indexing.connect("join.documents", "embedder.documents")
    indexing.connect("embedder.documents", "writer.documents")
    indexing.run({"photos": {"sources": photos}, "notes": {"sources": notes}})
    print(f"indexed {store.count_documents()} documents ({len(photos)} photos, {len(notes)} notes)")

    query = Pipeline()
    query.add_component("text_embedder", Qwen3VLTextEmbedder(args.model, device=args.device))
    query.add_component("retriever", InMemoryEmbeddingRetriever(store, top_k=6))
    query.add_component("ranker", Qwen3VLRanker(reranker, device=args.device, top_k=3, root_path=str(args.media)))
    query.connect("text_embedder.embedding", "retriever.query_embedding")
    query.connect("retriever.documents", "ranker.documents")
    question = "a cat sitting on a blanket"
    result = query.run({"text_embedder": {"text": question}, "ranker": {"query": question}})
    print(f"\n== reranked for {question!r} (top 3 of 6 candidates)")
    for rank, document in enumerate(result["ranker"]["documents"], 1):
        print(f"  {rank}. {Path(document.meta['file_path']).name}  relevance={document.score:.4f}")


if __name__ == "__main__":
    main()
