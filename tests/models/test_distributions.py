import pyro.distributions as dist
import pytest
import torch

from causalrec_pyro.models import RatingLevels, ordinal_probs


@pytest.fixture
def levels():
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.25, 0.15], [0.5, 0.1, 0.1, 0.1, 0.2]])
    return RatingLevels(probs, low=1.0)


def test_log_prob_matches_categorical(levels):
    value = torch.tensor([3.0, 5.0])
    expected = dist.Categorical(probs=levels.probs).log_prob(torch.tensor([2, 4]))
    torch.testing.assert_close(levels.log_prob(value), expected)


def test_mean_and_variance(levels):
    grid = torch.arange(1.0, 6.0)
    mean = (levels.probs * grid).sum(-1)
    torch.testing.assert_close(levels.mean, mean)
    torch.testing.assert_close(levels.variance, (levels.probs * grid**2).sum(-1) - mean**2)


def test_enumerate_support_lists_levels(levels):
    support = levels.enumerate_support(expand=False)
    assert support.shape == (5, 1)
    assert support.squeeze(-1).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_cdf_steps_and_icdf_inverts(levels):
    cdf = levels.cdf(torch.tensor([[2.0], [2.0]]).squeeze(-1))
    torch.testing.assert_close(cdf, torch.tensor([0.3, 0.6]))
    assert levels.cdf(torch.tensor([0.0, 0.0])).tolist() == [0.0, 0.0]
    # The smallest level whose CDF reaches the quantile.
    assert levels.icdf(torch.tensor([0.3, 0.61])).tolist() == [2.0, 3.0]
    assert levels.icdf(torch.tensor([0.05, 1.0])).tolist() == [1.0, 5.0]


def test_samples_follow_probs():
    torch.manual_seed(0)
    probs = torch.tensor([0.1, 0.2, 0.3, 0.25, 0.15])
    draws = RatingLevels(probs).sample((40000,))
    frequency = torch.stack([(draws == level).float().mean() for level in range(1, 6)])
    torch.testing.assert_close(frequency, probs, atol=0.01, rtol=0)


def test_expand_keeps_levels(levels):
    expanded = levels.expand((3, 2))
    assert expanded.batch_shape == (3, 2)
    assert expanded.low == 1.0


def test_ordinal_probs_sum_to_one_and_shift():
    cutpoints = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    probs = ordinal_probs(torch.tensor([-2.0, 0.0, 3.0]), cutpoints)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    mean = RatingLevels(probs).mean
    assert mean[0] < mean[1] < mean[2]
