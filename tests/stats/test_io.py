"""diffprob.stats.io: every file layout becomes RGB uint8; bad files give ImageReadError."""

import cv2
import numpy as np
import pytest
from PIL import Image

from diffprob.errors import ImageReadError, ImageWriteError, ParameterError
from diffprob.stats.io import load_image, load_images, save_image, to_uint8

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def test_rgb_round_trip_is_rgb_not_bgr(tmp_path):
    path = tmp_path / "rgb.png"
    save_image(path, RGB)
    # Written in OpenCV's BGR order on disk, read back as RGB.
    assert np.array_equal(cv2.imread(str(path))[..., ::-1], RGB)
    loaded = load_image(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (5, 7, 3)
    assert np.array_equal(loaded, RGB)


def test_pil_agrees_on_channel_order(tmp_path):
    path = tmp_path / "pil.png"
    Image.fromarray(RGB).save(path)
    assert np.array_equal(load_image(path), RGB)


def test_grayscale_repeats_value(tmp_path):
    gray = RNG.integers(0, 256, (4, 6), dtype=np.uint8)
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), gray)
    loaded = load_image(path)
    assert loaded.shape == (4, 6, 3)
    for c in range(3):
        assert np.array_equal(loaded[..., c], gray)


def test_rgba_composited_over_white(tmp_path):
    rgba = np.zeros((1, 4, 4), np.uint8)
    rgba[0, :, :3] = [200, 100, 50]
    rgba[0, :, 3] = [0, 255, 128, 64]
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = load_image(path).astype(float)
    alpha = rgba[0, :, 3:4] / 255.0
    expected = np.rint(rgba[0, :, :3] * alpha + 255 * (1 - alpha))
    assert np.array_equal(loaded[0], expected)
    assert np.array_equal(loaded[0, 0], [255, 255, 255])  # fully transparent -> white
    assert np.array_equal(loaded[0, 1], [200, 100, 50])  # opaque -> unchanged


def test_16bit_scaled_with_rounding(tmp_path):
    values = np.array([[0, 257, 32768, 65535, 128, 129]], np.uint16)
    rgb16 = np.repeat(values[..., None], 3, axis=2)
    rgb16[..., 2] = 65535 - rgb16[..., 2]
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), rgb16[..., ::-1])  # BGR on disk
    loaded = load_image(path)
    expected = np.rint(rgb16.astype(float) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(loaded, expected)
    assert list(loaded[0, :, 0]) == [0, 1, 128, 255, 0, 1]


def test_16bit_gray_tiff(tmp_path):
    gray16 = np.array([[0, 65535], [257, 514]], np.uint16)
    path = tmp_path / "gray16.tif"
    cv2.imwrite(str(path), gray16)
    assert np.array_equal(load_image(path)[..., 1], [[0, 255], [1, 2]])


def test_palette_png(tmp_path):
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    path = tmp_path / "palette.png"
    image.save(path)
    assert Image.open(path).mode == "P"
    loaded = load_image(path)
    assert np.array_equal(loaded[0, 0], [255, 0, 0])
    assert np.array_equal(loaded[0, 1], [0, 255, 0])
    assert np.array_equal(loaded[1, 0], [0, 0, 255])


@pytest.mark.parametrize(
    "content, name",
    [(None, "missing.png"), (b"", "empty.png"), (b"not an image at all", "text.png")],
)
def test_bad_files_raise_naming_the_file(tmp_path, content, name):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=name):
        load_image(path)


def test_truncated_png_raises(tmp_path):
    good = tmp_path / "good.png"
    save_image(good, RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    bad = tmp_path / "truncated.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="truncated.png"):
        load_image(bad)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="directory"):
        load_image(tmp_path)


def test_image_read_error_is_oserror():
    with pytest.raises(OSError):
        load_image("definitely/not/here.png")


def test_load_images_folder_sorted_and_filtered(tmp_path):
    for i, name in enumerate(["b.png", "a.PNG", "c.jpg"]):
        save_image(tmp_path / name, np.full((2, 2, 3), 10 * (i + 1), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    images = load_images(tmp_path)
    assert [int(im[0, 0, 0]) for im in images] == [20, 10, 30]  # a.PNG, b.png, c.jpg (lossy ~)
    assert len(load_images([tmp_path / "b.png", tmp_path])) == 4


def test_load_images_empty_folder(tmp_path):
    with pytest.raises(ImageReadError, match="no image"):
        load_images(tmp_path)


def test_save_image_errors(tmp_path):
    with pytest.raises(ImageWriteError):
        save_image(tmp_path / "x.unknownext", RGB)
    with pytest.raises(ImageWriteError):
        save_image(tmp_path / "no_such_dir" / "x.png", RGB)
    with pytest.raises(ParameterError):
        save_image(tmp_path / "x.png", np.zeros((2, 2, 5), np.uint8))


def test_save_float_image_rounds(tmp_path):
    path = tmp_path / "float.png"
    save_image(path, np.full((2, 2, 3), 0.5))
    assert load_image(path)[0, 0, 0] == 128


def test_to_uint8():
    assert to_uint8(np.array([0.0, 1 / 255, 0.998, 2.0, -1.0])).tolist() == [0, 1, 254, 255, 0]
    with pytest.raises(ParameterError):
        to_uint8(np.array([np.nan]))
    with pytest.raises(ParameterError):
        to_uint8(np.array([1, 2], np.int32))


def test_alpha_ignore_masks_fully_transparent_pixels(tmp_path):
    rgba = np.zeros((1, 4, 4), np.uint8)
    rgba[0, :, :3] = [200, 100, 50]
    rgba[0, :, 3] = [0, 255, 128, 0]
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    masked = load_image(path, alpha="ignore")
    assert np.ma.isMaskedArray(masked)
    assert masked.mask[0, :, 0].tolist() == [True, False, False, True]
    assert masked.mask.all(axis=-1).tolist() == masked.mask.any(axis=-1).tolist()
    np.testing.assert_array_equal(masked.data, load_image(path))  # data: the composite


def test_alpha_ignore_without_alpha_masks_nothing(tmp_path):
    path = tmp_path / "rgb.png"
    Image.fromarray(np.full((3, 2, 3), 9, np.uint8), "RGB").save(path)
    masked = load_image(path, alpha="ignore")
    assert np.ma.isMaskedArray(masked) and not masked.mask.any()


def test_alpha_mode_is_checked(tmp_path):
    path = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8), "RGB").save(path)
    with pytest.raises(ParameterError, match="alpha"):
        load_image(path, alpha="drop")
