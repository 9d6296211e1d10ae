"""Multimodal search with LanceDB and Qwen3-VL: one table, a caption column and an image column.

Two "qwen3vl" functions from LanceDB's embedding registry (one per source column, one model loaded)
embed the captions and the photos of examples/media; the photo vectors are then searched by text and
by image. Everything except the registry name is plain LanceDB.

    python examples/lancedb_multimodal_search.py                      # the real model from the hub
    python examples/lancedb_multimodal_search.py --model tiny-random  # offline: random weights, meaningless ranks

Needs: pip install "qwen3vl-integrations[lancedb]"
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import lancedb
from lancedb.embeddings import get_registry
from lancedb.pydantic import LanceModel, Vector
from PIL import Image

import qwen3vl_integrations.lancedb  # noqa: F401  (registers "qwen3vl")

MEDIA = Path(__file__).resolve().parent / "media"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen3-VL-Embedding-2B", help="model id, path or tiny-random")
    parser.add_argument("--media", type=Path, default=MEDIA, help="a folder of .jpg/.png photos")
    parser.add_argument("--workdir", type=Path, default=None, help="where the database goes (default: a temp dir)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qwen3vl_lancedb_"))
    photos = sorted(p for p in args.media.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))

    registry = get_registry().get("qwen3vl")
    captions = registry.create(name=args.model, device=args.device)
    images = registry.create(name=args.model, device=args.device, source="image")

    class Photo(LanceModel):
        caption: str = captions.SourceField()
        caption_vector: Vector(captions.ndims()) = captions.VectorField()  # type: ignore[valid-type]
        image_uri: str = images.SourceField()
        image_vector: Vector(images.ndims()) = images.VectorField()  # type: ignore[valid-type]

    table = lancedb.connect(str(workdir / "lancedb")).create_table("photos", schema=Photo, mode="overwrite")
    table.add([{"caption": p.stem.replace("_", " "), "image_uri": str(p)} for p in photos])
    print(f"indexed {table.count_rows()} photos in {workdir / 'lancedb'}")

    query = "a cat sitting on a blanket"
    print(f"\n== text query on the image column: {query!r}")
    for rank, row in enumerate(table.search(query, vector_column_name="image_vector").limit(3).to_list(), 1):
        print(f"  {rank}. {Path(row['image_uri']).name}  distance={row['_distance']:.4f}")
    print(f"\n== image query: {photos[0].name}")
    hits = table.search(Image.open(photos[0]), vector_column_name="image_vector").limit(3).to_list()
    for rank, row in enumerate(hits, 1):
        print(f"  {rank}. {Path(row['image_uri']).name}  distance={row['_distance']:.4f}")


if __name__ == "__main__":
    main()
