"""Multimodal RAG retrieval with LlamaIndex, Milvus Lite and Qwen3-VL.

A folder of images and text files is read by SimpleDirectoryReader and indexed by a
MultiModalVectorStoreIndex whose text store and image store are Milvus Lite collections; the
index is queried by text and by image, and the retrieved nodes are reranked by Qwen3-VL-Reranker.
Everything except the two Qwen3VL classes is plain LlamaIndex.

    python examples/llama_index_multimodal_rag.py                      # real models from the hub
    python examples/llama_index_multimodal_rag.py --model /path/ckpt   # a local (e.g. tiny test) checkpoint
    python examples/llama_index_multimodal_rag.py --model tiny-random  # offline, random weights (meaningless ranks)
    python examples/llama_index_multimodal_rag.py --data my_folder/    # your own images and texts

Needs: pip install "qwen3vl-integrations[llamaindex,milvus]"
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from llama_index.core import SimpleDirectoryReader, StorageContext
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import ImageDocument, ImageNode
from llama_index.vector_stores.milvus import MilvusVectorStore
from PIL import Image, ImageDraw

from qwen3vl_integrations.llama_index import Qwen3VLEmbedding, Qwen3VLRerank
from qwen3vl_integrations.testing import TINY_RANDOM

TEXTS = {
    "square.txt": "A red square on a white background.",
    "circle.txt": "A blue circle in the middle of the picture.",
    "revenue.txt": "Quarterly revenue grew by four percent.",
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def write_sample_folder(folder: Path) -> None:
    """A few drawn pictures and short texts (so the example needs no download)."""
    folder.mkdir(parents=True, exist_ok=True)
    shapes = {
        "red_square.png": lambda d: d.rectangle((40, 40, 160, 160), fill="red"),
        "blue_circle.png": lambda d: d.ellipse((40, 40, 160, 160), fill="blue"),
        "green_triangle.png": lambda d: d.polygon([(100, 30), (170, 170), (30, 170)], fill="green"),
    }
    for name, draw in shapes.items():
        image = Image.new("RGB", (200, 200), "white")
        draw(ImageDraw.Draw(image))
        image.save(folder / name)
    for name, text in TEXTS.items():
        (folder / name).write_text(text + "\n")


class ImagePathReader(BaseReader):
    """An ImageDocument naming the file: what llama-index-readers-file's ImageReader gives by default."""

    def load_data(self, file, extra_info=None, fs=None):
        return [ImageDocument(image_path=str(file), metadata=extra_info or {})]


def image_file_extractor() -> dict:
    try:  # installed with the `llama-index` meta package
        from llama_index.readers.file import ImageReader

        reader = ImageReader()
    except ImportError:  # llama-index-core alone
        reader = ImagePathReader()
    return {ext: reader for ext in IMAGE_EXTENSIONS}


def show(title: str, nodes) -> None:
    print(f"\n== {title}")
    for rank, item in enumerate(nodes, 1):
        node = item.node
        label = Path(node.metadata.get("file_path", "")).name if isinstance(node, ImageNode) else node.text.strip()
        kind = "image" if isinstance(node, ImageNode) else "text"
        print(f"  {rank}. [{kind}] {label}  score={item.score:.4f}")


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
    parser.add_argument("--data", type=Path, default=None, help="a folder of images and texts (default: samples)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the database goes (default: a temp dir)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    args = parser.parse_args(argv)
    reranker_id = args.reranker or (args.model if is_test_checkpoint(args.model) else "Qwen/Qwen3-VL-Reranker-2B")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qwen3vl_li_"))
    data = args.data
    if data is None:
        data = workdir / "data"
        write_sample_folder(data)

    # 1. the one-import swap: one Qwen3-VL model embeds texts and images into one space
    embed_model = Qwen3VLEmbedding(args.model, model_kwargs={"device": args.device})
    documents = SimpleDirectoryReader(str(data), file_extractor=image_file_extractor()).load_data()
    uri = str(workdir / "rag.db")
    storage = StorageContext.from_defaults(
        vector_store=MilvusVectorStore(uri=uri, dim=embed_model.embedder.dim, collection_name="texts",
                                       overwrite=True, similarity_metric="COSINE"),
        image_store=MilvusVectorStore(uri=uri, dim=embed_model.embedder.dim, collection_name="images",
                                      overwrite=True, similarity_metric="COSINE"))
    index = MultiModalVectorStoreIndex.from_documents(documents, storage_context=storage, embed_model=embed_model,
                                                      image_embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=3, image_similarity_top_k=3)

    # 2. text query: text nodes and image nodes
    query = "a red square"
    candidates = retriever.retrieve(query)
    show(f"text query: {query!r}", candidates)

    # 3. image query: a copy of one picture finds its original first
    original = sorted(p for p in data.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[0]
    query_image = workdir / "query" / original.name
    query_image.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(original, query_image)
    by_image = retriever.image_to_image_retrieve(str(query_image))
    show(f"image query: {query_image.name}", by_image)
    print(f"  exact duplicate ranked first: {by_image[0].node.metadata.get('file_path') == str(original)}")

    # 4. rerank the text-query candidates with Qwen3-VL-Reranker (it sees the images themselves)
    reranker = Qwen3VLRerank(reranker_id, top_n=3, model_kwargs={"device": args.device})
    reranked = reranker.postprocess_nodes(candidates, query_str=query)
    show(f"reranked for {query!r} (top 3 of {len(candidates)})", reranked)


if __name__ == "__main__":
    main()
