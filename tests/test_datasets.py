"""Tests for refnet.datasets: digits split, IDX parsing, MNIST loading, cache and download.

Every MNIST test writes its own small IDX files (50 train / 20 test images) and, for the
download tests, serves them from a local HTTP server; nothing touches the network or the
real cache directory.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import logging
import math
import os
import socket
import stat
import struct
import sys
import tempfile
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refnet.datasets import (
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SHA256,
    DownloadError,
    default_mnist_root,
    digits,
    load_digits,
    load_mnist,
    mnist,
    read_idx,
    stratified_split,
)

N_DIGITS = 1797
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Point every default location at tmp_path so no test can touch the real home cache."""
    monkeypatch.setenv("REFNET_DATA", str(tmp_path / "default-root"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# --------------------------------------------------------------------------- helpers

# Written independently of the module under test: the encoder the parser is checked against.
_IDX_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    code = _IDX_CODES[array.dtype.kind + str(array.dtype.itemsize)]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_file(path: Path, payload: bytes) -> str:
    """Write `payload` (gzipped if the name ends in .gz) and return the file's SHA-256."""
    data = gzip.compress(payload, mtime=0) if path.name.endswith(".gz") else payload
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def mnist_arrays(seed: int = 0, n_train: int = 50, n_test: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        TRAIN_IMAGES: rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, size=n_train, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }


def write_mnist(
    root: Path, arrays: dict[str, np.ndarray], gz: bool | dict[str, bool] = True
) -> dict[str, str]:
    """Write the four IDX files into `root`; return their checksum table."""
    root.mkdir(parents=True, exist_ok=True)
    table = {}
    for stem, array in arrays.items():
        use_gz = gz[stem] if isinstance(gz, dict) else gz
        name = f"{stem}.gz" if use_gz else stem
        table[name] = write_file(root / name, idx_bytes(array))
    return table


@dataclass
class MnistDir:
    root: Path
    arrays: dict[str, np.ndarray]
    checksums: dict[str, str]


@pytest.fixture
def mnist_dir(tmp_path) -> MnistDir:
    arrays = mnist_arrays()
    root = tmp_path / "mnist"
    return MnistDir(root, arrays, write_mnist(root, arrays))


def assert_fresh(*arrays: np.ndarray) -> None:
    for array in arrays:
        assert array.flags.c_contiguous
        assert array.flags.writeable
        assert array.flags.owndata or array.base is not None and array.base.flags.owndata


# --------------------------------------------------------------------------- load_digits


def test_digits_default_shapes_dtypes_and_range():
    (x_train, t_train), (x_test, t_test) = load_digits()
    assert x_train.shape[0] + x_test.shape[0] == N_DIGITS
    assert x_train.shape[1:] == x_test.shape[1:] == (64,)
    assert t_train.shape == (x_train.shape[0],) and t_test.shape == (x_test.shape[0],)
    assert x_train.dtype == x_test.dtype == np.float64
    assert t_train.dtype == t_test.dtype == np.int64
    both = np.concatenate([x_train, x_test])
    assert both.min() == 0.0 and both.max() == 1.0
    assert set(np.unique(np.concatenate([t_train, t_test]))) == set(range(10))
    assert_fresh(x_train, t_train, x_test, t_test)


def test_digits_unnormalized_keeps_integer_pixels():
    (x_train, _), (x_test, _) = load_digits(normalize=False)
    (x_train_n, _), (x_test_n, _) = load_digits(normalize=True)
    for raw, scaled in ((x_train, x_train_n), (x_test, x_test_n)):
        assert raw.dtype == np.float64
        assert raw.min() == 0.0 and raw.max() == 16.0
        np.testing.assert_array_equal(raw, np.round(raw))
        np.testing.assert_array_equal(raw / 16.0, scaled)


def test_digits_split_is_a_partition_of_the_bundled_data():
    from sklearn.datasets import load_digits as sklearn_load_digits

    images, labels = sklearn_load_digits(return_X_y=True)
    (x_train, t_train), (x_test, t_test) = load_digits(normalize=False)
    ours = np.column_stack([np.concatenate([x_train, x_test]), np.concatenate([t_train, t_test])])
    theirs = np.column_stack([images, labels])
    # Compare as multisets of rows: sort both row-wise.
    np.testing.assert_array_equal(
        ours[np.lexsort(ours.T[::-1])], theirs[np.lexsort(theirs.T[::-1])]
    )


def test_digits_split_keeps_original_order():
    from sklearn.datasets import load_digits as sklearn_load_digits

    images, labels = sklearn_load_digits(return_X_y=True)
    train_idx, test_idx = stratified_split(labels, test_size=0.25, rng=0)
    (x_train, t_train), (x_test, t_test) = load_digits(normalize=False)
    np.testing.assert_array_equal(x_train, images[train_idx])
    np.testing.assert_array_equal(x_test, images[test_idx])
    np.testing.assert_array_equal(t_train, labels[train_idx])
    np.testing.assert_array_equal(t_test, labels[test_idx])


@pytest.mark.parametrize("test_size", [0.1, 0.25, 0.5, 0.8])
def test_digits_split_is_stratified(test_size):
    (_, t_train), (_, t_test) = load_digits(test_size=test_size)
    train_counts = np.bincount(t_train, minlength=10)
    test_counts = np.bincount(t_test, minlength=10)
    per_class = train_counts + test_counts
    assert np.all(np.abs(test_counts - test_size * per_class) <= 1)
    assert np.all(test_counts >= 1) and np.all(train_counts >= 1)


def test_digits_same_seed_same_split_other_seed_other_split():
    (x_a, t_a), (xt_a, tt_a) = load_digits(rng=3)
    (x_b, t_b), (xt_b, tt_b) = load_digits(rng=3)
    for first, second in ((x_a, x_b), (t_a, t_b), (xt_a, xt_b), (tt_a, tt_b)):
        np.testing.assert_array_equal(first, second)
    (x_c, _), _ = load_digits(rng=4)
    assert x_c.shape == x_a.shape  # same class counts, different members
    assert not np.array_equal(x_c, x_a)


def test_digits_generator_seed_matches_int_seed():
    (x_int, _), _ = load_digits(rng=7)
    (x_gen, _), _ = load_digits(rng=np.random.default_rng(7))
    (x_np_int, _), _ = load_digits(rng=np.int64(7))
    np.testing.assert_array_equal(x_int, x_gen)
    np.testing.assert_array_equal(x_int, x_np_int)


def test_digits_one_hot_rows_agree_with_labels():
    (_, t_train), (_, t_test) = load_digits()
    (_, h_train), (_, h_test) = load_digits(one_hot_label=True)
    for labels, hot in ((t_train, h_train), (t_test, h_test)):
        assert hot.shape == (labels.shape[0], 10) and hot.dtype == np.float64
        assert set(np.unique(hot)) == {0.0, 1.0}
        np.testing.assert_array_equal(hot.sum(axis=1), 1.0)
        np.testing.assert_array_equal(hot.argmax(axis=1), labels)
        assert_fresh(hot)


def test_digits_unflattened_is_the_book_channel_layout():
    (x_flat, _), (xt_flat, _) = load_digits()
    (x_img, _), (xt_img, _) = load_digits(flatten=False)
    assert x_img.shape == (x_flat.shape[0], 1, 8, 8)
    assert xt_img.shape == (xt_flat.shape[0], 1, 8, 8)
    np.testing.assert_array_equal(x_img.reshape(-1, 64), x_flat)
    assert_fresh(x_img, xt_img)


def test_digits_returns_fresh_arrays_each_call():
    (x_first, t_first), _ = load_digits()
    x_first[:] = -1.0
    t_first[:] = -1
    (x_again, t_again), _ = load_digits()
    assert x_again.min() == 0.0 and t_again.min() == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"test_size": 1.5}, ValueError, r"test_size must be in \(0, 1\), got 1\.5"),
        ({"test_size": 0}, ValueError, r"test_size must be in \(0, 1\), got 0"),
        ({"test_size": 1.0}, ValueError, r"test_size must be in \(0, 1\)"),
        ({"test_size": -0.2}, ValueError, r"test_size must be in \(0, 1\)"),
        ({"test_size": math.nan}, ValueError, r"test_size must be in \(0, 1\), got nan"),
        ({"test_size": "0.25"}, TypeError, r"test_size must be a float"),
        ({"test_size": True}, TypeError, r"test_size must be a float"),
        ({"test_size": 0.001}, ValueError, r"test_size=0\.001 leaves no test example of class"),
        ({"test_size": 0.999}, ValueError, r"test_size=0\.999 leaves no training example"),
        ({"rng": -1}, ValueError, r"rng seed must be >= 0, got -1"),
        ({"rng": 1.5}, TypeError, r"rng must be a numpy\.random\.Generator, an integer seed"),
        ({"rng": "0"}, TypeError, r"rng must be a numpy\.random\.Generator, an integer seed"),
        ({"rng": True}, TypeError, r"rng must be a numpy\.random\.Generator"),
        ({"normalize": 1}, TypeError, r"normalize must be True or False, got 1"),
        ({"flatten": None}, TypeError, r"flatten must be True or False"),
        ({"one_hot_label": "yes"}, TypeError, r"one_hot_label must be True or False"),
    ],
)
def test_digits_argument_errors_name_the_argument(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_digits(**kwargs)


@pytest.fixture
def no_sklearn(monkeypatch):
    digits.digits_arrays.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    yield
    digits.digits_arrays.cache_clear()


@pytest.mark.usefixtures("no_sklearn")
def test_digits_without_sklearn_names_the_extra():
    with pytest.raises(
        ImportError, match=r"pip install -e '\.\[train\]' in refnet's source folder"
    ):
        load_digits()


# --------------------------------------------------------------------------- stratified_split


@settings(max_examples=60, deadline=None, database=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=60),
    test_size=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32),
)
def test_stratified_split_properties(labels, test_size, seed):
    y = np.array(labels)
    classes, counts = np.unique(y, return_counts=True)
    n_test = np.floor(test_size * counts + 0.5).astype(int)
    if np.any(n_test < 1) or np.any(n_test > counts - 1):
        with pytest.raises(ValueError, match="test_size=.* leaves no"):
            stratified_split(y, test_size=test_size, rng=seed)
        return
    train_idx, test_idx = stratified_split(y, test_size=test_size, rng=seed)
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(test_idx) > 0)
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(y.size))
    for cls, k in zip(classes, n_test, strict=True):
        assert np.count_nonzero(y[test_idx] == cls) == k
    again = stratified_split(y, test_size=test_size, rng=seed)
    np.testing.assert_array_equal(again[1], test_idx)


