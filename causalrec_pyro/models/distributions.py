"""Distributions for rating scales."""

from __future__ import annotations

import torch
from pyro.distributions import TorchDistribution, constraints

__all__ = ["RatingLevels", "ordinal_probs"]


def ordinal_probs(score: torch.Tensor, cutpoints: torch.Tensor) -> torch.Tensor:
    """Return cumulative-logit (ordered logistic) level probabilities.

    ``P(level <= k) = sigmoid(cutpoints[k] - score)`` for ``k < K-1``, so the result has a
    last dimension of ``K = cutpoints.shape[-1] + 1``. ``cutpoints`` must be increasing.
    """
    cumulative = torch.sigmoid(cutpoints - score.unsqueeze(-1))
    zeros = torch.zeros_like(cumulative[..., :1])
    ones = torch.ones_like(cumulative[..., :1])
    cumulative = torch.cat([zeros, cumulative, ones], dim=-1)
    return (cumulative[..., 1:] - cumulative[..., :-1]).clamp_min(1e-8)


class RatingLevels(TorchDistribution):
    r"""A categorical distribution over the integer rating levels ``low, low+1, ..., low+K-1``.

    Values are floats equal to the ratings themselves (1.0 to 5.0 for a five-star scale), so
    observed ratings are passed as they are. It supports enumeration, so unobserved ratings can
    be summed out with ``TraceEnum_ELBO``, and it has :meth:`cdf` and :meth:`icdf`, which the
    counterfactual layer uses for CDF matching.

    Parameters
    ----------
    probs : torch.Tensor
        Level probabilities, shape ``batch_shape + (K,)``; each row sums to one.
    low : float
        The lowest level.
    """

    arg_constraints = {"probs": constraints.simplex}
    has_enumerate_support = True

    def __init__(self, probs: torch.Tensor, low: float = 1.0, validate_args=None):
        self.probs = probs / probs.sum(-1, keepdim=True)
        self.low = float(low)
        self.num_levels = probs.shape[-1]
        super().__init__(probs.shape[:-1], torch.Size(), validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(self.low, self.low + self.num_levels - 1)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        probs = self.probs.expand(batch_shape + (self.num_levels,))
        return RatingLevels(probs, self.low, validate_args=False)

    def _levels(self) -> torch.Tensor:
        return self.low + torch.arange(
            self.num_levels, dtype=self.probs.dtype, device=self.probs.device
        )

    @property
    def mean(self) -> torch.Tensor:
        return (self.probs * self._levels()).sum(-1)

    @property
    def variance(self) -> torch.Tensor:
        levels = self._levels()
        return (self.probs * levels**2).sum(-1) - self.mean**2

    def sample(self, sample_shape=()):
        index = torch.distributions.Categorical(probs=self.probs).sample(torch.Size(sample_shape))
        return index.to(self.probs.dtype) + self.low

    def _index(self, value: torch.Tensor) -> torch.Tensor:
        return (value - self.low).round().long().clamp(0, self.num_levels - 1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        index = self._index(value)
        probs = self.probs
        index, probs = _broadcast_index(index, probs)
        return probs.gather(-1, index.unsqueeze(-1)).squeeze(-1).log()

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        values = self._levels().reshape((-1,) + (1,) * len(self.batch_shape))
        if expand:
            values = values.expand((-1,) + self.batch_shape)
        return values

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        """Return ``P(level <= value)``; 0 below the lowest level and 1 above the highest."""
        cumulative = self.probs.cumsum(-1)
        index, cumulative = _broadcast_index(self._index(value), cumulative)
        result = cumulative.gather(-1, index.unsqueeze(-1)).squeeze(-1)
        result = torch.where(value < self.low, torch.zeros_like(result), result)
        return result.clamp(0.0, 1.0)

    def icdf(self, quantile: torch.Tensor) -> torch.Tensor:
        """Return the smallest level whose CDF is at least ``quantile``."""
        cumulative = self.probs.cumsum(-1)
        quantile, cumulative = torch.broadcast_tensors(quantile.unsqueeze(-1), cumulative)
        index = (cumulative < quantile).sum(-1).clamp(max=self.num_levels - 1)
        return index.to(self.probs.dtype) + self.low


def _broadcast_index(index: torch.Tensor, table: torch.Tensor):
    shape = torch.broadcast_shapes(index.shape, table.shape[:-1])
    return index.expand(shape), table.expand(shape + table.shape[-1:])
