"""Readers for user data files (NPZ, CSV, image folders), each checked before use.

Errors name the file and what is wrong with it (shape, dtype, label range,
NaN, length mismatch, missing column, malformed row) so a user can fix the
file without reading code. Sizes are bounded before data is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from milon_app.compute.seq_layers import MAX_SEQ_LEN, MAX_VOCAB
from milon_app.errors import BadInputError, NotFoundError

MAX_FILE_BYTES = 1 << 30
MAX_CSV_BYTES = 256 << 20
MAX_SAMPLES = 5_000_000
MAX_ELEMENTS = 1 << 28  # 1 GiB of float32
MAX_IMAGE_PIXELS = 4096 * 4096
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_LABEL = 1 << 31

# x: float32 features or int64 token ids; y: int64 class labels or float32 targets
Arrays = tuple[npt.NDArray[Any], npt.NDArray[Any]]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_sha256(root: Path) -> str:
    """Hash over (relative path, file hash) of every image, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(_image_files(root)):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(file_sha256(path).encode() + b"\n")
    return h.hexdigest()


def _image_files(root: Path) -> list[Path]:
    return [
        p
        for d in root.iterdir()
        if d.is_dir()
        for p in d.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    ]


def _existing(path: Path, limit: int, *, folder: bool = False) -> None:
    if not path.exists():
        raise NotFoundError(f"data {'folder' if folder else 'file'} {path} does not exist")
    if folder:
        if not path.is_dir():
            raise BadInputError(f"{path} is not a folder")
        return
    size = path.stat().st_size
    if size > limit:
        raise BadInputError(f"{path} is {size} bytes, over the limit of {limit}")


def validate_arrays(
    x: np.ndarray,
    y: np.ndarray,
    source: str,
    num_classes: int = 0,
    *,
    task: str = "classification",
    tokens: bool = False,
) -> Arrays:
    """Shapes, dtypes, finiteness and label range; returns float32 x (int64 ids with
    ``tokens``) and int64 class labels y (float32 targets for regression or multilabel)."""
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise BadInputError(f"{source}: x and y must be arrays")
    if tokens and x.ndim != 2:
        raise BadInputError(
            f"{source}: x has shape {list(x.shape)}; token data is (samples, sequence length)"
        )
    if x.ndim < 2 or x.ndim > 4:
        raise BadInputError(
            f"{source}: x has shape {list(x.shape)}; expected (samples, features) or "
            "(samples, channels, height, width)"
        )
    if y.ndim != 1 and (task == "classification" or y.ndim != 2):
        more = "" if task == "classification" else " or (samples, targets)"
        raise BadInputError(f"{source}: y has shape {list(y.shape)}; expected (samples,){more}")
    if len(x) != len(y):
        raise BadInputError(f"{source}: x has {len(x)} samples but y has {len(y)} labels")
    if len(x) == 0:
        raise BadInputError(f"{source}: no samples")
    if len(x) > MAX_SAMPLES or x.size > MAX_ELEMENTS or y.size > MAX_ELEMENTS:
        raise BadInputError(
            f"{source}: {len(x)} samples / {x.size} values is over the limit "
            f"({MAX_SAMPLES} / {MAX_ELEMENTS})"
        )
    if x.dtype.kind not in "biuf":
        raise BadInputError(f"{source}: x has dtype {x.dtype}; expected numbers")
    if tokens:
        x = _token_ids(x, source)
    if task != "classification":
        return (x if tokens else _features(x, source)), _float_targets(y, source, task)
    if y.dtype.kind not in "iu":
        raise BadInputError(f"{source}: y has dtype {y.dtype}; labels must be integers")
    xf = x if tokens else _features(x, source)
    lo, hi = int(y.min()), int(y.max())
    if lo < 0:
        raise BadInputError(f"{source}: label {lo} is negative; labels must be in [0, classes)")
    if num_classes and hi >= num_classes:
        raise BadInputError(f"{source}: label {hi} is out of range [0, {num_classes})")
    return xf, y.astype(np.int64)