def test_stratified_split_accepts_string_labels():
    train_idx, test_idx = stratified_split(["a", "b"] * 5, test_size=0.4, rng=1)
    assert len(test_idx) == 4 and len(train_idx) == 6


@pytest.mark.parametrize("labels", [[], [[0, 1], [1, 0]]])
def test_stratified_split_rejects_bad_labels(labels):
    with pytest.raises(ValueError, match="labels must be a non-empty 1-D array"):
        stratified_split(labels)


# --------------------------------------------------------------------------- read_idx

_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=40, deadline=None, database=None)
@given(
    array=st.sampled_from(_DTYPES).flatmap(
        lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    ),
    gz=st.booleans(),
)
def test_read_idx_round_trips_every_type(array, gz):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("data-idx.gz" if gz else "data-idx")
        write_file(path, idx_bytes(array))
        out = read_idx(path)
    assert out.shape == array.shape
    assert out.dtype == array.dtype and out.dtype.isnative
    assert out.tobytes() == array.tobytes()  # bitwise, so NaN payloads count too
    assert_fresh(out)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_read_idx_reads_mnist_shaped_files_exactly(tmp_path, name):
    images = np.random.default_rng(1).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    write_file(tmp_path / name, idx_bytes(images))
    out = read_idx(str(tmp_path / name))
    assert out.dtype == np.uint8 and out.shape == (50, 28, 28)
    np.testing.assert_array_equal(out, images)
    # The header really is the MNIST one: magic 0x00000803, then 50, 28, 28.
    assert idx_bytes(images)[:16] == bytes.fromhex("00000803000000320000001c0000001c")


