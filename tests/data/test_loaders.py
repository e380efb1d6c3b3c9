"""Tests of the Coat and MovieLens 100K loaders.

Small valid and malformed copies of each format are written into ``tmp_path``. Tests of the
real data sets read them through the ``shared_data`` fixture and skip when they are absent.
"""

import numpy as np
import pytest
import torch

from causalrec_pyro.data import load_coat, load_movielens

# A Coat folder with 3 users and 4 items, in Coat's format: CRLF lines, map files without a
# trailing newline.
COAT = {
    "train.ascii": "0 2 0 5\r\n1 0 0 0\r\n0 0 3 4\r\n",
    "test.ascii": "3 0 0 0\r\n0 1 0 0\r\n0 0 0 2\r\n",
    "propensities.ascii": "0.1 0.2 0.3 0.4\r\n0.5 0.6 0.7 0.8\r\n0.9 1.0 0.05 0.25\r\n",
    "user_item_features/user_features.ascii": "1 0\r\n0 1\r\n1 0\r\n",
    "user_item_features/user_features_map.txt": "gender:men\r\ngender:women",
    "user_item_features/item_features.ascii": "1 0 0\r\n0 1 0\r\n0 0 1\r\n1 0 0\r\n",
    "user_item_features/item_features_map.txt": "color:red\r\ncolor:blue\r\ncolor:other",
}

# A MovieLens folder with 3 users, 4 items and 2 genres, in the ml-100k format.
MOVIELENS = {
    "u.genre": "unknown|0\nAction|1\n\n",
    "u.occupation": "artist\nnone\nwriter\n",
    "u.user": "2|30|F|writer|T8H1N\n1|24|M|artist|85711\n3|41|M|none|02139\n",
    "u.item": (
        "1|Toy Story (1995)|01-Jan-1995||http://a|0|1\n"
        "2|Misérables, Les (1995)|4-Feb-1971||http://b|0|0\n"
        "3|unknown||||1|0\n"
        "4|Heat (1995)|15-Dec-1995||http://d|0|1\n"
    ),
    "u.data": (
        "1\t1\t5\t881250949\n1\t2\t3\t881250950\n1\t3\t4\t881250951\n1\t4\t1\t881250952\n"
        "2\t1\t2\t891717742\n2\t2\t5\t891717743\n2\t3\t4\t891717744\n"
        "2\t4\t3\t891717745\n3\t1\t4\t878887116\n3\t2\t2\t878887117\n"
    ),
}


def write_folder(folder, files, **changes):
    """Write ``files`` with ``changes`` applied (a value of None leaves the file out)."""
    for name, text in {**files, **changes}.items():
        if text is None:
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        encoding = "latin-1" if name == "u.item" else "utf-8"
        path.write_bytes(text.encode(encoding))
    return folder


def write_movielens(folder, **changes):
    return write_folder(folder, MOVIELENS, **changes)


def test_coat_small_folder(tmp_path):
    data = load_coat(write_folder(tmp_path, COAT))
    train, test = data["train"], data["test"]
    assert data.name == "coat"
    assert (data.n_users, data.n_items) == (3, 4)
    assert data.user_ids.tolist() == [0, 1, 2]
    assert train.user.tolist() == [0, 0, 1, 2, 2]
    assert train.item.tolist() == [1, 3, 0, 2, 3]
    assert train.rating.tolist() == [2.0, 5.0, 1.0, 3.0, 4.0]
    assert train.propensity.tolist() == pytest.approx([0.2, 0.4, 0.5, 0.05, 0.25])
    assert train.random is False
    assert test.random is True
    assert test.propensity.tolist() == pytest.approx([0.1, 0.6, 0.25])
    assert data.propensities.shape == (3, 4)
    assert data.propensities.dtype == torch.float32
    assert data.rating_scale == (1.0, 5.0)
    assert list(data.user_features.columns) == ["gender:men", "gender:women"]
    assert list(data.item_features.columns) == ["color:red", "color:blue", "color:other"]
    assert train.to_kwargs()["item_features"].shape == (4, 3)


def test_coat_missing_files(tmp_path):
    write_folder(tmp_path, COAT, **{"test.ascii": None, "propensities.ascii": None})
    with pytest.raises(
        FileNotFoundError, match=r"Coat folder .* is missing test.ascii, propensities.ascii\."
    ):
        load_coat(tmp_path)


def test_coat_missing_folder(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"Coat folder .*absent not found\. Expected the files train\.ascii, .*\. Unpack Coat",
    ):
        load_coat(tmp_path / "absent")


