"""Tests of the per-user ranking metrics and of evaluate."""

import math

import numpy as np
import pytest
import torch

from causalrec_pyro.evaluation import auc, evaluate, mae, mse, ndcg_at_k, recall_at_k

# Hand-computed AUC case, threshold 4:
# user 0, rows 0-3: scores 0.9, 0.4, 0.4, 0.1 and ratings 5, 4, 2, 1, so the positives score
#   {0.9, 0.4} and the negatives {0.4, 0.1}. Pairs: 0.9>0.4 = 1, 0.9>0.1 = 1, 0.4=0.4 = 1/2,
#   0.4>0.1 = 1, so AUC_0 = 3.5 / 4 = 0.875.
# user 1, rows 4-6: scores 0.2, 0.8, 0.5 and ratings 4, 1, 3. Its one positive (0.2) scores
#   below both negatives, so AUC_1 = 0 / 2 = 0.
# user 2, rows 7-8: ratings 5, 5 are all positive, so the user has no negative and is left out.
# AUC = (0.875 + 0) / 2 = 0.4375.
AUC_USER = [0, 0, 0, 0, 1, 1, 1, 2, 2]
AUC_SCORE = [0.9, 0.4, 0.4, 0.1, 0.2, 0.8, 0.5, 0.3, 0.6]
AUC_RATING = [5, 4, 2, 1, 4, 1, 3, 5, 5]

# Hand-computed NDCG@2 and Recall@2 case, threshold 4:
# user 0, rows 0-2: scores 0.1, 0.9, 0.5 and ratings 5, 1, 4, so relevance 1, 0, 1. Ranked by
#   score: row 1 (rel 0), row 2 (rel 1), row 0 (rel 1).
#   DCG@2 = 0 / log2(2) + 1 / log2(3) = 0.6309, IDCG@2 = 1 + 1 / log2(3) = 1.6309,
#   NDCG_0 = 0.3869. Recall_0 = 1 hit / 2 positives = 0.5.
# user 1, rows 3-4: scores 0.3, 0.7 and ratings 4, 2. Ranked: row 4 (rel 0), row 3 (rel 1).
#   DCG@2 = 1 / log2(3) = 0.6309, IDCG@2 = 1, NDCG_1 = 0.6309. Recall_1 = 1 / 1 = 1.
# user 2, rows 5-6: ratings 1, 2 have no positive, so the user is left out.
# NDCG@2 = (0.3869 + 0.6309) / 2 = 0.5089 and Recall@2 = (0.5 + 1) / 2 = 0.75.
TOP_K_USER = [0, 0, 0, 1, 1, 2, 2]
TOP_K_SCORE = [0.1, 0.9, 0.5, 0.3, 0.7, 0.8, 0.2]
TOP_K_RATING = [5, 1, 4, 4, 2, 1, 2]
DISCOUNT_2 = 1.0 / math.log2(3.0)
EXPECTED_NDCG_2 = (DISCOUNT_2 / (1.0 + DISCOUNT_2) + DISCOUNT_2) / 2.0
EXPECTED_RECALL_2 = 0.75


def reference_metrics(user, score, rating, k, threshold):
    """Compute AUC, NDCG@k and Recall@k with a plain loop over users."""
    aucs, ndcgs, recalls = [], [], []
    for current_user in set(user):
        rows = [row for row in range(len(user)) if user[row] == current_user]
        positive_scores = [score[row] for row in rows if rating[row] >= threshold]
        negative_scores = [score[row] for row in rows if rating[row] < threshold]

        if positive_scores and negative_scores:
            wins = 0.0
            for positive in positive_scores:
                for negative in negative_scores:
                    if positive > negative:
                        wins += 1.0
                    elif positive == negative:
                        wins += 0.5
            aucs.append(wins / (len(positive_scores) * len(negative_scores)))

        if positive_scores:
            ranked_rows = sorted(rows, key=lambda row: (-score[row], row))
            top_rows = ranked_rows[:k]
            dcg = 0.0
            for rank, row in enumerate(top_rows, start=1):
                if rating[row] >= threshold:
                    dcg += 1.0 / math.log2(rank + 1)
            idcg = sum(
                1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(positive_scores)) + 1)
            )
            hits = sum(1 for row in top_rows if rating[row] >= threshold)
            ndcgs.append(dcg / idcg)
            recalls.append(hits / len(positive_scores))

    return sum(aucs) / len(aucs), sum(ndcgs) / len(ndcgs), sum(recalls) / len(recalls)


def test_auc_hand_computed():
    assert auc(AUC_USER, AUC_SCORE, AUC_RATING) == pytest.approx(0.4375, rel=1e-12)