def test_read_idx_gzip_detected_by_content_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(path), labels)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_read_idx_truncated_file(tmp_path, gz):
    images = np.zeros((50, 28, 28), dtype=np.uint8)
    path = tmp_path / ("images.gz" if gz else "images")
    write_file(path, idx_bytes(images)[:-100])
    with pytest.raises(ValueError, match="truncated") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "shape (50, 28, 28) of uint8" in message
    assert "39200 bytes after the 16-byte header" in message and "found 39100" in message


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_read_idx_over_long_file(tmp_path, gz):
    path = tmp_path / ("labels.gz" if gz else "labels")
    write_file(path, idx_bytes(np.arange(20, dtype=np.uint8)) + b"\x00" * 7)
    with pytest.raises(ValueError, match="7 trailing bytes") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "found 27" in str(info.value)


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        (b"\x01\x02\x08\x01" + b"\x00" * 8, r"not an IDX file: magic number 0x01020801"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", r"unknown IDX data type code 0x07"),
        (b"\x00\x00\x08\x00", r"declares 0 dimensions"),
        (b"\x00\x00", r"truncated IDX header: expected a 4-byte magic number, found 2"),
        (b"", r"truncated IDX header: expected a 4-byte magic number, found 0"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", r"3 dimensions need 12 bytes .* found 4"),
    ],
    ids=["wrong-magic", "unknown-type", "no-dims", "short-magic", "empty", "short-sizes"],
)
def test_read_idx_bad_header(tmp_path, payload, pattern):
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=pattern) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_corrupt_gzip_crc(tmp_path):
    path = tmp_path / "images.gz"
    data = bytearray(gzip.compress(idx_bytes(np.ones((5, 28, 28), np.uint8)), mtime=0))
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt gzip file: CRC check failed") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_cut_gzip_stream(tmp_path):
    path = tmp_path / "images.gz"
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), np.uint8)
    data = gzip.compress(idx_bytes(images))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_gz_name_without_gzip_data(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(b"<html>404</html>")
    with pytest.raises(ValueError, match=r"corrupt gzip file: .*\(found 3c68\)") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_gzip_header_promising_too_much(tmp_path):
    # A tiny gzip cannot hold 47 MB: refuse before allocating the array.
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">3I", 60000, 28, 28)))
    with pytest.raises(ValueError, match="more than this gzip file can hold"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------- load_mnist from files


def test_mnist_loads_book_layout(mnist_dir):
    (x_train, t_train), (x_test, t_test) = load_mnist(mnist_dir.root, checksums=None)
    assert x_train.shape == (50, 784) and x_test.shape == (20, 784)
    assert x_train.dtype == np.float64 and t_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_array_equal(x_train, mnist_dir.arrays[TRAIN_IMAGES].reshape(50, 784) / 255.0)
    np.testing.assert_array_equal(x_test, mnist_dir.arrays[TEST_IMAGES].reshape(20, 784) / 255.0)
    np.testing.assert_array_equal(t_train, mnist_dir.arrays[TRAIN_LABELS])
    np.testing.assert_array_equal(t_test, mnist_dir.arrays[TEST_LABELS])
    assert_fresh(x_train, t_train, x_test, t_test)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot_label", [True, False])
def test_mnist_options(mnist_dir, normalize, flatten, one_hot_label):
    (x_train, t_train), (x_test, t_test) = load_mnist(
        mnist_dir.root,
        normalize=normalize,
        flatten=flatten,
        one_hot_label=one_hot_label,
        checksums=mnist_dir.checksums,
    )
    raw = mnist_dir.arrays[TRAIN_IMAGES]
    assert x_train.shape == ((50, 784) if flatten else (50, 1, 28, 28))
    assert x_test.shape == ((20, 784) if flatten else (20, 1, 28, 28))
    if normalize:
        assert x_train.dtype == np.float64
        np.testing.assert_array_equal(np.rint(x_train * 255).reshape(raw.shape), raw)
    else:
        assert x_train.dtype == np.uint8  # the book keeps uint8 when not normalizing
        np.testing.assert_array_equal(x_train.reshape(raw.shape), raw)
    if one_hot_label:
        assert t_train.shape == (50, 10) and t_train.dtype == np.float64
        np.testing.assert_array_equal(t_train.argmax(axis=1), mnist_dir.arrays[TRAIN_LABELS])
        np.testing.assert_array_equal(t_test.sum(axis=1), 1.0)
    else:
        assert t_train.shape == (50,) and t_train.dtype == np.int64
    assert_fresh(x_train, t_train, x_test, t_test)


@pytest.mark.parametrize(
    "gz",
    [False, {TRAIN_IMAGES: True, TRAIN_LABELS: False, TEST_IMAGES: False, TEST_LABELS: True}],
    ids=["plain", "mixed"],
)
def test_mnist_plain_and_mixed_files(tmp_path, gz):
    arrays = mnist_arrays(seed=5)
    table = write_mnist(tmp_path, arrays, gz=gz)
    (x_train, t_train), (x_test, t_test) = load_mnist(tmp_path, normalize=False, checksums=table)
    np.testing.assert_array_equal(x_train.reshape(50, 28, 28), arrays[TRAIN_IMAGES])
    np.testing.assert_array_equal(t_test, arrays[TEST_LABELS])


def test_mnist_default_root_is_refnet_data(mnist_dir, monkeypatch):
    monkeypatch.setenv("REFNET_DATA", str(mnist_dir.root))
    (x_train, _), _ = load_mnist(checksums=mnist_dir.checksums)
    assert x_train.shape == (50, 784)


def test_mnist_count_mismatch_names_both_files(tmp_path):
    arrays = mnist_arrays()
    arrays[TRAIN_LABELS] = arrays[TRAIN_LABELS][:49]
    table = write_mnist(tmp_path, arrays)
    with pytest.raises(ValueError, match="count mismatch") as info:
        load_mnist(tmp_path, checksums=table)
    message = str(info.value)
    assert f"{TRAIN_IMAGES}.gz holds 50 images" in message
    assert f"{TRAIN_LABELS}.gz holds 49 labels" in message


@pytest.mark.parametrize(
    ("stem", "array", "pattern"),
    [
        (TRAIN_IMAGES, np.zeros((50, 27, 28), np.uint8), r"uint8 images of shape \(N, 28, 28\)"),
        (TEST_IMAGES, np.zeros((20, 784), np.uint8), r"uint8 images of shape \(N, 28, 28\)"),
        (TEST_IMAGES, np.zeros((20, 28, 28), np.int16), r"found int16 array"),
        (TRAIN_LABELS, np.zeros((50, 1), np.uint8), r"uint8 labels of shape \(N,\)"),
        (TEST_LABELS, np.full(20, 10, np.uint8), r"labels must be digits 0\.\.9, found 10"),
    ],
    ids=["27x28", "flat-images", "int16-images", "2d-labels", "label-10"],
)
def test_mnist_wrong_contents(tmp_path, stem, array, pattern):
    arrays = mnist_arrays()
    arrays[stem] = array
    table = write_mnist(tmp_path, arrays)
    with pytest.raises(ValueError, match=pattern) as info:
        load_mnist(tmp_path, checksums=table)
    assert f"{stem}.gz" in str(info.value)


def test_mnist_corrupt_gzip_names_the_file(mnist_dir):
    path = mnist_dir.root / f"{TEST_IMAGES}.gz"
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt gzip file") as info:
        load_mnist(mnist_dir.root, checksums=None)
    assert str(path) in str(info.value)


def test_mnist_checksum_mismatch(mnist_dir):
    table = dict(mnist_dir.checksums)
    name = f"{TRAIN_LABELS}.gz"
    wrong = "0" * 64
    table[name] = wrong
    with pytest.raises(ValueError, match="SHA-256 mismatch") as info:
        load_mnist(mnist_dir.root, checksums=table)
    message = str(info.value)
    assert str(mnist_dir.root / name) in message
    assert f"expected {wrong}" in message
    assert f"got {mnist_dir.checksums[name]}" in message


def test_mnist_published_checksums_are_the_default(mnist_dir):
    # Our tiny files are not the published ones, so the default table must reject them.
    with pytest.raises(ValueError, match=f"expected {MNIST_SHA256[f'{TRAIN_IMAGES}.gz']}"):
        load_mnist(mnist_dir.root)


def test_mnist_checksum_table_must_cover_every_file(mnist_dir):
    table = dict(mnist_dir.checksums)
    del table[f"{TEST_LABELS}.gz"]
    with pytest.raises(ValueError, match=f"no SHA-256 for {TEST_LABELS}.gz.*checksums=None"):
        load_mnist(mnist_dir.root, checksums=table)


def test_mnist_published_table_enforces_published_counts(mnist_dir, monkeypatch):
    # Pretend our files are the published ones: then 50 is not 60,000.
    fake = types.MappingProxyType(dict(mnist_dir.checksums))
    monkeypatch.setattr(mnist, "MNIST_SHA256", fake)
    with pytest.raises(ValueError, match="published MNIST train set has 60000 examples, found 50"):
        load_mnist(mnist_dir.root, checksums=fake)


def test_published_table_is_complete_and_read_only():
    assert set(MNIST_SHA256) == {f"{s}.gz" for s in MNIST_FILES} | set(MNIST_FILES)
    for digest in MNIST_SHA256.values():
        assert len(digest) == 64 and int(digest, 16) >= 0
    with pytest.raises(TypeError):
        MNIST_SHA256["x"] = "0" * 64  # type: ignore[index]


def test_mnist_missing_files_explains_how_to_get_them(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(root)
    message = str(info.value)
    for stem in MNIST_FILES:
        assert stem in message
    assert str(root) in message and "download=True" in message and "copy" in message


def test_mnist_reports_only_the_missing_files(mnist_dir):
    (mnist_dir.root / f"{TEST_LABELS}.gz").unlink()
    with pytest.raises(FileNotFoundError, match=TEST_LABELS) as info:
        load_mnist(mnist_dir.root, checksums=None)
    assert TRAIN_IMAGES not in str(info.value)


def test_mnist_missing_root_is_not_created(tmp_path):
    root = tmp_path / "does" / "not" / "exist"
    with pytest.raises(FileNotFoundError, match="not found in"):
        load_mnist(root)
    assert not root.exists()


# --------------------------------------------------------------------------- npz cache


def test_mnist_second_load_comes_from_the_npz_cache(mnist_dir, monkeypatch):
    first = load_mnist(mnist_dir.root, checksums=mnist_dir.checksums)
    assert (mnist_dir.root / "mnist.npz").is_file()

    def fail(path):
        raise AssertionError(f"parsed {path} although the cache is valid")

    monkeypatch.setattr(mnist, "read_idx", fail)
    second = load_mnist(mnist_dir.root, checksums=mnist_dir.checksums)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert_fresh(*second[0], *second[1])
    assert not list(mnist_dir.root.glob("*.part"))


def test_mnist_cache_is_rebuilt_when_sources_change(mnist_dir):
    load_mnist(mnist_dir.root, checksums=mnist_dir.checksums)
    new = mnist_arrays(seed=9)
    table = write_mnist(mnist_dir.root, new)
    (x_train, t_train), _ = load_mnist(mnist_dir.root, normalize=False, checksums=table)
    np.testing.assert_array_equal(x_train.reshape(50, 28, 28), new[TRAIN_IMAGES])
    np.testing.assert_array_equal(t_train, new[TRAIN_LABELS])


def test_mnist_unreadable_cache_is_ignored_and_rebuilt(mnist_dir, caplog):
    cache = mnist_dir.root / "mnist.npz"
    cache.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING, logger="refnet.datasets"):
        (x_train, _), _ = load_mnist(mnist_dir.root, normalize=False, checksums=None)
    assert "ignoring unreadable MNIST cache" in caplog.text
    np.testing.assert_array_equal(x_train.reshape(50, 28, 28), mnist_dir.arrays[TRAIN_IMAGES])
    with np.load(cache, allow_pickle=False) as rebuilt:
        np.testing.assert_array_equal(rebuilt["test_labels"], mnist_dir.arrays[TEST_LABELS])


def test_mnist_cache_write_failure_is_not_fatal(mnist_dir, monkeypatch, caplog):
    def read_only(path, write):
        raise PermissionError(f"read-only directory: {path.parent}")

    monkeypatch.setattr(mnist, "write_atomically", read_only)
    with caplog.at_level(logging.WARNING, logger="refnet.datasets"):
        (x_train, _), _ = load_mnist(mnist_dir.root, checksums=None)
    assert x_train.shape == (50, 784)
    assert "not caching MNIST arrays" in caplog.text
    assert not (mnist_dir.root / "mnist.npz").exists()


# --------------------------------------------------------------------------- default root


def test_default_root_prefers_refnet_data(tmp_path, monkeypatch):
    monkeypatch.setenv("REFNET_DATA", str(tmp_path / "data"))
    assert default_mnist_root() == tmp_path / "data"


def test_default_root_uses_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("REFNET_DATA")
    assert default_mnist_root() == tmp_path / "xdg" / "refnet" / "mnist"


def test_default_root_falls_back_to_home_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("REFNET_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_mnist_root() == tmp_path / "home" / ".cache" / "refnet" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec
    assert default_mnist_root() == tmp_path / "home" / ".cache" / "refnet" / "mnist"


def test_default_root_on_windows():
    env = {"LOCALAPPDATA": "C:/Users/me/AppData/Local", "XDG_CACHE_HOME": "/ignored"}
    assert mnist.default_root_for(env, "nt") == Path("C:/Users/me/AppData/Local/refnet/mnist")


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"mirrors": "http://example.com/"}, TypeError, "mirrors must be a list of URL strings"),
        ({"mirrors": ["ftp://example.com/"]}, ValueError, r"mirrors\[0\] must be an http"),
        ({"mirrors": ["http://ok/", 3]}, ValueError, r"mirrors\[1\] must be an http"),
        ({"mirrors": []}, ValueError, "mirrors must name at least one URL"),
        ({"checksums": ["abc"]}, TypeError, "checksums must be a mapping"),
        ({"checksums": {"f.gz": "abc"}}, ValueError, r"checksums\['f.gz'\] must be a 64-char"),
        ({"checksums": {"f.gz": "g" * 64}}, ValueError, r"checksums\['f.gz'\] must be a 64-char"),
        ({"timeout": 0}, ValueError, "timeout must be > 0, got 0"),
        ({"timeout": math.inf}, ValueError, "timeout must be finite, got inf"),
        ({"timeout": "5"}, TypeError, "timeout must be a real number"),
        ({"download": "yes"}, TypeError, "download must be True or False"),
        ({"normalize": 0}, TypeError, "normalize must be True or False"),
    ],
)
def test_mnist_argument_errors_name_the_argument(tmp_path, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_mnist(tmp_path, **kwargs)


def test_default_mirrors_are_the_documented_ones():
    assert MNIST_MIRRORS == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )


