r"""Exogenous noise of univariate sites by CDF matching, for counterfactuals.

For a site :math:`y` with factual distribution :math:`F` (given its factual parents) the noise is
:math:`u = F(y)`; the counterfactual value under the intervened distribution :math:`F'` is
:math:`F'^{-1}(u)`. For a discrete site, :math:`u` is drawn uniformly between :math:`F(y-1)`
and :math:`F(y)`. That is the monotone coupling of the factual and counterfactual values: on an
ordered support, a distribution shifted upwards never lowers a value. For a Bernoulli site with
:math:`p' \ge p` it gives :math:`P(y'=1 \mid y=1) = 1` and
:math:`P(y'=1 \mid y=0) = (p' - p) / (1 - p)`.

NOTE: for an unordered Categorical site the result depends on the order of the categories. A
Gumbel-max coupling would not depend on it, and is not implemented here.

Location-scale sites keep their standardized residual :math:`z = (y - \mu) / \sigma` instead of
:math:`u`, which is the same map without the rounding of :math:`F` in the tails. Discrete
sites work in float64, so that a counterfactual under no change returns the factual value.

Supported: Normal, StudentT, LogNormal and other transformed distributions with increasing
transforms, Bernoulli, Categorical (with OrderedLogistic), Poisson, and any univariate
distribution whose class implements ``cdf`` and ``icdf`` (such as the project's
``RatingLevels``, Laplace, Exponential). ``Independent``, masked and expanded wrappers are
treated element by element.
"""

from __future__ import annotations

from typing import NamedTuple

import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Normal,
    Poisson,
    StudentT,
    TransformedDistribution,
)

__all__ = ["Noise", "abduct", "predict", "noise_kind", "student_t_cdf", "student_t_icdf"]

_FLOAT = torch.float64


class Noise(NamedTuple):
    """Abducted noise of one site: ``kind`` is ``"normal"``, ``"student_t"``, ``"transformed"``
    or ``"uniform"``; ``value`` is a standardized residual or a uniform variable."""

    kind: str
    value: torch.Tensor
    dtype: torch.dtype
    df: torch.Tensor | None = None
    base: Noise | None = None


def unwrap(fn: Distribution) -> Distribution:
    """Strip the mask, expand and ``Independent`` wrappers, which act element by element."""
    while isinstance(
        fn, (MaskedDistribution, ExpandedDistribution, torch.distributions.Independent)
    ):
        fn = fn.base_dist
    return fn


def noise_kind(fn: Distribution) -> str | None:
    """Return how a site's noise is abducted, ``"deterministic"``, or None when it cannot be."""
    fn = unwrap(fn)
    if isinstance(fn, dist.Delta):
        return "deterministic"
    if fn.event_shape != torch.Size():
        return None
    if isinstance(fn, Normal):
        return "normal"
    if isinstance(fn, StudentT):
        return "student_t"
    if isinstance(fn, TransformedDistribution):
        base = noise_kind(fn.base_dist)
        increasing = all(_is_increasing(transform) for transform in fn.transforms)
        return "transformed" if base not in (None, "deterministic") and increasing else None
    if isinstance(fn, (Bernoulli, Categorical, Poisson)):
        return "uniform"
    has_cdf = type(fn).cdf is not Distribution.cdf and type(fn).icdf is not Distribution.icdf
    return "uniform" if has_cdf else None


def no_cdf_message(site: str, fn: Distribution) -> str:
    """Return the error message for a site whose noise cannot be abducted."""
    inner = unwrap(fn)
    return (
        f"Site {site!r} has a {type(inner).__name__} distribution (event shape "
        f"{tuple(inner.event_shape)}), which has no univariate CDF and inverse CDF, so its noise "
        "cannot be abducted by CDF matching. Write its noise explicitly: sample it as its own "
        f"latent site (for example {site + '_noise'!r}), compute {site!r} from it with "
        "pyro.deterministic, and fit the posterior on the evidence units."
    )


# ------------------------------------------------------------------ abduction
def abduct(fn: Distribution, value: torch.Tensor) -> Noise:
    """Return the noise that makes ``fn`` produce ``value``; discrete sites draw it at random.

    The random part uses the global torch generator, so callers seed it.
    """
    fn = unwrap(fn)
    dtype = value.dtype
    if isinstance(fn, Normal):
        return Noise("normal", (value - fn.loc) / fn.scale, dtype)
    if isinstance(fn, StudentT):
        return Noise("student_t", (value - fn.loc) / fn.scale, dtype, df=fn.df)
    if isinstance(fn, TransformedDistribution):
        base_value = value
        for transform in reversed(fn.transforms):
            base_value = transform.inv(base_value)
        return Noise("transformed", base_value, dtype, base=abduct(fn.base_dist, base_value))
    lower, upper = _discrete_bounds(fn, value)
    if lower is None:
        return Noise("uniform", fn.cdf(value).to(_FLOAT), dtype)
    uniform = torch.rand(upper.shape, dtype=_FLOAT, device=upper.device)
    uniform = uniform.clamp(1e-12, 1.0 - 1e-12)
    return Noise("uniform", lower + uniform * (upper - lower), dtype)


