"""Image files -> model inputs, for inference on pictures that are not in a dataset.

The training images (`tf3d.data.pipeline`) are grayscale renders of one object
on white, square, inverted so that the background is 0. `load_image_file`
turns any picture Pillow reads into that form: transparency composited over
white, colour converted to gray, 16-bit and float images scaled to 8 bits, a
non-square picture padded with white to a square (centred), then
area-resized.
"""

import numpy as np

from tf3d.cli import UserError


def _read_bytes(path):
    import tensorflow as tf

    if not isinstance(path, str) or not path:
        raise ValueError(f"image path must be a non-empty string, got {path!r}")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"image {path} does not exist")
    if tf.io.gfile.isdir(path):
        raise UserError(f"{path} is a directory; give one image file")
    with tf.io.gfile.GFile(path, "rb") as fh:
        return fh.read()


def _to_gray(image):
    """A PIL image of any mode -> 8-bit gray PIL image over white."""
    from PIL import Image

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(np.round(values / scale * 255), 0, 255).astype(np.uint8), "L")
    image = image.convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image).convert("L")


def load_image_file(path, image_size):
    """Model input from an image file.

    Args:
      path: PNG, JPEG or any format Pillow reads (local, Drive or `gs://`).
      image_size: side h = w of the model's input.

    Returns:
      float32 `[1, h, w, 1]`, 0 = white background, 1 = black.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    data = _read_bytes(path)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            gray = _to_gray(image)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"{path} is not an image tf3d can read ({error})") from None
    if gray.size[0] != gray.size[1]:
        side = max(gray.size)
        canvas = Image.new("L", (side, side), 255)
        canvas.paste(gray, ((side - gray.size[0]) // 2, (side - gray.size[1]) // 2))
        gray = canvas
    gray = gray.resize((image_size, image_size), Image.BOX)
    return (1.0 - np.asarray(gray, dtype=np.float32) / 255.0)[None, :, :, None]