# --------------------------------------------------------------------------- download


@dataclass
class Site:
    root: Path
    url: str
    requests: list[str]
    arrays: dict[str, np.ndarray]
    checksums: dict[str, str]


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens here any more


@pytest.fixture
def site(tmp_path):
    """A local HTTP server with mirrors good/ (real files), bad/ (other valid gzip files),
    html/ (error pages with status 200), empty/ (404 for everything) and short/ (connection
    dropped mid-file)."""
    root = tmp_path / "site"
    arrays = mnist_arrays(seed=11)
    checksums = write_mnist(root / "good", arrays)
    write_mnist(root / "bad", mnist_arrays(seed=12))
    (root / "html").mkdir()
    for name in checksums:
        (root / "html" / name).write_text("<html>mirror moved</html>")
    (root / "empty").mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if self.path.startswith("/short/"):  # promises 1000 bytes, sends 10, hangs up
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + b"\x00" * 8)
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, format, *args):  # keep the test output quiet
            pass

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval makes shutdown() at teardown quick.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield Site(
            root, f"http://127.0.0.1:{server.server_address[1]}/", requests, arrays, checksums
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def assert_is_site_data(result, arrays):
    (x_train, t_train), (x_test, t_test) = result
    np.testing.assert_array_equal(x_train.reshape(-1, 28, 28), arrays[TRAIN_IMAGES])
    np.testing.assert_array_equal(t_train, arrays[TRAIN_LABELS])
    np.testing.assert_array_equal(x_test.reshape(-1, 28, 28), arrays[TEST_IMAGES])
    np.testing.assert_array_equal(t_test, arrays[TEST_LABELS])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_downloads_and_cache_get_the_mode_open_would_give_them(site, tmp_path):
    """They were written 0o600 (tempfile.mkstemp's mode) while other files got 0o644."""
    root = tmp_path / "cache"
    old = os.umask(0o027)
    try:
        load_mnist(root, download=True, mirrors=[site.url + "good/"], checksums=site.checksums)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in root.iterdir()}
    assert modes == {name: 0o640 for name in [*site.checksums, "mnist.npz"]}


