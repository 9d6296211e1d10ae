"""Multimodal search with Chroma and Qwen3-VL: photos and notes in one collection.

The photos of examples/media go in by their URIs (Chroma's ImageLoader reads them), the notes as
documents; one Qwen3-VL embedding function puts both in one vector space, so a text query finds
photos and notes alike, and a photo finds its neighbours. Everything except the embedding function
is plain Chroma.

    python examples/chroma_multimodal_search.py                      # the real model from the hub
    python examples/chroma_multimodal_search.py --model tiny-random  # offline: random weights, meaningless ranks

Needs: pip install "qwen3vl-integrations[chroma]"
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import chromadb
from chromadb.utils.data_loaders import ImageLoader

from qwen3vl_integrations.chroma import Qwen3VLEmbeddingFunction

MEDIA = Path(__file__).resolve().parent / "media"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="model id, path or tiny-random")
    parser.add_argument("--media", type=Path, default=MEDIA, help="a folder of .jpg/.png photos and .txt/.md notes")
    parser.add_argument("--workdir", type=Path, default=None, help="where the database goes (default: a temp dir)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qwen3vl_chroma_"))
    photos = sorted(p for p in args.media.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    notes = sorted(p for p in args.media.iterdir() if p.suffix.lower() in (".txt", ".md"))

    client = chromadb.PersistentClient(str(workdir / "chroma"))
    collection = client.get_or_create_collection(
        "media", embedding_function=Qwen3VLEmbeddingFunction(args.model, device=args.device),
        data_loader=ImageLoader())
    collection.add(ids=[p.name for p in photos], uris=[str(p) for p in photos])
    collection.add(ids=[p.name for p in notes], documents=[p.read_text(encoding="utf-8") for p in notes])
    print(f"indexed {collection.count()} items ({len(photos)} photos, {len(notes)} notes) in {workdir / 'chroma'}")

    for query in ("a cat sitting on a blanket", "a cup of coffee"):
        hits = collection.query(query_texts=[query], n_results=3, include=["distances"])
        print(f"\n== text query: {query!r}")
        for rank, (item, distance) in enumerate(zip(hits["ids"][0], hits["distances"][0]), 1):
            print(f"  {rank}. {item}  distance={distance:.4f}")

    hits = collection.query(query_uris=[str(photos[0])], n_results=3, include=["distances"])
    print(f"\n== image query: {photos[0].name}")
    for rank, (item, distance) in enumerate(zip(hits["ids"][0], hits["distances"][0]), 1):
        print(f"  {rank}. {item}  distance={distance:.4f}")


if __name__ == "__main__":
    main()
