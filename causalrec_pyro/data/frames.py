"""Build a :class:`RatingData` from a pandas DataFrame, a CSV file or a Parquet file.

Each row of the input is one interaction. Original user and item ids may be of any sortable type
(int, str). They are mapped to contiguous indices in sorted order, so ``data.user_ids[i]`` is the
id of user index ``i``. Rows are never dropped. Rows that repeat a (user, item) pair raise an
error unless ``duplicates`` names a merge rule, and a merge logs how many rows it merged.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from causalrec_pyro.data._columns import (
    Interactions,
    RowSource,
    align_features,
    check_duplicates_rule,
    check_rating_scale,
    check_table,
    factorize_ids,
    known_ids,
    make_split,
    plain,
    rating_values,
    resolve_duplicates,
    timestamp_values,
)
from causalrec_pyro.data.core import RatingData

__all__ = ["attach_test", "from_dataframe", "read_csv", "read_parquet"]


def from_dataframe(
    df: pd.DataFrame,
    user: str = "user",
    item: str = "item",
    rating: str | None = "rating",
    timestamp: str | None = None,
    *,
    rating_scale: tuple[float, float] | None = None,
    duplicates: str = "error",
    split_name: str = "train",
    random: bool = False,
    user_features: pd.DataFrame | None = None,
    item_features: pd.DataFrame | None = None,
    name: str = "data",
) -> RatingData:
    """Build a :class:`RatingData` with one split from a DataFrame of interactions.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per interaction.
    user, item : str
        Columns of the original user and item ids. Missing ids raise ``ValueError``.
    rating : str or None
        Column of ratings or clicks, stored as float32. ``None`` builds a split without
        ratings (implicit feedback, where every row is an interaction).
    timestamp : str, optional
        Column of Unix times (numbers, kept as int64 when integer) or datetimes (converted to
        int64 seconds since 1970-01-01 UTC, naive datetimes read as UTC).
    rating_scale : tuple of float, optional
        Lowest and highest valid rating. Ratings outside it raise ``ValueError``. ``None``
        declares no scale and checks only that ratings are finite numbers.
    duplicates : {"error", "last", "mean"}
        What to do with rows that repeat a (user, item) pair. ``"error"`` raises, naming the
        first repeat. ``"last"`` keeps the rating and timestamp of the last such row.
        ``"mean"`` averages the ratings and keeps the latest timestamp. Merged pairs stay at
        the position of their first row, and the merge is logged at INFO level.
    split_name : str
        Name of the split.
    random : bool
        Whether the items of these rows were chosen at random (see :class:`Split`).
    user_features, item_features : pandas.DataFrame, optional
        Numeric feature tables indexed by original id. Every id of ``df`` needs a row. Rows of
        ids that have no interaction are left out, and their count is logged at INFO level.
    name : str
        Name of the data set.

    Returns
    -------
    RatingData
        With ``n_users`` and ``n_items`` equal to the numbers of distinct ids in ``df``.

    Examples
    --------
    >>> df = pd.DataFrame({"user": ["b", "a", "b"], "item": [10, 10, 20], "rating": [4, 5, 3]})
    >>> data = from_dataframe(df, rating_scale=(1, 5))
    >>> data.user_ids.tolist(), data["train"].user.tolist()
    (['a', 'b'], [1, 0, 1])
    """
    return _from_table(
        df,
        _dataframe_rows(df),
        user=user,
        item=item,
        rating=rating,
        timestamp=timestamp,
        rating_scale=rating_scale,
        duplicates=duplicates,
        split_name=split_name,
        random=random,
        user_features=user_features,
        item_features=item_features,
        name=name,
    )


def read_csv(
    path: str | Path,
    user: str = "user",
    item: str = "item",
    rating: str | None = "rating",
    timestamp: str | None = None,
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    dtype=None,
    parse_dates: list[str] | None = None,
    **options,
) -> RatingData:
    """Read a CSV file with a header line into a :class:`RatingData`, as :func:`from_dataframe`.

    ``sep``, ``encoding``, ``dtype`` and ``parse_dates`` go to :func:`pandas.read_csv`. Pass
    for example ``dtype={"user": str}`` to keep ids such as ``"007"`` as text, and
    ``parse_dates=["time"]`` to read timestamps written as dates. The other keyword arguments
    are those of :func:`from_dataframe`. Errors about a row name its line in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"CSV file {path} not found (working directory {Path.cwd()}). Check the path."
        )
    # pandas reads separators longer than one character (regular expressions) with its slower
    # python engine only.
    engine = "c" if len(sep) == 1 else "python"
    try:
        df = pd.read_csv(
            path, sep=sep, encoding=encoding, dtype=dtype, parse_dates=parse_dates, engine=engine
        )
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{path} is empty. Expected a header line naming the columns, "
            "then one interaction per line."
        ) from None
    except pd.errors.ParserError as error:
        raise ValueError(_describe_malformed_csv(path, sep, encoding, error)) from None
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not valid {encoding} text ({error.reason} at byte {error.start}). "
            "Pass the file's encoding, for example encoding='latin-1'."
        ) from None
    return _from_table(
        df,
        RowSource(str(path), _csv_line_locator(path, sep, encoding)),
        user=user,
        item=item,
        rating=rating,
        timestamp=timestamp,
        **options,
    )