def _discrete_bounds(fn: Distribution, value: torch.Tensor):
    """Return ``(F(y-1), F(y))`` in float64 for a discrete ``fn``, or ``(None, None)``."""
    if isinstance(fn, Bernoulli):
        probs = fn.probs.to(_FLOAT)
        one = value > 0.5
        lower = torch.where(one, 1.0 - probs, torch.zeros_like(probs))
        upper = torch.where(one, torch.ones_like(probs), 1.0 - probs)
        return lower, upper
    if isinstance(fn, Categorical):
        cumulative = fn.probs.to(_FLOAT).cumsum(-1)
        index = value.round().long()
        upper = _gather(cumulative, index)
        lower = torch.where(index > 0, _gather(cumulative, (index - 1).clamp(min=0)), 0.0)
        return lower, upper
    if isinstance(fn, Poisson):
        rate = fn.rate.to(_FLOAT)
        count = value.to(_FLOAT).round()
        upper = torch.special.gammaincc(count + 1.0, rate)
        lower = torch.where(count > 0, torch.special.gammaincc(count.clamp(min=1.0), rate), 0.0)
        return lower, upper
    if fn.support.is_discrete:
        upper = fn.cdf(value).to(_FLOAT)
        lower = fn.cdf(value - 1).to(_FLOAT)
        return torch.broadcast_tensors(lower, upper)
    return None, None


# ----------------------------------------------------------------- prediction
def predict(fn: Distribution, noise: Noise) -> torch.Tensor:
    """Return the value that the counterfactual distribution ``fn`` gives to ``noise``."""
    fn = unwrap(fn)
    if isinstance(fn, Normal) and noise.kind == "normal":
        return fn.loc + fn.scale * noise.value
    if isinstance(fn, StudentT) and noise.kind == "student_t" and _same(fn.df, noise.df):
        return fn.loc + fn.scale * noise.value
    if isinstance(fn, TransformedDistribution) and noise.kind == "transformed":
        value = predict(fn.base_dist, noise.base)
        for transform in fn.transforms:
            value = transform(value)
        return value
    return inverse_cdf(fn, to_uniform(noise)).to(noise.dtype)


def to_uniform(noise: Noise) -> torch.Tensor:
    """Return the noise as a uniform variable ``u = F(y)`` in float64."""
    if noise.kind == "normal":
        return torch.special.ndtr(noise.value.to(_FLOAT))
    if noise.kind == "student_t":
        return student_t_cdf(noise.value.to(_FLOAT), noise.df.to(_FLOAT))
    if noise.kind == "transformed":
        return to_uniform(noise.base)
    return noise.value


def inverse_cdf(fn: Distribution, uniform: torch.Tensor) -> torch.Tensor:
    """Return ``F^{-1}(u)``: the smallest value whose CDF is at least ``u``."""
    fn = unwrap(fn)
    if isinstance(fn, Normal):
        return fn.loc + fn.scale * torch.special.ndtri(uniform).to(fn.loc.dtype)
    if isinstance(fn, StudentT):
        quantile = student_t_icdf(uniform, fn.df.to(_FLOAT)).to(fn.loc.dtype)
        return fn.loc + fn.scale * quantile
    if isinstance(fn, TransformedDistribution):
        value = inverse_cdf(fn.base_dist, uniform)
        for transform in fn.transforms:
            value = transform(value)
        return value
    if isinstance(fn, Bernoulli):
        return (uniform > 1.0 - fn.probs.to(_FLOAT)).to(fn.probs.dtype)
    if isinstance(fn, Categorical):
        cumulative = fn.probs.to(_FLOAT).cumsum(-1)
        uniform, cumulative = torch.broadcast_tensors(uniform.unsqueeze(-1), cumulative)
        return (cumulative < uniform).sum(-1).clamp(max=fn.probs.shape[-1] - 1)
    if isinstance(fn, Poisson):
        return poisson_icdf(uniform, fn.rate.to(_FLOAT)).to(fn.rate.dtype)
    return fn.icdf(uniform)


