"""LanceDB embedding function backed by Qwen3-VL (extra ``lancedb``), registered as ``"qwen3vl"``.

::

    import lancedb
    from lancedb.embeddings import get_registry
    from lancedb.pydantic import LanceModel, Vector
    import qwen3vl_integrations.lancedb  # registers "qwen3vl"

    texts = get_registry().get("qwen3vl").create(name="Qwen/Qwen3-VL-Embedding-2B")
    images = get_registry().get("qwen3vl").create(name="Qwen/Qwen3-VL-Embedding-2B", source="image")

    class Item(LanceModel):
        caption: str = texts.SourceField()
        caption_vector: Vector(texts.ndims()) = texts.VectorField()
        image_uri: str = images.SourceField()
        image_vector: Vector(images.ndims()) = images.VectorField()

The function maps LanceDB's calls to the core (:mod:`qwen3vl_integrations`); media loading,
batching and prompts all happen there.
"""

from .. import optional_import

optional_import("lancedb")

from .embeddings import Qwen3VLEmbeddings  # noqa: E402

__all__ = ["Qwen3VLEmbeddings"]