def _features(x: np.ndarray, source: str) -> npt.NDArray[np.float32]:
    xf = x.astype(np.float32)
    if not np.isfinite(xf).all():
        bad = int(np.flatnonzero(~np.isfinite(xf).reshape(len(xf), -1).all(axis=1))[0])
        raise BadInputError(f"{source}: x holds NaN or Inf (first in sample {bad})")
    return xf


def _token_ids(x: np.ndarray, source: str) -> npt.NDArray[np.int64]:
    """Integer ids in [0, MAX_VOCAB), sequences of 1 to MAX_SEQ_LEN tokens."""
    if x.dtype.kind not in "iu":
        raise BadInputError(f"{source}: x has dtype {x.dtype}; token ids must be integers")
    if not 1 <= x.shape[1] <= MAX_SEQ_LEN:
        raise BadInputError(
            f"{source}: sequences of {x.shape[1]} tokens; the limit is 1 to {MAX_SEQ_LEN}"
        )
    lo, hi = int(x.min()), int(x.max())
    if lo < 0:
        raise BadInputError(f"{source}: token id {lo} is negative")
    if hi >= MAX_VOCAB:
        raise BadInputError(f"{source}: token id {hi} is over the vocabulary limit of {MAX_VOCAB}")
    return x.astype(np.int64)


def _float_targets(y: np.ndarray, source: str, task: str) -> npt.NDArray[np.float32]:
    """Regression targets (finite) or multi-label 0/1 labels, as float32."""
    if y.dtype.kind not in "biuf":
        raise BadInputError(f"{source}: y has dtype {y.dtype}; {task} targets must be numbers")
    with np.errstate(over="ignore", invalid="ignore"):
        yf = y.astype(np.float32)
    if task == "regression" and not np.isfinite(yf).all():
        raise BadInputError(f"{source}: y holds NaN or Inf, or values beyond float32")
    if task == "multilabel" and not np.isin(yf, (0.0, 1.0)).all():
        raise BadInputError(f"{source}: multi-label y must hold only 0 and 1")
    return yf


def load_npz(
    path: Path, num_classes: int = 0, *, task: str = "classification", tokens: bool = False
) -> Arrays:
    _existing(path, MAX_FILE_BYTES)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInputError(f"{path}: not an NPZ file: {exc}") from None
    for key in ("x", "y"):
        info = infos.get(f"{key}.npy")
        if info is None:
            raise BadInputError(f"{path}: lacks the array {key!r} (has {sorted(infos)})")
        if info.file_size > MAX_FILE_BYTES:
            raise BadInputError(f"{path}: array {key!r} unpacks to {info.file_size} bytes")
        _check_npy_header(path, key, info)
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise BadInputError(f"{path}: cannot read arrays: {exc}") from None
    return validate_arrays(x, y, str(path), num_classes, task=task, tokens=tokens)


