"""Loader of the Coat data set, and file checks shared with the MovieLens loader.

Coat may not be redistributed, so it does not ship with this package. Download and unpack it
yourself, then pass the folder. The loader checks every file: a missing file, a malformed line
or an invalid value raises an error that names the file, the line and the value.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from causalrec_pyro.data._columns import Interactions, make_split
from causalrec_pyro.data.core import RatingData

__all__ = ["load_coat"]

COAT_FILES = (
    "train.ascii",
    "test.ascii",
    "propensities.ascii",
    "user_item_features/user_features.ascii",
    "user_item_features/user_features_map.txt",
    "user_item_features/item_features.ascii",
    "user_item_features/item_features_map.txt",
)
_COAT_HINT = (
    "Unpack Coat (coat.zip, from Schnabel et al. 2016, 'Recommendations as Treatments: "
    "Debiasing Learning and Evaluation') so that the folder contains these files."
)


def load_coat(path: str | Path) -> RatingData:
    """Load the Coat shopping data set (Schnabel et al., ICML 2016) from its unpacked folder.

    Split ``"train"`` contains the ratings users gave to items they chose themselves, missing
    not at random (``random=False``). Split ``"test"`` contains ratings of items shown to each
    user at random (``random=True``). Both splits have a ``propensity`` column, read from
    ``propensities.ascii`` at each rated pair: the propensities that Coat ships, which its
    README calls learned. On test rows it is still the self-selection propensity of the pair,
    not the chance of the random draw. ``data.propensities`` is the full
    ``(n_users, n_items)`` float32 matrix. Coat has no ids, so ids are ``0..n-1``.

    User and item features are the one-hot tables of ``user_item_features/``, with column
    names as in the ``*_map.txt`` files (for example ``"gender:men"``).

    Returns
    -------
    RatingData
        Named ``"coat"``, rating scale ``(1.0, 5.0)``. The published data has 290 users,
        300 items, 24 train ratings and 16 test ratings per user.

    Raises
    ------
    FileNotFoundError
        Naming the missing files.
    ValueError
        Naming the file, line and value of a malformed line, a rating outside 0..5
        (0 marks a missing rating), a propensity outside (0, 1], or shapes that disagree.
    """
    folder = _require_files(path, COAT_FILES, "Coat", _COAT_HINT)
    train = _read_matrix(folder / "train.ascii")
    test = _read_matrix(folder / "test.ascii")
    propensities = _read_matrix(folder / "propensities.ascii")
    if not train.shape == test.shape == propensities.shape:
        raise ValueError(
            f"Coat folder {folder}: the matrices differ in shape, train.ascii {train.shape}, "
            f"test.ascii {test.shape}, propensities.ascii {propensities.shape}. Expected one "
            "(users, items) shape, so check that the files come from one copy of Coat."
        )
    _check_coat_ratings(train, folder / "train.ascii")
    _check_coat_ratings(test, folder / "test.ascii")
    _check_propensities(propensities, folder / "propensities.ascii")
    n_users, n_items = train.shape
    user_features = _read_coat_features(folder, "user", n_users)
    item_features = _read_coat_features(folder, "item", n_items)

    def coat_split(name: str, ratings: np.ndarray, random: bool):
        user, item = np.nonzero(ratings)
        return make_split(
            name,
            Interactions(user, item, ratings[user, item], None),
            n_users,
            n_items,
            propensity=torch.as_tensor(propensities[user, item], dtype=torch.float32),
            random=random,
            user_features=user_features,
            item_features=item_features,
            rating_scale=(1.0, 5.0),
        )

    return RatingData(
        {"train": coat_split("train", train, False), "test": coat_split("test", test, True)},
        np.arange(n_users),
        np.arange(n_items),
        user_features=user_features,
        item_features=item_features,
        rating_scale=(1.0, 5.0),
        propensities=torch.as_tensor(propensities, dtype=torch.float32),
        name="coat",
    )


def _require_files(path: str | Path, names: tuple[str, ...], dataset: str, hint: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{dataset} folder {folder} not found. Expected the files {', '.join(names)}. {hint}"
        )
    missing = [name for name in names if not (folder / name).is_file()]
    if missing and len(missing) == len(names):
        raise FileNotFoundError(
            f"{dataset} folder {folder} is missing all of its files: {', '.join(missing)}. "
            f"Check that --data-dir or the path points at the {dataset} folder. {hint}"
        )
    if missing:
        raise FileNotFoundError(
            f"{dataset} folder {folder} is missing {', '.join(missing)}. Expected the files "
            f"{', '.join(names)}. {hint}"
        )
    return folder


def _read_text(file: Path, encoding: str) -> str:
    try:
        return file.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{file} is not valid {encoding} text ({error.reason} at byte {error.start}). "
            "Check that the file is not damaged."
        ) from None


def _read_matrix(file: Path) -> np.ndarray:
    """Read a whitespace-separated matrix of numbers, one row per non-blank line."""
    text = _read_text(file, "utf-8")
    if not text.strip():
        raise ValueError(f"{file} is empty. Expected a matrix of numbers, one row per line.")
    try:
        return np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2, comments=None)
    except ValueError as error:
        raise ValueError(_describe_malformed_matrix(file, text, error)) from None


def _describe_malformed_matrix(file: Path, text: str, error: ValueError) -> str:
    """Find the first malformed line of a matrix file, reading it line by line."""
    rows = [(number, line.split()) for number, line in enumerate(text.split("\n"), 1)]
    rows = [(number, fields) for number, fields in rows if fields]
    width = len(rows[0][1])
    for number, fields in rows:
        if len(fields) != width:
            return (
                f"{file}, line {number}: expected {width} numbers as on the first line, "
                f"got {len(fields)}. Fix or replace the file."
            )
        for field in fields:
            try:
                float(field)
            except ValueError:
                return f"{file}, line {number}: {field!r} is not a number. Fix or replace the file."
    return f"{file} could not be read as a matrix of numbers ({error}). Fix or replace the file."


def _line_of_row(file: Path, row: int) -> int:
    """Return the line number of a matrix row, counting the blank lines that were skipped."""
    lines = pd.Series(_read_text(file, "utf-8").split("\n"))
    return int(np.flatnonzero(lines.str.strip() != "")[row]) + 1


def _check_coat_ratings(ratings: np.ndarray, file: Path) -> None:
    invalid = ~np.isin(ratings, np.arange(6))
    if invalid.any():
        row, column = np.argwhere(invalid)[0]
        raise ValueError(
            f"{file}, line {_line_of_row(file, row)}, column {column + 1}: rating "
            f"{ratings[row, column]:g} is invalid ({int(invalid.sum())} invalid values). "
            "Expected an integer from 0 to 5, where 0 marks a missing rating."
        )
    if not ratings.any():
        raise ValueError(f"{file} has no ratings: every value is 0, which marks a missing one.")


def _check_propensities(propensities: np.ndarray, file: Path) -> None:
    invalid = ~((propensities > 0) & (propensities <= 1))
    if invalid.any():
        row, column = np.argwhere(invalid)[0]
        raise ValueError(
            f"{file}, line {_line_of_row(file, row)}, column {column + 1}: propensity "
            f"{propensities[row, column]:g} is invalid. Expected a probability in (0, 1]."
        )


def _read_coat_features(folder: Path, kind: str, n_rows: int) -> pd.DataFrame:
    matrix_file = folder / "user_item_features" / f"{kind}_features.ascii"
    map_file = folder / "user_item_features" / f"{kind}_features_map.txt"
    values = _read_matrix(matrix_file)
    invalid = ~np.isfinite(values)
    if invalid.any():
        row, column = np.argwhere(invalid)[0]
        raise ValueError(
            f"{matrix_file}, line {_line_of_row(matrix_file, row)}, column {column + 1}: "
            f"feature {values[row, column]} is not finite. Fix or replace the file."
        )
    if values.shape[0] != n_rows:
        raise ValueError(
            f"{matrix_file} has {values.shape[0]} rows, expected {n_rows}, one per {kind} of "
            "train.ascii. Check that the files come from one copy of Coat."
        )

    # The map file has one name per line, may end without a newline, and may use CRLF.
    names = pd.Series(_read_text(map_file, "utf-8-sig").rstrip().split("\n")).str.strip()
    if (names == "").any():
        raise ValueError(
            f"{map_file}, line {int(np.argmax(names == '')) + 1} is blank. "
            "Expected one feature name per line."
        )
    if names.duplicated().any():
        raise ValueError(
            f"{map_file} names feature {names[names.duplicated()].iloc[0]!r} twice. "
            "Expected each name once."
        )
    if len(names) != values.shape[1]:
        raise ValueError(
            f"{map_file} has {len(names)} names, but {matrix_file} has {values.shape[1]} "
            "columns. Expected one name per column."
        )
    table = pd.DataFrame(values, columns=names.tolist())
    table.index.name = kind
    return table