def test_download_skips_a_dead_mirror(site, tmp_path, monkeypatch, caplog):
    root = tmp_path / "cache"
    monkeypatch.setenv("REFNET_DATA", str(root))
    dead = closed_port_url()
    with caplog.at_level(logging.WARNING, logger="refnet.datasets"):
        result = load_mnist(
            download=True,
            normalize=False,
            mirrors=[dead, site.url + "good/"],
            checksums=site.checksums,
            timeout=5,
        )
    assert_is_site_data(result, site.arrays)
    for name, digest in site.checksums.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest
    assert f"from {dead}" in caplog.text and "refused" in caplog.text.lower()
    assert sorted(site.requests) == sorted(f"/good/{name}" for name in site.checksums)
    assert sorted(p.name for p in root.iterdir()) == sorted([*site.checksums, "mnist.npz"])


def test_download_rejects_a_corrupted_mirror_and_sticks_to_the_good_one(site, tmp_path, caplog):
    root = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="refnet.datasets"):
        result = load_mnist(
            root,
            download=True,
            normalize=False,
            mirrors=[site.url + "bad/", site.url + "good/"],
            checksums=site.checksums,
        )
    assert_is_site_data(result, site.arrays)
    first = f"{TRAIN_IMAGES}.gz"
    assert "SHA-256 mismatch" in caplog.text and f"expected {site.checksums[first]}" in caplog.text
    # The bad mirror was tried once; after the good one worked it was asked first.
    assert site.requests == [f"/bad/{first}"] + [f"/good/{s}.gz" for s in MNIST_FILES]
    assert not list(root.glob("*.part"))


