#!/usr/bin/env python3
"""Makes the demo's sample photos (www/samples/) from scikit-image's `chelsea` (CC0), which
scripts/fetch-training-data.sh puts in data/heldout/. Run once; the outputs are committed.

- cat-noisy.png: a 256x192 crop with Gaussian noise of sigma 25 (0-255), seeded, rounded to
  8 bits: what the bundled denoiser was trained to undo.
- cat-small.png: the whole photo at half size (bicubic, antialiased): for the x2 upscaler.
- cat-tiny.png: the whole photo at a quarter size (the same way): for the x4 upscaler.
- cat-jpeg.jpg: the same crop as cat-noisy.png, clean, saved as a JPEG of quality 15 (Pillow,
  4:2:0): what the JPEG artefact remover was trained to undo (qualities 10-50).
"""
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "data/heldout/chelsea.png"
OUT = ROOT / "www/samples"


def main() -> None:
    photo = Image.open(SOURCE).convert("RGB")
    OUT.mkdir(exist_ok=True)
    crop = np.asarray(photo.crop((110, 60, 110 + 256, 60 + 192)), dtype=np.float64)
    noise = np.random.default_rng(0).normal(0.0, 25.0, crop.shape)
    noisy = np.clip(np.round(crop + noise), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(OUT / "cat-noisy.png", optimize=True)
    small = photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.BICUBIC, reducing_gap=None)
    small.save(OUT / "cat-small.png", optimize=True)
    tiny = photo.resize((photo.width // 4, photo.height // 4), Image.Resampling.BICUBIC, reducing_gap=None)
    tiny.save(OUT / "cat-tiny.png", optimize=True)
    Image.fromarray(crop.astype(np.uint8)).save(OUT / "cat-jpeg.jpg", quality=15)
    for name in ("cat-noisy.png", "cat-small.png", "cat-tiny.png", "cat-jpeg.jpg"):
        path = OUT / name
        print(f"{path.relative_to(ROOT)}: {Image.open(path).size}, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