# ------------------------------------------------------------ special functions
def poisson_icdf(uniform: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Return the smallest count ``k`` with ``P(K <= k) >= u`` by vectorized bisection.

    ``P(K <= k)`` is the regularized upper incomplete gamma function ``Q(k + 1, rate)``.
    """
    uniform, rate = torch.broadcast_tensors(uniform, rate)

    def cdf(count):
        return torch.special.gammaincc(count + 1.0, rate)

    low = torch.full_like(rate, -1.0)  # CDF(-1) = 0 < u
    high = torch.ceil(rate + 10.0 * rate.sqrt() + 10.0)
    for _ in range(64):  # widen until CDF(high) >= u everywhere
        short = cdf(high) < uniform
        if not short.any():
            break
        high = torch.where(short, 2.0 * high + 1.0, high)
    while (high - low > 1.0).any():
        middle = torch.floor((low + high) / 2.0)
        enough = cdf(middle) >= uniform
        high = torch.where(enough, middle, high)
        low = torch.where(enough, low, middle)
    return high


def regularized_beta(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""Return the regularized incomplete beta function :math:`I_x(a, b)` in float64.

    Evaluates the continued fraction of :math:`I_x(a, b)` with the modified Lentz method,
    using :math:`I_x(a, b) = 1 - I_{1-x}(b, a)` where the fraction converges slowly.
    """
    a, b, x = torch.broadcast_tensors(a.to(_FLOAT), b.to(_FLOAT), x.to(_FLOAT))
    flip = x > (a + 1.0) / (a + b + 2.0)
    a, b, x = torch.where(flip, b, a), torch.where(flip, a, b), torch.where(flip, 1.0 - x, x)
    tiny = 1e-300
    log_beta = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
    front = torch.exp(a * torch.log(x) + b * torch.log1p(-x) - log_beta) / a
    fraction = torch.ones_like(x)
    c = torch.ones_like(x)
    d = torch.zeros_like(x)
    for step in range(1, 2001):
        m = step // 2
        if step % 2:
            term = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:
            term = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + term * d
        d = torch.where(d.abs() < tiny, torch.full_like(d, tiny), d).reciprocal()
        c = 1.0 + term / c
        c = torch.where(c.abs() < tiny, torch.full_like(c, tiny), c)
        fraction = fraction * c * d
        if step % 2 == 0 and ((c * d - 1.0).abs() < 1e-15).all():
            break
    value = torch.where(x > 0, front / fraction, torch.zeros_like(x))
    return torch.where(flip, 1.0 - value, value)


def student_t_cdf(z: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    """Return the CDF of the standard Student t distribution with ``df`` degrees of freedom."""
    z, df = torch.broadcast_tensors(z.to(_FLOAT), df.to(_FLOAT))
    tail = 0.5 * regularized_beta(df / 2.0, torch.full_like(df, 0.5), df / (df + z * z))
    return torch.where(z > 0, 1.0 - tail, tail)


def student_t_icdf(uniform: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    """Return the quantile of the standard Student t distribution by bisection.

    For the lower tail ``u = I_x(df/2, 1/2) / 2`` with ``x = df / (df + z^2)``, so the search
    runs over ``log x`` in ``[-745, 0]``, where float64 resolves even the far tails of
    ``df < 1``; 80 halvings leave a relative error of about 1e-15 in ``x``.
    """
    uniform, df = torch.broadcast_tensors(uniform.to(_FLOAT), df.to(_FLOAT))
    target = 2.0 * torch.minimum(uniform, 1.0 - uniform)
    half = torch.full_like(df, 0.5)
    low = torch.full_like(uniform, -745.0)
    high = torch.zeros_like(uniform)
    for _ in range(80):
        middle = (low + high) / 2.0
        above = regularized_beta(df / 2.0, half, torch.exp(middle)) > target
        high = torch.where(above, middle, high)
        low = torch.where(above, low, middle)
    log_x = (low + high) / 2.0
    magnitude = torch.sqrt(df * -torch.expm1(log_x) / torch.exp(log_x))
    return torch.where(uniform < 0.5, -magnitude, magnitude)


def _gather(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    shape = torch.broadcast_shapes(index.shape, table.shape[:-1])
    index = index.expand(shape).unsqueeze(-1)
    return table.expand(shape + table.shape[-1:]).gather(-1, index).squeeze(-1)


def _same(first: torch.Tensor, second: torch.Tensor | None) -> bool:
    if second is None:
        return False
    first, second = torch.broadcast_tensors(first, second)
    return bool((first == second).all())


def _is_increasing(transform) -> bool:
    try:
        sign = transform.sign
    except NotImplementedError:
        return False
    if isinstance(sign, torch.Tensor):
        return bool((sign > 0).all())
    return sign > 0