def test_download_fails_listing_every_mirror(site, tmp_path):
    root = tmp_path / "cache"
    dead = closed_port_url()
    mirrors = [dead, site.url + "empty/", site.url + "bad/", site.url + "html/"]
    with pytest.raises(DownloadError) as info:
        load_mnist(root, download=True, mirrors=mirrors, checksums=site.checksums)
    message = str(info.value)
    assert f"could not download {TRAIN_IMAGES}.gz from any mirror" in message
    assert f"{dead}{TRAIN_IMAGES}.gz" in message and "refused" in message.lower()
    assert f"{site.url}empty/{TRAIN_IMAGES}.gz: HTTP 404" in message
    assert f"{site.url}bad/{TRAIN_IMAGES}.gz: SHA-256 mismatch" in message
    assert f"{site.url}html/{TRAIN_IMAGES}.gz: SHA-256 mismatch" in message
    assert list(root.iterdir()) == []  # no partial or unverified files left behind


def test_download_without_checksums_still_rejects_non_gzip(site, tmp_path):
    root = tmp_path / "cache"
    result = load_mnist(
        root,
        download=True,
        normalize=False,
        mirrors=[site.url + "html/", site.url + "good/"],
        checksums=None,
    )
    assert_is_site_data(result, site.arrays)
    with pytest.raises(DownloadError, match="not gzip data"):
        load_mnist(tmp_path / "other", download=True, mirrors=[site.url + "html/"], checksums=None)