def test_ndcg_at_k_hand_computed():
    result = ndcg_at_k(TOP_K_USER, TOP_K_SCORE, TOP_K_RATING, k=2)
    assert result == pytest.approx(EXPECTED_NDCG_2, rel=1e-12)


def test_recall_at_k_hand_computed():
    result = recall_at_k(TOP_K_USER, TOP_K_SCORE, TOP_K_RATING, k=2)
    assert result == pytest.approx(EXPECTED_RECALL_2, rel=1e-12)


def test_top_k_with_k_above_item_count():
    # With k = 10 every item is in the top k: Recall = 1 for both users. NDCG_0 puts the
    # positives at ranks 2 and 3: (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3)); NDCG_1 = 1/log2(3).
    ndcg_0 = (DISCOUNT_2 + 0.5) / (1.0 + DISCOUNT_2)
    expected_ndcg = (ndcg_0 + DISCOUNT_2) / 2.0

    ndcg = ndcg_at_k(TOP_K_USER, TOP_K_SCORE, TOP_K_RATING, k=10)
    recall = recall_at_k(TOP_K_USER, TOP_K_SCORE, TOP_K_RATING, k=10)

    assert ndcg == pytest.approx(expected_ndcg, rel=1e-12)
    assert recall == pytest.approx(1.0, rel=1e-12)


def test_ranking_ties_follow_row_order():
    # Both items score 0.5, so the earlier row ranks first. With the negative first, the top 1
    # contains no positive. With the positive first, it contains the only positive.
    negative_first = {"user": [0, 0], "score": [0.5, 0.5], "rating": [1, 5]}
    positive_first = {"user": [0, 0], "score": [0.5, 0.5], "rating": [5, 1]}

    assert ndcg_at_k(**negative_first, k=1) == 0.0
    assert recall_at_k(**negative_first, k=1) == 0.0
    assert ndcg_at_k(**positive_first, k=1) == 1.0
    assert recall_at_k(**positive_first, k=1) == 1.0


def test_auc_tie_counts_half_in_any_row_order():
    assert auc([0, 0], [0.5, 0.5], [1, 5]) == 0.5
    assert auc([0, 0], [0.5, 0.5], [5, 1]) == 0.5


def test_top_k_skips_users_without_positive():
    # User 7 has only negatives, so adding it must not change the averages.
    user = TOP_K_USER + [7, 7, 7]
    score = TOP_K_SCORE + [0.9, 0.5, 0.1]
    rating = TOP_K_RATING + [1, 2, 3]

    assert ndcg_at_k(user, score, rating, k=2) == pytest.approx(EXPECTED_NDCG_2, rel=1e-12)
    assert recall_at_k(user, score, rating, k=2) == pytest.approx(EXPECTED_RECALL_2, rel=1e-12)


def test_auc_skips_users_with_one_class():
    # User 8 has only negatives and user 2 only positives, so neither changes the average.
    user = AUC_USER + [8, 8]
    score = AUC_SCORE + [0.1, 0.2]
    rating = AUC_RATING + [1, 1]
    assert auc(user, score, rating) == pytest.approx(0.4375, rel=1e-12)


def test_ranking_ignores_grouping_and_ids():
    # Interleave the users' rows and relabel them with sparse ids and with strings.
    permutation = [6, 0, 4, 2, 5, 1, 3]
    score = [TOP_K_SCORE[row] for row in permutation]
    rating = [TOP_K_RATING[row] for row in permutation]
    sparse_ids = {0: 1001, 1: -5, 2: 42}
    string_ids = {0: "alice", 1: "bob", 2: "carol"}
    sparse_user = [sparse_ids[TOP_K_USER[row]] for row in permutation]
    string_user = [string_ids[TOP_K_USER[row]] for row in permutation]

    for user in (sparse_user, np.array(string_user), torch.tensor(sparse_user)):
        assert ndcg_at_k(user, score, rating, k=2) == pytest.approx(EXPECTED_NDCG_2, rel=1e-12)
        assert recall_at_k(user, score, rating, k=2) == pytest.approx(EXPECTED_RECALL_2, rel=1e-12)


def test_auc_accepts_tensors():
    user = torch.tensor(AUC_USER)
    score = torch.tensor(AUC_SCORE, dtype=torch.float32)
    rating = torch.tensor(AUC_RATING)

    result = auc(user, score, rating)

    assert type(result) is float
    assert result == pytest.approx(0.4375, rel=1e-12)


