"""Synthetic "photos" of MNIST digits: dark ink on light paper, any size, blurred, noisy, JPEG'd.

They stand in for the pictures users take of their own handwriting: the prediction
notebook's samples are made this way, and a test checks that the whole prediction
path reads them almost as well as the clean test images.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def photo_of_digit(digit: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (64, 512)) -> Image.Image:
    """A 28x28 MNIST digit (white on black, uint8) re-rendered as a greyscale JPEG photo of paper."""
    side = int(rng.integers(size[0], size[1] + 1))
    scale = rng.uniform(0.45, 0.8)  # the digit's share of the picture
    inner = max(28, int(side * scale))
    ink = np.asarray(Image.fromarray(digit).resize((inner, inner), Image.Resampling.BICUBIC), dtype=np.float64) / 255
    margin = side - inner
    top, left = (int(rng.integers(margin // 4, margin - margin // 4 + 1)) for _ in range(2))
    field = np.zeros((side, side))
    field[top: top + inner, left: left + inner] = ink
    return on_paper(field, rng)


def on_paper(field: np.ndarray, rng: np.random.Generator, side: int | None = None) -> Image.Image:
    """Ink coverage (H, W) in [0, 1] as a greyscale JPEG photo of paper: a paper and a pen grey, a blur of up to
    1.2 px per 256 px of `side` (default: the longer side), sensor noise and compression."""
    side = side or max(field.shape)
    paper, pen = rng.uniform(190, 245), rng.uniform(10, 70)
    picture = paper - field * (paper - pen)
    image = Image.fromarray(np.uint8(np.clip(picture, 0, 255)))
    image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.2) * side / 256))
    noisy = np.asarray(image, dtype=np.float64) + rng.normal(0, rng.uniform(2, 8), size=field.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.uint8(np.clip(noisy, 0, 255))).save(buffer, format="JPEG", quality=int(rng.integers(60, 91)))
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def drawn_digit(strokes: list[list[tuple[float, float]]], size: int = 160, width: int = 12,
                transparent: bool = False) -> Image.Image:
    """A digit drawn with pen strokes (points in 0-1 coordinates): dark ink on white, or on transparency."""
    from PIL import ImageDraw

    image = Image.new("RGBA" if transparent else "L", (size, size), (0, 0, 0, 0) if transparent else 255)
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        pen.line([(x * size, y * size) for x, y in stroke], fill=(20, 20, 60, 255) if transparent else 25,
                 width=width, joint="curve")
    return image


# Pen strokes for three hand-drawn samples: a 7, a 4 and an open 1.
STROKES = {
    7: [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)], [(0.38, 0.52), (0.62, 0.52)]],
    4: [[(0.6, 0.15), (0.22, 0.62), (0.8, 0.62)], [(0.6, 0.15), (0.6, 0.88)]],
    1: [[(0.38, 0.3), (0.55, 0.15), (0.55, 0.85)]],
}


def write_samples(directory, x_test: np.ndarray, y_test: np.ndarray, count: int = 6, seed: int = 7) -> list:
    """notebooks/samples/: `count` MNIST test digits as photos at several sizes, and three drawn digits."""
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for index in rng.choice(len(x_test), size=count, replace=False):
        path = directory / f"photo_{int(index):05d}_label{int(y_test[index])}.jpg"
        photo_of_digit(x_test[index], rng, size=(64, 200)).save(path, quality=85)
        written.append(path)
    for digit, strokes in STROKES.items():
        path = directory / f"drawn_{digit}{'_transparent' if digit == 4 else ''}.png"
        drawn_digit(strokes, transparent=digit == 4).save(path)
        written.append(path)
    return written