def test_coat_short_line(tmp_path):
    write_folder(tmp_path, COAT, **{"train.ascii": "0 2 0 5\r\n1 0 0\r\n0 0 3 4\r\n"})
    with pytest.raises(
        ValueError, match=r"train\.ascii, line 2: expected 4 numbers as on the first line, got 3"
    ):
        load_coat(tmp_path)


def test_coat_text_value(tmp_path):
    write_folder(tmp_path, COAT, **{"test.ascii": "3 0 0 0\r\n0 1 0 0\r\n0 x 0 2\r\n"})
    with pytest.raises(ValueError, match=r"test\.ascii, line 3: 'x' is not a number"):
        load_coat(tmp_path)


@pytest.mark.parametrize("value", ["7", "2.5", "-1", "nan"])
def test_coat_invalid_rating(tmp_path, value):
    write_folder(tmp_path, COAT, **{"train.ascii": f"0 2 0 5\r\n\r\n1 0 {value} 0\r\n0 0 3 4\r\n"})
    with pytest.raises(
        ValueError,
        match=r"train\.ascii, line 3, column 3: rating \S+ is invalid \(1 invalid values\)\. "
        r"Expected an integer from 0 to 5",
    ):
        load_coat(tmp_path)


def test_coat_shapes_disagree(tmp_path):
    write_folder(tmp_path, COAT, **{"test.ascii": "3 0 0 0\r\n0 1 0 0\r\n"})
    with pytest.raises(
        ValueError,
        match=r"the matrices differ in shape, train\.ascii \(3, 4\), test\.ascii \(2, 4\)",
    ):
        load_coat(tmp_path)


def test_coat_invalid_propensity(tmp_path):
    text = "0.1 0.2 0.3 0.4\r\n0.5 0 0.7 0.8\r\n0.9 1.0 0.05 0.25\r\n"
    write_folder(tmp_path, COAT, **{"propensities.ascii": text})
    with pytest.raises(
        ValueError, match=r"propensities\.ascii, line 2, column 2: propensity 0 is invalid"
    ):
        load_coat(tmp_path)


def test_coat_empty_file(tmp_path):
    write_folder(tmp_path, COAT, **{"train.ascii": "\r\n"})
    with pytest.raises(ValueError, match=r"train\.ascii is empty"):
        load_coat(tmp_path)


def test_coat_no_ratings(tmp_path):
    write_folder(tmp_path, COAT, **{"test.ascii": "0 0 0 0\r\n0 0 0 0\r\n0 0 0 0\r\n"})
    with pytest.raises(ValueError, match=r"test\.ascii has no ratings"):
        load_coat(tmp_path)


def test_coat_feature_rows_disagree(tmp_path):
    write_folder(tmp_path, COAT, **{"user_item_features/user_features.ascii": "1 0\r\n0 1\r\n"})
    with pytest.raises(ValueError, match=r"user_features\.ascii has 2 rows, expected 3"):
        load_coat(tmp_path)


def test_coat_feature_names_disagree(tmp_path):
    write_folder(tmp_path, COAT, **{"user_item_features/user_features_map.txt": "gender:men"})
    with pytest.raises(
        ValueError, match=r"user_features_map\.txt has 1 names, but .*user_features\.ascii has 2"
    ):
        load_coat(tmp_path)


def test_coat_feature_name_blank(tmp_path):
    names = "color:red\r\n\r\ncolor:other"
    write_folder(tmp_path, COAT, **{"user_item_features/item_features_map.txt": names})
    with pytest.raises(ValueError, match=r"item_features_map\.txt, line 2 is blank"):
        load_coat(tmp_path)