@pytest.mark.parametrize("k, threshold", [(1, 4.0), (3, 4.0), (5, 3.0), (50, 5.0)])
def test_ranking_matches_reference_loop(k, threshold):
    rng = np.random.default_rng(1234 + k)
    num_rows = 400
    user = rng.integers(0, 40, size=num_rows).tolist()
    # Scores on a coarse grid, so many items of one user tie.
    score = np.round(rng.uniform(0.0, 1.0, size=num_rows), 1).tolist()
    rating = rng.integers(1, 6, size=num_rows).tolist()
    expected_auc, expected_ndcg, expected_recall = reference_metrics(
        user, score, rating, k, threshold
    )

    assert auc(user, score, rating, threshold) == pytest.approx(expected_auc, rel=1e-12)
    assert ndcg_at_k(user, score, rating, k, threshold) == pytest.approx(expected_ndcg, rel=1e-12)
    assert recall_at_k(user, score, rating, k, threshold) == pytest.approx(
        expected_recall, rel=1e-12
    )


def test_evaluate_returns_every_metric():
    result = evaluate(AUC_USER, AUC_SCORE, AUC_RATING, k=2)

    assert list(result) == ["mse", "mae", "auc", "ndcg@2", "recall@2"]
    assert all(type(value) is float for value in result.values())
    assert result["mse"] == pytest.approx(mse(AUC_SCORE, AUC_RATING), rel=1e-12)
    assert result["mae"] == pytest.approx(mae(AUC_SCORE, AUC_RATING), rel=1e-12)
    assert result["auc"] == pytest.approx(0.4375, rel=1e-12)
    assert result["ndcg@2"] == pytest.approx(ndcg_at_k(AUC_USER, AUC_SCORE, AUC_RATING, k=2))
    assert result["recall@2"] == pytest.approx(recall_at_k(AUC_USER, AUC_SCORE, AUC_RATING, k=2))


def test_evaluate_names_prediction_in_errors():
    with pytest.raises(
        ValueError, match=r"prediction contains 1 NaN value\(s\), the first at row 0"
    ):
        evaluate([0, 0], [float("nan"), 1.0], [5, 1])


def test_auc_rejects_no_qualifying_user():
    message = (
        r"auc needs at least one user with both a positive \(rating >= 4.0\) and a negative "
        r"\(rating < 4.0\) test item; none of the 2 users has both\."
    )
    with pytest.raises(ValueError, match=message):
        auc([0, 0, 1], [0.1, 0.2, 0.3], [5, 4, 1])


@pytest.mark.parametrize("metric", [ndcg_at_k, recall_at_k])
def test_top_k_rejects_no_positive(metric):
    message = (
        rf"{metric.__name__} needs at least one user with a positive test item "
        r"\(rating >= 4.0\); none of the 2 users has one\."
    )
    with pytest.raises(ValueError, match=message):
        metric([0, 1], [0.1, 0.2], [1, 3])


@pytest.mark.parametrize("metric", [ndcg_at_k, recall_at_k, evaluate])
def test_ranking_rejects_k_below_one(metric):
    with pytest.raises(ValueError, match="k must be at least 1; got k=0"):
        metric([0, 0], [0.1, 0.2], [5, 1], k=0)


@pytest.mark.parametrize("k", [2.0, True, "5"])
def test_ranking_rejects_non_integer_k(k):
    with pytest.raises(TypeError, match="k must be an int"):
        ndcg_at_k([0, 0], [0.1, 0.2], [5, 1], k=k)


def test_ranking_rejects_length_mismatch():
    message = "user, score and rating must have the same length; got lengths user=3, score=2"
    with pytest.raises(ValueError, match=message):
        recall_at_k([0, 0, 1], [0.1, 0.2], [5, 1, 4])


def test_ranking_rejects_nan_score():
    with pytest.raises(ValueError, match=r"score contains 1 NaN value\(s\), the first at row 1"):
        auc([0, 0], [0.1, float("nan")], [5, 1])


def test_ranking_rejects_nan_user():
    with pytest.raises(ValueError, match=r"user contains 1 NaN value\(s\), the first at row 0"):
        auc([float("nan"), 0.0], [0.1, 0.2], [5, 1])


def test_ranking_rejects_2d_user():
    with pytest.raises(ValueError, match=r"user must be a 1-D array .* got shape \(1, 2\)"):
        auc([[0, 0]], [0.1, 0.2], [5, 1])


def test_ranking_rejects_mixed_user_ids():
    user = np.array([0, "a"], dtype=object)
    with pytest.raises(TypeError, match="user ids must be all numbers or all strings"):
        auc(user, [0.1, 0.2], [5, 1])