def _check_npy_header(path: Path, key: str, info: zipfile.ZipInfo) -> None:
    """numpy allocates what an array's header announces before reading the data, so a
    header that lies about its shape is refused here instead of exhausting memory."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(fh)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise BadInputError(f"{path}: array {key!r} has a bad header: {exc}") from None
    if dtype.hasobject:
        raise BadInputError(f"{path}: cannot read arrays: {key!r} holds objects (pickle refused)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size or math.prod(shape) > MAX_ELEMENTS:
        raise BadInputError(
            f"{path}: array {key!r} announces shape {list(shape)} ({nbytes} bytes) but holds "
            f"{info.file_size} bytes, or is over the limit of {MAX_ELEMENTS} values"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(path: Path, label_column: str, num_classes: int = 0) -> Arrays:
    """Numeric CSV with a header row; ``label_column`` holds integer class labels."""
    _existing(path, MAX_CSV_BYTES)
    if not label_column:
        raise BadInputError(f"{path}: a label column name is needed for CSV data")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text: {exc}") from None
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(rows, None)
        if not header:
            raise BadInputError(f"{path}: empty file; a header row is required")
        header = [h.strip() for h in header]
        if all(_is_number(h) for h in header):
            raise BadInputError(f"{path}: the first row is numbers; a header row is required")
        if label_column not in header:
            raise BadInputError(
                f"{path}: no label column {label_column!r} in the header ({', '.join(header)})"
            )
        if len(set(header)) != len(header):
            raise BadInputError(f"{path}: the header repeats a column name")
        label_at = header.index(label_column)
        feats: list[list[float]] = []
        labels: list[int] = []
        for row in rows:
            line = rows.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise BadInputError(
                    f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
                )
            try:
                label = int(row[label_at])
            except ValueError:
                raise BadInputError(
                    f"{path}: line {line}: label {row[label_at]!r:.40} is not an integer"
                ) from None
            if not -MAX_LABEL <= label <= MAX_LABEL:
                raise BadInputError(f"{path}: line {line}: label {str(label)[:24]} is out of range")
            labels.append(label)
            values = []
            for col, cell in enumerate(row):
                if col == label_at:
                    continue
                try:
                    values.append(float(cell))
                except ValueError:
                    raise BadInputError(
                        f"{path}: line {line}, column {header[col]!r}: {cell!r} is not a number"
                    ) from None
            feats.append(values)
            if len(feats) > MAX_SAMPLES:
                raise BadInputError(f"{path}: over {MAX_SAMPLES} rows")
    except csv.Error as exc:
        raise BadInputError(f"{path}: malformed CSV at line {rows.line_num}: {exc}") from None
    if not feats:
        raise BadInputError(f"{path}: no data rows after the header")
    if len(header) < 2:
        raise BadInputError(f"{path}: no feature columns besides {label_column!r}")
    x = np.asarray(feats, dtype=np.float64)
    return validate_arrays(x, np.asarray(labels, dtype=np.int64), str(path), num_classes)


def load_image_folder(
    root: Path, *, image_size: tuple[int, int] | None, grayscale: bool, num_classes: int = 0
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], list[str]]:
    """``root/<class>/*.png|jpg``; classes are the sorted folder names. Needs Pillow."""
    _existing(root, 0, folder=True)
    try:
        from PIL import Image
    except ImportError:
        raise BadInputError(
            "loading image folders needs the optional package Pillow: pip install Pillow"
        ) from None
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not classes:
        raise BadInputError(f"{root}: no class folders (expected {root}/<class>/*.png)")
    if num_classes and len(classes) > num_classes:
        raise BadInputError(f"{root}: {len(classes)} class folders, over num_classes {num_classes}")
    images: list[npt.NDArray[np.float32]] = []
    labels: list[int] = []
    size = image_size
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        for path in files:
            if len(images) >= MAX_SAMPLES:
                raise BadInputError(f"{root}: over {MAX_SAMPLES} images")
            try:
                with Image.open(path) as im:
                    if im.width * im.height > MAX_IMAGE_PIXELS:
                        raise BadInputError(f"{path}: {im.width}x{im.height} image is too large")
                    im2 = im.convert("L" if grayscale else "RGB")
                    if size is None:
                        size = (im2.height, im2.width)
                    if (im2.height, im2.width) != size:
                        if image_size is None:
                            raise BadInputError(
                                f"{path}: image is {im2.height}x{im2.width}, others are "
                                f"{size[0]}x{size[1]}; set image_size to resize"
                            )
                        im2 = im2.resize((size[1], size[0]))
                    arr = np.asarray(im2, dtype=np.float32) / 255.0
            except BadInputError:
                raise
            except Exception as exc:  # Pillow raises many types for broken files
                raise BadInputError(f"{path}: not a readable image: {exc}") from None
            images.append(arr[None] if grayscale else arr.transpose(2, 0, 1))
            labels.append(label)
    if not images:
        raise BadInputError(f"{root}: no .png/.jpg images in the class folders")
    x, y = validate_arrays(np.stack(images), np.asarray(labels, dtype=np.int64), str(root))
    return x, y, classes