def read_parquet(
    path: str | Path,
    user: str = "user",
    item: str = "item",
    rating: str | None = "rating",
    timestamp: str | None = None,
    **options,
) -> RatingData:
    """Read a Parquet file into a :class:`RatingData`, as :func:`from_dataframe`.

    The keyword arguments are those of :func:`from_dataframe`. Errors name rows by their
    0-based position in the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"Parquet file {path} not found (working directory {Path.cwd()}). Check the path."
        )
    try:
        df = pd.read_parquet(path)
    except ValueError as error:
        raise ValueError(
            f"{path} could not be read as Parquet: {error}. "
            "Check that the file is a complete Parquet file."
        ) from None
    source = RowSource(str(path), lambda position: f"row {position}")
    return _from_table(
        df, source, user=user, item=item, rating=rating, timestamp=timestamp, **options
    )


def attach_test(
    data: RatingData,
    df: pd.DataFrame,
    user: str = "user",
    item: str = "item",
    rating: str | None = "rating",
    timestamp: str | None = None,
    *,
    duplicates: str = "error",
    split_name: str = "test",
    random: bool = False,
) -> RatingData:
    """Add the rows of ``df`` as a new split over the id maps of ``data``.

    Ids are looked up in ``data.user_ids`` and ``data.item_ids``. Ids that are not there raise
    ``ValueError`` naming them, because a model has no training rows for them. Ratings are
    checked against ``data.rating_scale``. The other arguments are those of
    :func:`from_dataframe`. A ``split_name`` that ``data`` already has raises ``ValueError``.

    Examples
    --------
    >>> train = pd.DataFrame({"user": [1, 2], "item": ["x", "y"], "rating": [3.0, 4.0]})
    >>> test = pd.DataFrame({"user": [2], "item": ["x"], "rating": [5.0]})
    >>> data = attach_test(from_dataframe(train), test)
    >>> data["test"].user.tolist(), data["test"].item.tolist()
    ([1], [0])
    """
    if split_name in data.splits:
        raise ValueError(
            f"RatingData {data.name!r} already has a split {split_name!r}. Pass another split_name."
        )
    check_duplicates_rule(duplicates)
    source = _dataframe_rows(df)
    columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    check_table(df, columns, source)
    rows = Interactions(
        known_ids(df, user, data.user_ids, "user", source, split_name),
        known_ids(df, item, data.item_ids, "item", source, split_name),
        None if rating is None else rating_values(df, rating, source, data.rating_scale),
        None if timestamp is None else timestamp_values(df, timestamp, source),
    )
    rows = resolve_duplicates(rows, data.n_items, duplicates, source, data.user_ids, data.item_ids)
    split = make_split(
        split_name,
        rows,
        data.n_users,
        data.n_items,
        random=random,
        user_features=data.user_features,
        item_features=data.item_features,
        rating_scale=data.rating_scale,
    )
    return data.with_split(split)


def _from_table(
    df: pd.DataFrame,
    source: RowSource,
    *,
    user: str,
    item: str,
    rating: str | None,
    timestamp: str | None,
    rating_scale: tuple[float, float] | None = None,
    duplicates: str = "error",
    split_name: str = "train",
    random: bool = False,
    user_features: pd.DataFrame | None = None,
    item_features: pd.DataFrame | None = None,
    name: str = "data",
) -> RatingData:
    scale = check_rating_scale(rating_scale)
    check_duplicates_rule(duplicates)
    columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    check_table(df, columns, source)

    user_index, user_ids = factorize_ids(df, user, "user", source)
    item_index, item_ids = factorize_ids(df, item, "item", source)
    rows = Interactions(
        user_index,
        item_index,
        None if rating is None else rating_values(df, rating, source, scale),
        None if timestamp is None else timestamp_values(df, timestamp, source),
    )
    rows = resolve_duplicates(rows, len(item_ids), duplicates, source, user_ids, item_ids)

    user_table = align_features(user_features, user_ids, "user")
    item_table = align_features(item_features, item_ids, "item")
    split = make_split(
        split_name,
        rows,
        len(user_ids),
        len(item_ids),
        random=random,
        user_features=user_table,
        item_features=item_table,
        rating_scale=scale,
    )
    return RatingData(
        {split_name: split},
        user_ids,
        item_ids,
        user_features=user_table,
        item_features=item_table,
        rating_scale=scale,
        name=name,
    )


def _dataframe_rows(df: pd.DataFrame) -> RowSource:
    def locate(position: int) -> str:
        return f"row {position} (index label {plain(df.index[position])!r})"

    return RowSource("DataFrame", locate)


def _csv_records(path: Path, sep: str, encoding: str):
    """Yield ``(line number, fields)`` for the header, then for each non-blank record.

    ``sep`` must be one character, as :mod:`csv` requires.
    """
    with open(path, newline="", encoding=encoding) as handle:
        reader = csv.reader(handle, delimiter=sep)
        header = next(reader, [])
        yield reader.line_num, header
        for fields in reader:
            if fields:
                yield reader.line_num, fields


def _csv_line_locator(path: Path, sep: str, encoding: str) -> Callable[[int], str]:
    """Map a 0-based data row position to its line in the file, reading the file only then."""

    def locate(position: int) -> str:
        if len(sep) != 1:
            return f"data row {position}"
        records = itertools.islice(_csv_records(path, sep, encoding), position + 1, None)
        record = next(records, None)
        return f"data row {position}" if record is None else f"line {record[0]}"

    return locate


def _describe_malformed_csv(path: Path, sep: str, encoding: str, error: Exception) -> str:
    reason = str(error).strip()
    if len(sep) != 1:
        return f"{path}: malformed CSV ({reason}). Fix the file, or pass the right sep."
    records = _csv_records(path, sep, encoding)
    _, header = next(records)
    bad = next(((line, fields) for line, fields in records if len(fields) != len(header)), None)
    if bad is None:
        return f"{path}: malformed CSV ({reason}). Fix the file, or pass the right sep."
    line, fields = bad
    return (
        f"{path}, line {line}: expected {len(header)} fields as in the header, got "
        f"{len(fields)}. Fix or remove that line, and quote fields that contain {sep!r}."
    )
