"""Regenerate examples/media/: freely licensed sample images, a short video, a PDF and text files.

The photographs come from scikit-image's bundled sample data (public domain / CC0, see
examples/media/LICENSE.md); everything else is generated here. Run from anywhere::

    python examples/make_media.py [OUTDIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent / "media"

PHOTOS = {  # file name -> (skimage.data function, longest side in pixels)
    "astronaut.jpg": ("astronaut", 448),
    "coffee.jpg": ("coffee", 480),
    "cat_chelsea.jpg": ("chelsea", 451),
    "rocket_launch.jpg": ("rocket", 480),
    "camera_man.jpg": ("camera", 384),
}

TEXTS = {
    "cats.md": "# Cats\n\nThe domestic cat is a small carnivorous mammal. Cats sleep twelve to sixteen hours a "
               "day, groom themselves with rough tongues and communicate with meows, purrs and body language.\n\n"
               "A tabby cat has a coat with stripes, dots or swirling patterns and an M-shaped mark on its "
               "forehead. Chelsea, the cat in cat_chelsea.jpg, is a tabby.\n",
    "coffee.txt": "Espresso is brewed by forcing hot water through finely ground coffee at high pressure. "
                  "A cappuccino adds steamed milk and foam; latte art is poured into the foam. A good cup "
                  "starts with fresh beans, a clean grinder and water just off the boil.\n",
    "space_notes.md": "# Space notes\n\nThe Space Shuttle flew 135 missions between 1981 and 2011. Eileen "
                      "Collins was the first woman to pilot and to command a Space Shuttle.\n\n"
                      "DSCOVR, the Deep Space Climate Observatory, was launched on a Falcon 9 rocket in "
                      "February 2015 and watches the sun from the L1 Lagrange point.\n",
}


def _fit(image: Image.Image, longest: int) -> Image.Image:
    scale = longest / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    return image


def write_photos(out: Path) -> None:
    import skimage.data

    for name, (function, longest) in PHOTOS.items():
        pixels = getattr(skimage.data, function)()
        image = _fit(Image.fromarray(pixels).convert("RGB"), longest)
        image.save(out / name, "JPEG", quality=82, optimize=True)


def write_chart(out: Path) -> None:
    """A small bar chart 'screenshot' (PNG), drawn here."""
    image = Image.new("RGB", (480, 320), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=18)
    draw.text((20, 12), "Cups of coffee per weekday", fill="black", font=font)
    for i, (day, cups) in enumerate(zip(["Mon", "Tue", "Wed", "Thu", "Fri"], [4, 3, 5, 2, 6])):
        x = 50 + i * 85
        draw.rectangle([x, 280 - cups * 35, x + 50, 280], fill=(110, 70, 40))
        draw.text((x + 8, 288), day, fill="black", font=ImageFont.load_default(size=14))
    image.save(out / "coffee_chart.png", optimize=True)


def write_video(out: Path, seconds: float = 3.0, fps: int = 8) -> None:
    """A red ball bouncing across a blue sky over green grass (H.264 MP4, 160x120)."""
    import av

    width, height, frames = 160, 120, int(seconds * fps)
    with av.open(str(out / "bouncing_ball.mp4"), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "30", "preset": "veryslow"} if stream.codec_context.name == "libx264" else {}
        for t in range(frames):
            image = Image.new("RGB", (width, height), (135, 190, 235))
            draw = ImageDraw.Draw(image)
            draw.rectangle([0, 90, width, height], fill=(60, 150, 60))
            x = 10 + (width - 40) * t / max(frames - 1, 1)
            y = 20 + 60 * abs(np.sin(np.pi * 2 * t / frames))
            draw.ellipse([x, y, x + 20, y + 20], fill=(220, 30, 30))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_pdf(out: Path) -> None:
    """A 3-page 'report' rendered to images and saved as PDF with PIL (no text layer)."""
    title = ImageFont.load_default(size=34)
    body = ImageFont.load_default(size=20)
    pages = []
    contents = [
        ("Field report: cats",
         ["Chelsea is a tabby cat.", "Tabby cats have striped coats", "and an M-shaped forehead mark."]),
        ("Field report: coffee", ["Espresso, cappuccino and latte.", "Fresh beans make better coffee."]),
        ("Field report: rockets", ["Falcon 9 launched DSCOVR in 2015.", "The rocket lifted off from Florida."]),
    ]
    for page_title, lines in contents:
        page = Image.new("RGB", (612, 792), "white")
        draw = ImageDraw.Draw(page)
        draw.text((50, 50), page_title, fill="black", font=title)
        for i, line in enumerate(lines):
            draw.text((50, 130 + 34 * i), line, fill=(30, 30, 30), font=body)
        draw.rectangle([50, 330, 562, 700], outline=(120, 120, 120), width=3)
        pages.append(page)
    cat = _fit(Image.open(out / "cat_chelsea.jpg"), 480)
    pages[0].paste(cat, (66, 345))
    fixed = time.gmtime(1735689600)  # 2025-01-01: byte-identical regeneration
    pages[0].save(out / "field_report.pdf", "PDF", save_all=True, append_images=pages[1:], resolution=72,
                  title="Field report", creationDate=fixed, modDate=fixed)


def write_texts(out: Path) -> None:
    for name, text in TEXTS.items():
        (out / name).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default=str(HERE))
    out = Path(parser.parse_args(argv).outdir)
    out.mkdir(parents=True, exist_ok=True)
    write_photos(out)
    write_chart(out)
    write_video(out)
    write_pdf(out)
    write_texts(out)
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {len(list(out.iterdir()))} files to {out} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
