"""Tests of building RatingData from DataFrames, CSV files and Parquet files."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from causalrec_pyro.data import attach_test, from_dataframe, read_csv, read_parquet


@pytest.fixture
def ratings():
    return pd.DataFrame(
        {
            "user": ["b", "a", "b", "c"],
            "item": [20, 10, 10, 30],
            "rating": [4, 5, 3, 1],
            "time": [100, 200, 300, 400],
        }
    )


def test_ids_map_to_sorted_indices(ratings):
    data = from_dataframe(ratings)
    split = data["train"]
    assert data.user_ids.tolist() == ["a", "b", "c"]
    assert data.item_ids.tolist() == [10, 20, 30]
    assert split.user.tolist() == [1, 0, 1, 2]
    assert split.item.tolist() == [1, 0, 0, 2]
    assert split.rating.tolist() == [4.0, 5.0, 3.0, 1.0]


def test_column_dtypes(ratings):
    split = from_dataframe(ratings, timestamp="time")["train"]
    assert split.user.dtype == torch.long
    assert split.item.dtype == torch.long
    assert split.rating.dtype == torch.float32
    assert split.timestamp.dtype == torch.int64
    assert split.timestamp.tolist() == [100, 200, 300, 400]


def test_options_reach_the_split(ratings):
    data = from_dataframe(ratings, rating_scale=(1, 5), split_name="all", random=True, name="toy")
    assert data.name == "toy"
    assert data.rating_scale == (1.0, 5.0)
    assert data["all"].random is True
    assert data["all"].rating_scale == (1.0, 5.0)


def test_datetime_timestamps_become_seconds(ratings):
    times = pd.to_datetime(
        ["1970-01-01 00:01", "2000-01-01 00:00", "2000-01-02 00:00", "2000-01-03 00:00"]
    )
    split = from_dataframe(ratings.assign(time=times), timestamp="time")["train"]
    assert split.timestamp.dtype == torch.int64
    assert split.timestamp[0].item() == 60
    assert split.timestamp[1].item() == 946684800


def test_aware_datetimes_use_utc(ratings):
    times = pd.to_datetime(["2000-01-01 01:00+01:00"] * 4)
    split = from_dataframe(ratings.assign(time=times), timestamp="time")["train"]
    assert split.timestamp.tolist() == [946684800] * 4


def test_float_timestamps_stay_float(ratings):
    split = from_dataframe(ratings.assign(time=[0.5, 1.5, 2.5, 3.5]), timestamp="time")["train"]
    assert split.timestamp.dtype == torch.float64


def test_implicit_feedback_has_no_rating(ratings):
    split = from_dataframe(ratings, rating=None)["train"]
    assert split.rating is None
    assert len(split) == 4


def test_features_align_to_indices(ratings, caplog):
    users = pd.DataFrame({"age": [30.0, 10.0, 20.0, 99.0]}, index=["c", "a", "b", "unused"])
    with caplog.at_level(logging.INFO, logger="causalrec_pyro.data"):
        data = from_dataframe(ratings, user_features=users)
    assert data.user_features["age"].tolist() == [10.0, 20.0, 30.0]
    assert data.user_features.index.name == "user"
    assert data["train"].user_features is data.user_features
    assert "left out 1 rows whose user ids have no interaction" in caplog.text


def test_features_missing_id_raises(ratings):
    items = pd.DataFrame({"price": [1.0, 2.0]}, index=[10, 20])
    with pytest.raises(ValueError, match=r"item_features has no row for 1 item id\(s\).*\[30\]"):
        from_dataframe(ratings, item_features=items)


def test_features_non_numeric_raises(ratings):
    users = pd.DataFrame({"city": ["x", "y", "z"]}, index=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"non-numeric columns \['city'\].*get_dummies"):
        from_dataframe(ratings, user_features=users)


def test_features_repeated_id_raises(ratings):
    users = pd.DataFrame({"age": [1.0, 2.0, 3.0, 4.0]}, index=["a", "b", "c", "a"])
    with pytest.raises(ValueError, match=r"repeated user ids in its index, for example \['a'\]"):
        from_dataframe(ratings, user_features=users)


def test_duplicate_pair_raises_by_default(ratings):
    repeated = pd.concat([ratings, ratings.iloc[[0, 0]]], ignore_index=True)
    with pytest.raises(
        ValueError,
        match=r"row 4 \(index label 4\): the pair \(user 'b', item 20\) repeats row 0 "
        r"\(index label 0\)\. 2 of 6 rows repeat .*duplicates='last'",
    ):
        from_dataframe(repeated)


def test_duplicates_last_keeps_last_row(ratings, caplog):
    extra = pd.DataFrame({"user": ["b"], "item": [20], "rating": [1], "time": [50]})
    repeated = pd.concat([ratings, extra], ignore_index=True)
    with caplog.at_level(logging.INFO, logger="causalrec_pyro.data"):
        split = from_dataframe(repeated, timestamp="time", duplicates="last")["train"]
    assert len(split) == 4
    assert split.rating[0].item() == 1.0
    assert split.timestamp[0].item() == 50
    assert "merged 1 rows that repeat an earlier (user, item) pair" in caplog.text
    assert "so 5 rows became 4 interactions" in caplog.text


def test_duplicates_mean_averages(ratings):
    extra = pd.DataFrame({"user": ["b", "b"], "item": [20, 20], "rating": [1, 1], "time": [9, 1]})
    repeated = pd.concat([ratings, extra], ignore_index=True)
    split = from_dataframe(repeated, timestamp="time", duplicates="mean")["train"]
    assert len(split) == 4
    assert split.rating[0].item() == pytest.approx(2.0)
    assert split.timestamp[0].item() == 100


def test_duplicates_rule_is_checked(ratings):
    with pytest.raises(ValueError, match=r"duplicates must be one of .*got 'first'"):
        from_dataframe(ratings, duplicates="first")


def test_rating_outside_scale_raises(ratings):
    with pytest.raises(
        ValueError, match=r"row 3 \(index label 3\): rating 1 is outside the rating scale \[2, 5\]"
    ):
        from_dataframe(ratings, rating_scale=(2, 5))


def test_nan_rating_raises(ratings):
    ratings["rating"] = [4.0, np.nan, 3.0, np.nan]
    with pytest.raises(ValueError, match=r"row 1 .*rating .* is missing \(NaN in 2 of 4 rows\)"):
        from_dataframe(ratings)


def test_non_numeric_rating_raises(ratings):
    ratings["rating"] = ["4", "5", "good", "1"]
    with pytest.raises(ValueError, match=r"row 2 .*rating 'good' in column 'rating' is not"):
        from_dataframe(ratings)


def test_infinite_rating_raises(ratings):
    ratings["rating"] = [4.0, np.inf, 3.0, 1.0]
    with pytest.raises(ValueError, match=r"row 1 .*rating inf in column 'rating' is not finite"):
        from_dataframe(ratings)


def test_missing_column_raises(ratings):
    with pytest.raises(KeyError, match=r"has no column\(s\) \['stars'\]"):
        from_dataframe(ratings, rating="stars")


def test_empty_frame_raises(ratings):
    with pytest.raises(ValueError, match=r"DataFrame has no rows"):
        from_dataframe(ratings.iloc[:0])


def test_missing_id_raises(ratings):
    ratings["user"] = ["a", None, "b", "c"]
    with pytest.raises(ValueError, match=r"row 1 .*the user id in column 'user' is missing"):
        from_dataframe(ratings)


def test_non_frame_raises():
    with pytest.raises(TypeError, match=r"Expected a pandas DataFrame, got dict"):
        from_dataframe({"user": [1], "item": [1], "rating": [1]})


def test_bad_rating_scale_raises(ratings):
    with pytest.raises(ValueError, match=r"rating_scale must have lowest < highest, got \(5, 1\)"):
        from_dataframe(ratings, rating_scale=(5, 1))
    with pytest.raises(ValueError, match=r"rating_scale must be two numbers"):
        from_dataframe(ratings, rating_scale=5)


def test_missing_timestamp_raises(ratings):
    ratings["time"] = [1.0, 2.0, np.nan, 4.0]
    with pytest.raises(ValueError, match=r"row 2 .*the timestamp in column 'time' is missing"):
        from_dataframe(ratings, timestamp="time")


def test_text_timestamp_raises(ratings):
    ratings["time"] = ["monday", "tuesday", "x", "y"]
    with pytest.raises(ValueError, match=r"timestamp column 'time' has dtype .*pandas.to_datetime"):
        from_dataframe(ratings, timestamp="time")


def test_attach_test_uses_train_maps(ratings):
    data = from_dataframe(ratings, rating_scale=(1, 5))
    test = pd.DataFrame({"user": ["c", "a"], "item": [10, 30], "rating": [2, 3]})
    data = attach_test(data, test)
    assert set(data.splits) == {"train", "test"}
    assert data["test"].user.tolist() == [2, 0]
    assert data["test"].item.tolist() == [0, 2]
    assert data["test"].rating_scale == (1.0, 5.0)
    assert data["test"].random is False


def test_attach_test_unknown_ids_raise(ratings):
    data = from_dataframe(ratings)
    test = pd.DataFrame({"user": ["a", "z", "y", "z"], "item": [10, 10, 10, 20], "rating": 3})
    with pytest.raises(
        ValueError,
        match=r"2 user id\(s\) of split 'test' are not in the data's user map, for example "
        r"\['z', 'y'\] \(first at row 1 .*isin\(data.user_ids\)",
    ):
        attach_test(data, test)


def test_attach_test_checks_scale(ratings):
    data = from_dataframe(ratings, rating_scale=(1, 5))
    test = pd.DataFrame({"user": ["a"], "item": [10], "rating": [6]})
    with pytest.raises(ValueError, match=r"rating 6 is outside the rating scale \[1, 5\]"):
        attach_test(data, test)


def test_attach_test_rejects_existing_name(ratings):
    data = from_dataframe(ratings)
    with pytest.raises(ValueError, match=r"already has a split 'train'\. Pass another split_name"):
        attach_test(data, ratings, split_name="train")


def test_read_csv_round_trip(ratings, tmp_path):
    path = tmp_path / "ratings.csv"
    ratings.to_csv(path, index=False)
    data = read_csv(path, timestamp="time", rating_scale=(1, 5), name="csv")
    assert data.name == "csv"
    assert data.user_ids.tolist() == ["a", "b", "c"]
    assert data["train"].rating.tolist() == [4.0, 5.0, 3.0, 1.0]
    assert data["train"].timestamp.tolist() == [100, 200, 300, 400]


def test_read_csv_parses_dates(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating,time\n1,1,3,2000-01-01\n1,2,4,2000-01-02\n")
    with pytest.raises(ValueError, match=r"timestamp column 'time' has dtype .*parse_dates"):
        read_csv(path, timestamp="time")
    data = read_csv(path, timestamp="time", parse_dates=["time"])
    assert data["train"].timestamp.tolist() == [946684800, 946771200]


def test_read_csv_dtype_keeps_text_ids(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n007,1,3\n7,1,4\n")
    data = read_csv(path, dtype={"user": str})
    assert data.user_ids.tolist() == ["007", "7"]


def test_read_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CSV file .*nothing\.csv not found"):
        read_csv(tmp_path / "nothing.csv")


def test_read_csv_malformed_row_names_line(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n1,1,3\n\n1,2,4,9\n")
    with pytest.raises(
        ValueError, match=r"ratings\.csv, line 4: expected 3 fields as in the header, got 4"
    ):
        read_csv(path)


def test_read_csv_missing_rating_names_line(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text('user,item,rating\n1,1,3\n\n"a\nb",2,4\n2,2\n')
    with pytest.raises(ValueError, match=r"ratings\.csv, line 6: the rating .* is missing"):
        read_csv(path)


def test_read_csv_long_separator(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user::item::rating\n1::1::3\n1::2::9\n")
    assert read_csv(path, sep="::")["train"].rating.tolist() == [3.0, 9.0]
    with pytest.raises(ValueError, match=r"ratings\.csv, data row 1: rating 9 is outside"):
        read_csv(path, sep="::", rating_scale=(1, 5))


def test_read_csv_scale_error_names_line(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n1,1,3\n1,2,7\n")
    with pytest.raises(ValueError, match=r"ratings\.csv, line 3: rating 7 is outside"):
        read_csv(path, rating_scale=(1, 5))


def test_read_csv_duplicate_names_lines(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n1,1,3\n1,2,4\n1,1,5\n")
    with pytest.raises(ValueError, match=r"line 4: the pair \(user 1, item 1\) repeats line 2"):
        read_csv(path)


def test_read_csv_empty_file(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"ratings\.csv is empty\. Expected a header line"):
        read_csv(path)


def test_read_csv_header_only(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n")
    with pytest.raises(ValueError, match=r"ratings\.csv has no rows"):
        read_csv(path)


def test_read_csv_wrong_encoding(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes("user,item,rating\nJosé,1,3\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"is not valid utf-8 text .*encoding='latin-1'"):
        read_csv(path)
    assert read_csv(path, encoding="latin-1").user_ids.tolist() == ["José"]


def test_read_parquet_round_trip(ratings, tmp_path):
    path = tmp_path / "ratings.parquet"
    ratings.to_parquet(path)
    data = read_parquet(path, timestamp="time", duplicates="error")
    assert data.item_ids.tolist() == [10, 20, 30]
    assert data["train"].timestamp.tolist() == [100, 200, 300, 400]


def test_read_parquet_error_names_row(ratings, tmp_path):
    path = tmp_path / "ratings.parquet"
    ratings.to_parquet(path)
    with pytest.raises(ValueError, match=r"ratings\.parquet, row 0: rating 4 is outside"):
        read_parquet(path, rating_scale=(1, 3))


def test_read_parquet_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Parquet file .*none\.parquet not found"):
        read_parquet(tmp_path / "none.parquet")


def test_read_parquet_not_parquet(tmp_path):
    path = tmp_path / "ratings.parquet"
    path.write_text("user,item,rating\n1,1,3\n")
    with pytest.raises(ValueError, match=r"could not be read as Parquet"):
        read_parquet(path)