def test_movielens_small_folder(tmp_path):
    data = load_movielens(write_movielens(tmp_path), test_fraction=0.25, seed=1)
    assert data.name == "movielens"
    assert data.user_ids.tolist() == [1, 2, 3]
    assert data.item_ids.tolist() == [1, 2, 3, 4]
    assert len(data["train"]) + len(data["test"]) == 10
    assert np.bincount(data["test"].user.numpy(), minlength=3).tolist() == [1, 1, 1]
    assert data["train"].timestamp.dtype == torch.int64
    assert data["train"].random is False
    assert data["test"].random is False
    assert data.rating_scale == (1.0, 5.0)

    users = data.user_features
    assert users["gender"].tolist() == [0.0, 1.0, 0.0]
    assert users["age"].tolist() == [24.0, 30.0, 41.0]
    assert list(users.columns[2:]) == ["occupation_artist", "occupation_none", "occupation_writer"]
    assert users["occupation_writer"].tolist() == [0.0, 1.0, 0.0]
    assert data.user_info["zip_code"].tolist() == ["85711", "T8H1N", "02139"]

    items = data.item_features
    assert list(items.columns) == ["genre_unknown", "genre_Action", "year"]
    assert items["genre_Action"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert items["year"].iloc[[0, 1, 3]].tolist() == [1995.0, 1971.0, 1995.0]
    assert np.isnan(items["year"].iloc[2])
    assert data.item_info["title"].iloc[1] == "Misérables, Les (1995)"


def test_movielens_missing_files(tmp_path):
    write_movielens(tmp_path, **{"u.item": None})
    with pytest.raises(FileNotFoundError, match=r"MovieLens folder .* is missing u\.item\. "):
        load_movielens(tmp_path)


def test_movielens_short_line(tmp_path):
    write_movielens(tmp_path, **{"u.data": "1\t1\t5\t881250949\n1\t2\t3\n"})
    with pytest.raises(
        ValueError, match=r"u\.data, line 2: expected 4 fields separated by '\\t', got 3"
    ):
        load_movielens(tmp_path)


def test_movielens_rating_outside_scale(tmp_path):
    write_movielens(tmp_path, **{"u.data": "1\t1\t5\t881250949\n1\t2\t6\t881250950\n"})
    with pytest.raises(ValueError, match=r"u\.data, line 2: rating 6 is outside the rating scale"):
        load_movielens(tmp_path)


def test_movielens_unknown_user(tmp_path):
    write_movielens(tmp_path, **{"u.data": "1\t1\t5\t881250949\n9\t2\t4\t881250950\n"})
    with pytest.raises(ValueError, match=r"u\.data, line 2: user id 9 is not in u\.user"):
        load_movielens(tmp_path)


def test_movielens_repeated_pair(tmp_path):
    ratings = "1\t1\t5\t881250949\n2\t4\t1\t881250952\n1\t2\t3\t881250950\n2\t4\t2\t1\n"
    write_movielens(tmp_path, **{"u.data": ratings})
    with pytest.raises(
        ValueError,
        match=r"u\.data, line 4: the pair \(user 2, item 4\) repeats line 2\. 1 of 4 rows",
    ):
        load_movielens(tmp_path)


def test_movielens_text_rating(tmp_path):
    write_movielens(tmp_path, **{"u.data": "1\t1\tfive\t881250949\n"})
    with pytest.raises(ValueError, match=r"u\.data, line 1: rating 'five' is not an integer"):
        load_movielens(tmp_path)


def test_movielens_invalid_gender(tmp_path):
    write_movielens(tmp_path, **{"u.user": "1|24|M|artist|85711\n2|30|X|writer|1\n"})
    with pytest.raises(ValueError, match=r"u\.user, line 2: gender 'X' is invalid"):
        load_movielens(tmp_path)


def test_movielens_unknown_occupation(tmp_path):
    write_movielens(tmp_path, **{"u.user": "1|24|M|pilot|85711\n"})
    with pytest.raises(ValueError, match=r"u\.user, line 1: occupation 'pilot' is invalid"):
        load_movielens(tmp_path)


def test_movielens_repeated_user(tmp_path):
    write_movielens(tmp_path, **{"u.user": "1|24|M|artist|1\n2|30|F|writer|2\n1|5|F|none|3\n"})
    with pytest.raises(ValueError, match=r"u\.user, line 3: user id 1 is listed twice"):
        load_movielens(tmp_path)


def test_movielens_invalid_release_date(tmp_path):
    items = MOVIELENS["u.item"].replace("15-Dec-1995", "1995-12-15")
    write_movielens(tmp_path, **{"u.item": items})
    with pytest.raises(ValueError, match=r"u\.item, line 4: release date '1995-12-15' is invalid"):
        load_movielens(tmp_path)


def test_movielens_invalid_genre_flag(tmp_path):
    items = MOVIELENS["u.item"].replace("http://b|0|0", "http://b|0|2")
    write_movielens(tmp_path, **{"u.item": items})
    with pytest.raises(ValueError, match=r"u\.item, line 2: the flag of genre 'Action' is '2'"):
        load_movielens(tmp_path)


def test_movielens_wrong_genre_count(tmp_path):
    write_movielens(tmp_path, **{"u.genre": "unknown|0\nAction|1\nDrama|2\n"})
    with pytest.raises(ValueError, match=r"u\.item, line 1: expected 8 fields separated by '\|'"):
        load_movielens(tmp_path)


def test_movielens_bad_genre_index(tmp_path):
    write_movielens(tmp_path, **{"u.genre": "unknown|0\nAction|2\n"})
    with pytest.raises(ValueError, match=r"u\.genre: the genre indices are \[0, 2\], expected 0"):
        load_movielens(tmp_path)


def test_movielens_empty_ratings(tmp_path):
    write_movielens(tmp_path, **{"u.data": "\n"})
    with pytest.raises(ValueError, match=r"u\.data has no data lines"):
        load_movielens(tmp_path)


@pytest.fixture(scope="module")
def coat(shared_data):
    if not (shared_data / "coat").is_dir():
        pytest.skip(f"Coat is not in {shared_data}")
    return load_coat(shared_data / "coat")


@pytest.fixture(scope="module")
def movielens(shared_data):
    if not (shared_data / "ml-100k").is_dir():
        pytest.skip(f"MovieLens 100K is not in {shared_data}")
    return load_movielens(shared_data / "ml-100k")


def test_real_coat_counts(coat):
    train, test = coat["train"], coat["test"]
    assert (coat.n_users, coat.n_items) == (290, 300)
    assert len(train) == 6960
    assert len(test) == 4640
    assert set(np.bincount(train.user.numpy()).tolist()) == {24}
    assert set(np.bincount(test.user.numpy()).tolist()) == {16}
    assert np.bincount(train.rating.numpy().astype(int))[1:].tolist() == [
        1901,
        1437,
        1717,
        1275,
        630,
    ]
    assert np.bincount(test.rating.numpy().astype(int))[1:].tolist() == [1879, 899, 1002, 641, 219]
    assert train.random is False
    assert test.random is True


def test_real_coat_propensities(coat):
    propensities = coat.propensities
    assert propensities.shape == (290, 300)
    assert propensities.min().item() == pytest.approx(0.002527, abs=1e-6)
    assert propensities.max().item() == pytest.approx(0.6903, abs=1e-4)
    train = coat["train"]
    assert torch.equal(train.propensity, propensities[train.user, train.item])


def test_real_coat_features(coat):
    assert coat.user_features.shape == (290, 14)
    assert coat.item_features.shape == (300, 33)
    assert set(coat.user_features.sum(axis=1).tolist()) == {4.0}
    assert set(coat.item_features.sum(axis=1).tolist()) == {4.0}
    assert coat.user_features.columns[-1] == "fashioninterest:very"
    assert coat.item_features.columns[-1] == "onfrontpage:no"


def test_real_coat_overlap_agrees(coat):
    train, test = coat["train"], coat["test"]
    train_pairs = dict(zip(zip(train.user.tolist(), train.item.tolist()), train.rating.tolist()))
    shared = [
        (pair, r)
        for pair, r in zip(zip(test.user.tolist(), test.item.tolist()), test.rating.tolist())
        if pair in train_pairs
    ]
    assert len(shared) == 366
    assert all(train_pairs[pair] == r for pair, r in shared)


def test_real_movielens_counts(movielens):
    train, test = movielens["train"], movielens["test"]
    assert (movielens.n_users, movielens.n_items) == (943, 1682)
    assert len(train) + len(test) == 100_000
    assert len(test) == pytest.approx(20_000, abs=500)
    ratings = torch.cat([train.rating, test.rating]).numpy().astype(int)
    assert np.bincount(ratings)[1:].tolist() == [6110, 11370, 27145, 34174, 21201]
    times = torch.cat([train.timestamp, test.timestamp])
    assert (times.min().item(), times.max().item()) == (874724710, 893286638)
    assert np.bincount(test.user.numpy(), minlength=943).min() >= 4


def test_real_movielens_features(movielens):
    users, items = movielens.user_features, movielens.item_features
    assert int((users["gender"] == 0.0).sum()) == 670
    assert int((users["gender"] == 1.0).sum()) == 273
    assert (users["age"].min(), users["age"].max()) == (7.0, 73.0)
    assert sum(column.startswith("occupation_") for column in users.columns) == 21
    assert sum(column.startswith("genre_") for column in items.columns) == 19
    assert items["year"].isna().sum() == 1
    assert np.isnan(items["year"].iloc[movielens.item_index(267).item()])


def test_real_movielens_latin1_title(movielens):
    index = movielens.item_index(543).item()
    assert movielens.item_info["title"].iloc[index] == "Misérables, Les (1995)"


def test_real_movielens_split_is_seeded(shared_data, movielens):
    again = load_movielens(shared_data / "ml-100k", seed=0)
    other = load_movielens(shared_data / "ml-100k", seed=1)
    assert torch.equal(again["test"].item, movielens["test"].item)
    assert not torch.equal(other["test"].item[:100], movielens["test"].item[:100])


def test_coat_folder_without_any_file_says_so(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(FileNotFoundError, match=r"Coat folder .* is missing all of its files"):
        load_coat(tmp_path / "elsewhere")
