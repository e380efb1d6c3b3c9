"""Loader of MovieLens 100K (the ``ml-100k`` folder: ``u.data``, ``u.user``, ``u.item``...).

MovieLens may not be redistributed, so it does not ship with this package. Download and unpack
it yourself, then pass the folder. Every file is checked as in the Coat loader.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from causalrec_pyro.data._columns import Interactions, RowSource, make_split, resolve_duplicates
from causalrec_pyro.data.core import RatingData
from causalrec_pyro.data.loaders import _read_text, _require_files
from causalrec_pyro.data.splits import split_by_user

__all__ = ["load_movielens"]

MOVIELENS_FILES = ("u.data", "u.user", "u.item", "u.genre", "u.occupation")

_MOVIELENS_HINT = (
    "Unpack MovieLens 100K (ml-100k.zip from GroupLens, https://grouplens.org) so that the "
    "folder contains these files."
)
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"


def load_movielens(path: str | Path, test_fraction: float = 0.2, seed: int = 0) -> RatingData:
    """Load MovieLens 100K (``ml-100k``) from its unpacked folder, split per user at random.

    ``u.data`` gives the ratings with their Unix timestamps (int64). Their ``test_fraction``
    per user goes to split ``"test"`` and the rest to ``"train"``, by :func:`split_by_user`
    with ``seed``. Neither split is random (``random=False``), because users chose the movies.
    Ids are the MovieLens user and item ids, in increasing order.

    User features, from ``u.user``: ``gender`` (1.0 for F, 0.0 for M), ``age`` in years, and
    one-hot ``occupation_<name>`` columns for the occupations of ``u.occupation``. Item
    features, from ``u.item``: the genre flags ``genre_<name>`` (names from ``u.genre``) and
    ``year``, the release year, which is NaN where the release date is empty (item 267).
    ``data.user_info`` has the raw ``gender``, ``occupation`` and ``zip_code``, and
    ``data.item_info`` has ``title``, ``release_date``, ``video_release_date`` and
    ``imdb_url`` as text. All files are read as Latin-1, the encoding of ``u.item``.

    Returns
    -------
    RatingData
        Named ``"movielens"``, rating scale ``(1.0, 5.0)``. The published data has 100,000
        ratings by 943 users of 1,682 items.

    Raises
    ------
    FileNotFoundError
        Naming the missing files.
    ValueError
        Naming the file, line and value of a malformed line, an invalid value, an id that
        the user or item file does not list, or a repeated (user, item) pair.
    """
    folder = _require_files(path, MOVIELENS_FILES, "MovieLens", _MOVIELENS_HINT)
    occupations = _read_fields(folder / "u.occupation", "|", 1)[0].str.strip().tolist()
    genres = _read_genres(folder / "u.genre")
    user_ids, user_features, user_info = _read_users(folder / "u.user", occupations)
    item_ids, item_features, item_info = _read_items(folder / "u.item", genres)
    rows = _read_ratings(folder / "u.data", user_ids, item_ids)
    split = make_split(
        "train",
        rows,
        len(user_ids),
        len(item_ids),
        user_features=user_features,
        item_features=item_features,
        rating_scale=(1.0, 5.0),
    )
    data = RatingData(
        {"train": split},
        user_ids,
        item_ids,
        user_features=user_features,
        item_features=item_features,
        rating_scale=(1.0, 5.0),
        user_info=user_info,
        item_info=item_info,
        name="movielens",
    )
    return split_by_user(data, test_fraction=test_fraction, seed=seed)


def _read_fields(file: Path, sep: str, n_fields: int) -> pd.DataFrame:
    """Split each non-blank line of a Latin-1 text file into ``n_fields`` text fields.

    The result is indexed by line number, so that errors can name the line.
    """
    lines = pd.Series(_read_text(file, "latin-1").split("\n"))
    lines.index = np.arange(1, len(lines) + 1)
    lines = lines[lines.str.strip() != ""]
    if lines.empty:
        raise ValueError(f"{file} has no data lines. Check that the file is not damaged.")
    counts = lines.str.count(re.escape(sep)) + 1
    wrong = (counts != n_fields).to_numpy()
    if wrong.any():
        first = int(np.argmax(wrong))
        raise ValueError(
            f"{file}, line {lines.index[first]}: expected {n_fields} fields separated by "
            f"{sep!r}, got {counts.iloc[first]}. Fix or remove that line."
        )
    fields = lines.str.split(sep, regex=False, expand=True)
    fields.columns = range(n_fields)
    return fields


def _integers(fields: pd.DataFrame, column: int, file: Path, field_name: str) -> np.ndarray:
    raw = fields[column]
    numbers = pd.to_numeric(raw.str.strip(), errors="coerce")
    invalid = (numbers.isna() | (numbers % 1 != 0)).to_numpy()
    if invalid.any():
        first = int(np.argmax(invalid))
        raise ValueError(
            f"{file}, line {fields.index[first]}: {field_name} {raw.iloc[first]!r} is not an "
            "integer. Fix that line."
        )
    return numbers.to_numpy(dtype=np.int64)


def _unique_ids(fields: pd.DataFrame, file: Path, kind: str) -> np.ndarray:
    ids = _integers(fields, 0, file, f"{kind} id")
    repeated = pd.Series(ids).duplicated().to_numpy()
    if repeated.any():
        first = int(np.argmax(repeated))
        raise ValueError(
            f"{file}, line {fields.index[first]}: {kind} id {ids[first]} is listed twice. "
            f"Expected one line per {kind}."
        )
    return ids


def _read_genres(file: Path) -> list[str]:
    fields = _read_fields(file, "|", 2)
    index = _integers(fields, 1, file, "genre index")
    if not np.array_equal(np.sort(index), np.arange(len(index))):
        raise ValueError(
            f"{file}: the genre indices are {sorted(index.tolist())}, expected 0 to "
            f"{len(index) - 1}, each once. Fix the file."
        )
    return fields[0].str.strip().to_numpy()[np.argsort(index)].tolist()


def _read_users(file: Path, occupations: list[str]):
    fields = _read_fields(file, "|", 5)
    ids = _unique_ids(fields, file, "user")
    age = _integers(fields, 1, file, "age")
    gender = fields[2].str.strip()
    occupation = fields[3].str.strip()
    for values, allowed, field_name in (
        (gender, ["M", "F"], "gender"),
        (occupation, occupations, "occupation"),
    ):
        invalid = (~values.isin(allowed)).to_numpy()
        if invalid.any():
            first = int(np.argmax(invalid))
            raise ValueError(
                f"{file}, line {fields.index[first]}: {field_name} {values.iloc[first]!r} is "
                f"invalid. Expected one of {allowed}. Fix that line."
            )

    one_hot = pd.get_dummies(
        pd.Series(pd.Categorical(occupation, categories=occupations)),
        prefix="occupation",
        dtype=float,
    )
    features = pd.concat(
        [
            pd.DataFrame(
                {"gender": (gender == "F").to_numpy(dtype=float), "age": age.astype(float)}
            ),
            one_hot,
        ],
        axis=1,
    )
    info = pd.DataFrame(
        {"gender": gender, "occupation": occupation, "zip_code": fields[4].str.strip()}
    )
    return _sorted_by_id(ids, features, info, "user")


def _read_items(file: Path, genres: list[str]):
    fields = _read_fields(file, "|", 5 + len(genres))
    ids = _unique_ids(fields, file, "item")

    flags = fields.iloc[:, 5:]
    invalid = (~flags.isin(["0", "1"])).to_numpy()
    if invalid.any():
        row, column = np.argwhere(invalid)[0]
        raise ValueError(
            f"{file}, line {fields.index[row]}: the flag of genre {genres[column]!r} is "
            f"{flags.iloc[row, column]!r}. Expected 0 or 1."
        )
    release = fields[2].str.strip()
    invalid = ~((release == "") | release.str.fullmatch(rf"\d{{1,2}}-({_MONTHS})-\d{{4}}"))
    if invalid.any():
        first = int(np.argmax(invalid.to_numpy()))
        raise ValueError(
            f"{file}, line {fields.index[first]}: release date {release.iloc[first]!r} is "
            "invalid. Expected a date like 01-Jan-1995, or an empty field."
        )

    features = pd.DataFrame(
        (flags == "1").to_numpy(dtype=float), columns=[f"genre_{name}" for name in genres]
    )
    features["year"] = pd.to_numeric(release.str[-4:], errors="coerce").to_numpy(dtype=float)
    info = pd.DataFrame(
        {
            "title": fields[1],
            "release_date": release,
            "video_release_date": fields[3].str.strip(),
            "imdb_url": fields[4].str.strip(),
        }
    )
    return _sorted_by_id(ids, features, info, "item")


def _sorted_by_id(ids: np.ndarray, features: pd.DataFrame, info: pd.DataFrame, kind: str):
    """Order the rows by id, so that index ``i`` is the ``i``-th smallest id."""
    order = np.argsort(ids, kind="stable")
    tables = []
    for table in (features, info):
        table = table.iloc[order].reset_index(drop=True)
        table.index.name = kind
        tables.append(table)
    return ids[order], tables[0], tables[1]


def _read_ratings(file: Path, user_ids: np.ndarray, item_ids: np.ndarray) -> Interactions:
    fields = _read_fields(file, "\t", 4)
    index = {}
    for column, kind, known, listing in (
        (0, "user", user_ids, "u.user"),
        (1, "item", item_ids, "u.item"),
    ):
        ids = _integers(fields, column, file, f"{kind} id")
        index[kind] = pd.Index(known).get_indexer(ids)
        unknown = index[kind] < 0
        if unknown.any():
            first = int(np.argmax(unknown))
            raise ValueError(
                f"{file}, line {fields.index[first]}: {kind} id {ids[first]} is not in "
                f"{listing} ({int(unknown.sum())} rows have unknown {kind} ids). Check that "
                f"u.data and {listing} come from one copy of MovieLens 100K."
            )
    rating = _integers(fields, 2, file, "rating")
    outside = (rating < 1) | (rating > 5)
    if outside.any():
        first = int(np.argmax(outside))
        raise ValueError(
            f"{file}, line {fields.index[first]}: rating {rating[first]} is outside the "
            f"rating scale 1 to 5 ({int(outside.sum())} of {len(rating)} rows are outside). "
            "Fix those lines."
        )
    rows = Interactions(
        index["user"].astype(np.int64),
        index["item"].astype(np.int64),
        rating.astype(np.float64),
        _integers(fields, 3, file, "timestamp"),
    )
    line_numbers = fields.index.to_numpy()
    source = RowSource(str(file), lambda position: f"line {line_numbers[position]}")
    return resolve_duplicates(rows, len(item_ids), "error", source, user_ids, item_ids)