def test_download_fetches_only_missing_files(site, tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    for name in (f"{TRAIN_IMAGES}.gz", f"{TRAIN_LABELS}.gz", f"{TEST_IMAGES}.gz"):
        (root / name).write_bytes((site.root / "good" / name).read_bytes())
    result = load_mnist(
        root, download=True, normalize=False, mirrors=[site.url + "good/"], checksums=site.checksums
    )
    assert_is_site_data(result, site.arrays)
    assert site.requests == [f"/good/{TEST_LABELS}.gz"]


def test_download_not_needed_when_files_exist(mnist_dir):
    # The only mirror is dead, so this passes only if nothing is downloaded.
    (x_train, _), _ = load_mnist(
        mnist_dir.root, download=True, mirrors=[closed_port_url()], checksums=mnist_dir.checksums
    )
    assert x_train.shape == (50, 784)


def test_download_needs_a_checksum_for_each_file(site, tmp_path):
    table = dict(site.checksums)
    del table[f"{TEST_IMAGES}.gz"]
    with pytest.raises(ValueError, match=f"no SHA-256 for {TEST_IMAGES}.gz"):
        load_mnist(tmp_path / "cache", download=True, mirrors=[site.url + "good/"], checksums=table)
    assert site.requests == []


def test_download_survives_a_connection_dropped_mid_file(site, tmp_path, caplog):
    root = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="refnet.datasets"):
        result = load_mnist(
            root,
            download=True,
            normalize=False,
            mirrors=[site.url + "short/", site.url + "good/"],
            checksums=site.checksums,
        )
    assert_is_site_data(result, site.arrays)
    assert f"from {site.url}short/: connection closed after 10 of 1000 bytes" in caplog.text
    assert not list(root.glob("*.part"))
