"""Multimodal RAG retrieval with LangChain, Milvus Lite and Qwen3-VL.

Texts and images go into one Milvus collection (one vector space); the store is searched by text
and by image, and the candidates are reranked by Qwen3-VL-Reranker inside LangChain's
ContextualCompressionRetriever. Everything except the two Qwen3VL classes is plain LangChain.

    python examples/langchain_multimodal_rag.py                      # real models from the hub
    python examples/langchain_multimodal_rag.py --model /path/ckpt   # a local (e.g. tiny test) checkpoint
    python examples/langchain_multimodal_rag.py --model tiny-random  # offline, random weights (meaningless ranks)
    python examples/langchain_multimodal_rag.py --images my_photos/  # your own images

Needs: pip install "qwen3vl-integrations[langchain,milvus]"
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import warnings
from pathlib import Path

from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_milvus import Milvus
from PIL import Image, ImageDraw

from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker
from qwen3vl_integrations.langchain import Qwen3VLEmbeddings, Qwen3VLMediaRetriever, Qwen3VLRerank
from qwen3vl_integrations.testing import TINY_RANDOM

TEXTS = [
    "A red square on a white background.",
    "A blue circle in the middle of the picture.",
    "Green triangles point upwards.",
    "Quarterly revenue grew by four percent.",
]
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}


def write_sample_images(folder: Path) -> list[str]:
    """Draw a few simple pictures (so the example needs no download)."""
    folder.mkdir(parents=True, exist_ok=True)
    shapes = {
        "red_square.png": lambda d: d.rectangle((40, 40, 160, 160), fill="red"),
        "blue_circle.png": lambda d: d.ellipse((40, 40, 160, 160), fill="blue"),
        "green_triangle.png": lambda d: d.polygon([(100, 30), (170, 170), (30, 170)], fill="green"),
        "yellow_stripes.png": lambda d: [d.rectangle((0, y, 200, y + 15), fill="gold") for y in range(0, 200, 40)],
    }
    paths = []
    for name, draw in shapes.items():
        image = Image.new("RGB", (200, 200), "white")
        draw(ImageDraw.Draw(image))
        image.save(folder / name)
        paths.append(str(folder / name))
    return paths


def connect_store(embeddings: Qwen3VLEmbeddings, uri: str) -> Milvus:
    # enable_dynamic_field=True: langchain-milvus fixes its schema at the first insert, so without it
    # the images' metadata (image_path), added after texts without it, would be dropped silently
    store = Milvus(embedding_function=embeddings, connection_args={"uri": uri}, collection_name="multimodal_rag",
                   auto_id=True, index_params={"index_type": "FLAT", "metric_type": "COSINE"}, drop_old=True,
                   enable_dynamic_field=True)
    # langchain-milvus 0.3.3 with pymilvus >= 2.6.10 needs its ORM alias registered (langchain-milvus#130)
    from pymilvus import connections

    if not connections.has_connection(store.alias):
        connections.connect(alias=store.alias, uri=uri)
    return store


def show(title: str, documents) -> None:
    print(f"\n== {title}")
    for rank, doc in enumerate(documents, 1):
        kind = doc.metadata.get("kind")
        label = Path(doc.page_content).name if kind == "image" else doc.page_content
        score = doc.metadata.get("relevance_score")
        print(f"  {rank}. [{kind}] {label}" + (f"  relevance={score:.4f}" if score is not None else ""))


def is_test_checkpoint(model: str) -> bool:
    """tiny-random or a local directory: one tiny test checkpoint serves as embedder and reranker."""
    return model == TINY_RANDOM or Path(model).is_dir()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B",
                        help="embedding model id or path, or tiny-random (random weights, offline)")
    parser.add_argument("--reranker", default=None,
                        help="reranker id or path (default: Qwen/Qwen3-VL-Reranker-2B, or --model when it is "
                             "tiny-random or a local directory, as a tiny test checkpoint serves both)")
    parser.add_argument("--images", type=Path, default=None, help="a folder of images (default: drawn samples)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the database goes (default: a temp dir)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*ORM-style PyMilvus API")  # raised inside langchain-milvus
    reranker_id = args.reranker or (args.model if is_test_checkpoint(args.model) else "Qwen/Qwen3-VL-Reranker-2B")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qwen3vl_lc_"))

    if args.images:
        images = sorted(str(p) for p in args.images.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    else:
        images = write_sample_images(workdir / "images")

    # 1. the one-import swap: any LangChain vector store now gets Qwen3-VL vectors
    embeddings = Qwen3VLEmbeddings(embedder=Qwen3VLEmbedder.from_pretrained(args.model, device=args.device))
    store = connect_store(embeddings, str(workdir / "rag.db"))
    store.add_texts(TEXTS, metadatas=[{"kind": "text"} for _ in TEXTS])
    store.add_embeddings(images, embeddings.embed_image(uris=images),
                         metadatas=[{"kind": "image", "image_path": p} for p in images])

    # 2. search by text: texts and images come back from the same collection
    show("text query: 'a red square'", store.similarity_search("a red square", k=4))

    # 3. search by image: a copy of one picture finds its original first
    query_image = workdir / "query" / Path(images[0]).name
    query_image.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(images[0], query_image)
    by_image = Qwen3VLMediaRetriever(vectorstore=store, k=3, as_query=False).invoke(str(query_image))
    show(f"image query: {query_image.name}", by_image)
    print(f"  exact duplicate ranked first: {by_image[0].metadata['image_path'] == images[0]}")

    # 4. rerank with Qwen3-VL-Reranker (sees the images themselves, not only their vectors)
    compressor = Qwen3VLRerank(reranker=Qwen3VLReranker.from_pretrained(reranker_id, device=args.device), top_n=3)
    pipeline = ContextualCompressionRetriever(base_compressor=compressor,
                                              base_retriever=store.as_retriever(search_kwargs={"k": 6}))
    show("reranked for 'a red square' (top 3 of 6 candidates)", pipeline.invoke("a red square"))


if __name__ == "__main__":
    main()
