r"""Average, group and individual causal effects with posterior uncertainty.

Every effect here contrasts two interventions on the same units,

.. math::

    \tau_n^{(s)} = E[y_n \mid do(t = t_1), z^{(s)}, x_n, o_n]
                 - E[y_n \mid do(t = t_0), z^{(s)}, x_n, o_n],

for each posterior draw :math:`z^{(s)}` of the latents and each unit :math:`n` (a user-item
pair) with covariates :math:`x_n`. :math:`o_n` are the unit's observed values of the sites that
do not descend from the treatment, such as an item attribute shown with it. They keep their
values from the data in both arms, while the sites that descend from the treatment are
generated. The expectations are the means of the outcome's distribution (``fn.mean``), not
sampled outcomes, so :math:`\tau_n^{(s)}` is exact given the draw when no random site lies
between the treatment and the outcome. Where one does (a mediator sampled by the model), it is
sampled once per draw and unit with the same random numbers in both arms, which adds Monte Carlo
noise that averages out over draws.

Assumptions: the model is the true causal model up to its latents (no unmodelled confounding of
treatment and outcome), and the posterior describes the latents of these units.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyro.poutine as poutine
import torch

from causalrec_pyro.causal.interventions import prepare_query, rng_state, set_rng_state
from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.traces import draws_first

__all__ = ["Effect", "average_effect", "individual_effect", "uplift_ranking"]


@dataclasses.dataclass
class Effect:
    r"""Posterior summary of an average causal effect, overall or per group.

    Attributes
    ----------
    mean, std : torch.Tensor
        Posterior mean and standard deviation; 0-dimensional overall, shape ``(G,)`` per group.
    ci_low, ci_high : torch.Tensor
        Bounds of the equal-tailed credible interval of level ``ci``.
    draws : torch.Tensor
        The effect for each posterior draw, shape ``(S,)`` or ``(S, G)``.
    ci : float
        Level of the credible interval.
    treatment, outcome : str
        The intervened site and the outcome site.
    groups : pandas.Index or None
        The group of each column of ``draws`` (user or item index, or feature value), named
        after ``by``; None for the overall effect.
    group_sizes : torch.Tensor or None
        Number of units in each group.
    """

    mean: torch.Tensor
    std: torch.Tensor
    ci_low: torch.Tensor
    ci_high: torch.Tensor
    draws: torch.Tensor
    ci: float
    treatment: str
    outcome: str
    groups: pd.Index | None = None
    group_sizes: torch.Tensor | None = None

    @classmethod
    def from_draws(cls, draws: torch.Tensor, ci: float, **fields) -> Effect:
        """Summarize effect draws (draws first) by mean, std and equal-tailed interval."""
        tail = (1.0 - ci) / 2.0
        levels = torch.tensor([tail, 1.0 - tail], dtype=draws.dtype, device=draws.device)
        low, high = torch.quantile(draws, levels, dim=0)
        std = draws.std(0, correction=1 if draws.shape[0] > 1 else 0)
        return cls(draws.mean(0), std, low, high, draws, ci, **fields)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per group (one row overall) with the summary columns."""
        percent = f"{100 * self.ci:g}%"
        columns = {
            "mean": self.mean,
            "std": self.std,
            f"ci_low ({percent})": self.ci_low,
            f"ci_high ({percent})": self.ci_high,
        }
        table = {name: np.atleast_1d(value.cpu().numpy()) for name, value in columns.items()}
        if self.groups is None:
            return pd.DataFrame(table, index=pd.Index(["all"], name="group"))
        table["units"] = self.group_sizes.cpu().numpy()
        return pd.DataFrame(table, index=self.groups)


def individual_effect(
    posterior: Posterior,
    treatment: str,
    outcome: str,
    treated,
    control,
    data,
    num_samples: int = 100,
    seed: int | None = 0,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""Return the effect for each draw and unit, :math:`\tau_n^{(s)}`, shape ``(S, N)``.

    .. math::

        \tau_n^{(s)} = E[y_n \mid do(t=t_1), z^{(s)}, o_n] - E[y_n \mid do(t=t_0), z^{(s)}, o_n]

    See the module notes for :math:`o_n` and the assumptions. ``treated`` and ``control`` take
    the forms of an :func:`~causalrec_pyro.causal.intervene` value: a number, a per-unit tensor
    or a policy.
    """
    chunks = _effect_chunks(
        posterior, treatment, outcome, treated, control, data, num_samples, seed, chunk_size
    )
    return torch.cat([difference for difference, _ in chunks], dim=0)


def average_effect(
    posterior: Posterior,
    treatment: str,
    outcome: str,
    treated,
    control,
    data,
    by=None,
    num_samples: int = 100,
    seed: int | None = 0,
    ci: float = 0.9,
    *,
    chunk_size: int | None = None,
) -> Effect:
    r"""Return the posterior of the average effect of ``treatment`` on ``outcome``.

    The estimand, per posterior draw :math:`s` and over the units :math:`n = 1..N` of ``data``,

    .. math::

        \mathrm{ATE}^{(s)} = \frac{1}{N} \sum_n \left(E[y_n \mid do(t = t_1), z^{(s)}, o_n]
        - E[y_n \mid do(t = t_0), z^{(s)}, o_n]\right),

    or the same mean over the units of each group :math:`g` with ``by``. It assumes that the
    model is the true causal model up to its latents (see the module notes).

    Parameters
    ----------
    posterior : Posterior
        Draws of the latent sites.
    treatment, outcome : str
        The intervened site and the outcome site; ``outcome`` must descend from ``treatment``
        in the model's graph.
    treated, control : number, tensor or callable
        The two values of the treatment (:math:`t_1`, :math:`t_0`), in any form
        :func:`~causalrec_pyro.causal.intervene` accepts, so two policies can be compared.
    data : Split, RatingData or dict
        The units.
    by : str or tensor, optional
        ``"user"`` or ``"item"`` gives one effect per user or item index. The name of a column
        of the data's user or item feature table (such as ``"gender"``) gives one effect per
        value, and a tensor of shape ``(N,)`` gives one effect per group label.
    num_samples, seed : int
        Number of posterior draws and the seed of all sampling.
    ci : float
        Level of the equal-tailed credible interval, in (0, 1).
    chunk_size : int, optional
        Draws traced at once (see :func:`~causalrec_pyro.causal.intervene`).

    Returns
    -------
    Effect
        ``draws`` of shape ``(S,)``, or ``(S, G)`` with ``groups`` and ``group_sizes``.

    Raises
    ------
    ValueError
        For an unknown site, an outcome that does not descend from the treatment, an invalid
        ``ci`` or an unknown ``by``.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be a level in (0, 1), such as 0.9, got {ci}.")
    chunks = _effect_chunks(
        posterior, treatment, outcome, treated, control, data, num_samples, seed, chunk_size
    )
    labels = {"treatment": treatment, "outcome": outcome}
    if by is None:
        draws = torch.cat([difference.mean(1) for difference, _ in chunks], dim=0)
        return Effect.from_draws(draws, ci, **labels)
    parts, groups, sizes = [], None, None
    for difference, query in chunks:
        if groups is None:
            index, groups = _group_index(by, data, query.observed_kwargs, difference.shape[1])
            index = index.to(difference.device)
            sizes = torch.bincount(index, minlength=len(groups))
        sums = difference.new_zeros(difference.shape[0], len(groups))
        parts.append(sums.index_add_(1, index, difference) / sizes.to(difference.dtype))
    return Effect.from_draws(
        torch.cat(parts, dim=0), ci, groups=groups, group_sizes=sizes, **labels
    )


def uplift_ranking(
    posterior: Posterior,
    data,
    k: int = 10,
    treatment: str = "exposure",
    outcome: str = "click",
    num_samples: int = 100,
    seed: int | None = 0,
    *,
    chunk_size: int | None = None,
) -> pd.DataFrame:
    r"""Rank each user's candidate pairs by the effect of exposing them, and keep the top ``k``.

    The uplift of pair :math:`n` is the posterior mean of
    :math:`E[y_n \mid do(\text{exposure}=1), z] - E[y_n \mid do(\text{exposure}=0), z]`: the
    change in the outcome that showing the item causes, as opposed to how likely the outcome is
    anyway. The rows of ``data`` are the candidates.

    Returns
    -------
    pandas.DataFrame
        Columns ``user``, ``item`` (indices), ``rank`` (1 is the largest uplift), ``uplift``,
        ``uplift_std`` and ``prob_positive`` (share of draws with a positive uplift). Rows are
        sorted by user and rank, with at most ``k`` rows per user.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    chunks = list(
        _effect_chunks(posterior, treatment, outcome, 1.0, 0.0, data, num_samples, seed, chunk_size)
    )
    draws = torch.cat([difference for difference, _ in chunks], dim=0)
    kwargs = chunks[0][1].observed_kwargs
    user, item = kwargs["user"].to(draws.device), kwargs["item"].to(draws.device)
    uplift = draws.mean(0)
    order = torch.argsort(uplift, descending=True, stable=True)
    order = order[torch.argsort(user[order], stable=True)]
    sorted_users = user[order]
    counts = torch.bincount(sorted_users)
    starts = counts.cumsum(0) - counts
    rank = torch.arange(order.shape[0], device=order.device) - starts[sorted_users]
    keep = order[rank < k]
    spread = draws.std(0, correction=1 if draws.shape[0] > 1 else 0)
    return pd.DataFrame(
        {
            "user": user[keep].cpu().numpy(),
            "item": item[keep].cpu().numpy(),
            "rank": (rank[rank < k] + 1).cpu().numpy(),
            "uplift": uplift[keep].cpu().numpy(),
            "uplift_std": spread[keep].cpu().numpy(),
            "prob_positive": (draws[:, keep] > 0).double().mean(0).cpu().numpy(),
        }
    )


def _effect_chunks(
    posterior, treatment, outcome, treated, control, data, num_samples, seed, chunk_size
):
    """Yield ``(difference, query)`` per chunk of draws, ``difference`` of shape (s, N)."""
    query = prepare_query(posterior, data, num_samples, seed)
    query.check_sites([treatment], "treatment")
    query.check_sites([outcome], "outcome")
    graph = query.graph
    if outcome not in graph.nx or outcome not in graph.descendants(treatment):
        raise ValueError(
            f"Outcome {outcome!r} does not descend from treatment {treatment!r} in the graph of "
            f"model {query.scm.name!r}, so the effect is zero by construction; the outcome's "
            f"causes are {sorted(graph.ancestors(outcome)) if outcome in graph.nx else []}. "
            "Choose an outcome downstream of the treatment."
        )
    model = poutine.condition(query.scm, data=query.unaffected_observed({treatment}))
    with query.seeded():
        arms = [query.resolve({treatment: treated}), query.resolve({treatment: control})]
        for draws, size in query.chunks(chunk_size):
            # Both arms start from the same random state: common random numbers for any site
            # the model samples between the treatment and the outcome.
            state = rng_state(query.device)
            means = []
            for values in arms:
                set_rng_state(state, query.device)
                trace = query.trace(model, draws, values)
                mean = trace.nodes[outcome]["fn"].mean.detach()
                means.append(draws_first(mean, size, query.nesting))
            yield means[0] - means[1], query


def _group_index(by, data, kwargs: dict, num_units: int):
    """Return ``(group index per unit, pandas.Index of group labels)``."""
    if isinstance(by, str) and by in ("user", "item"):
        values, name = kwargs[by], by
    elif isinstance(by, str):
        values, name = _feature_values(by, data, kwargs), by
    elif isinstance(by, torch.Tensor):
        values, name = by, "group"
    else:
        values, name = torch.as_tensor(np.asarray(by)), "group"
    if values.shape != (num_units,):
        raise ValueError(
            f"by must give one group label per unit, shape ({num_units},), got shape "
            f"{tuple(values.shape)}."
        )
    if values.is_floating_point() and torch.isnan(values).any():
        missing = int(torch.isnan(values).sum())
        raise ValueError(
            f"Group column {name!r} is missing (NaN) for {missing} of {num_units} units; fill "
            "those values or group by another column."
        )
    labels, index = torch.unique(values, return_inverse=True)
    labels = labels.cpu().numpy()
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        # Feature columns arrive as floats; whole-number codes read better as 0 and 1.
        labels = labels.astype(np.int64)
    return index, pd.Index(labels, name=name)


def _feature_values(column: str, data, kwargs: dict) -> torch.Tensor:
    """Look ``column`` up in the user and item feature tables and return its value per unit."""
    from causalrec_pyro.data.core import RatingData, Split

    if isinstance(data, RatingData):
        data = data["train"]
    if not isinstance(data, Split):
        raise ValueError(
            f"by={column!r} names a feature column, which needs data given as a Split or "
            "RatingData with feature tables; with a dict of model arguments pass by='user', "
            "by='item' or a tensor of group labels."
        )
    tables = {"user": data.user_features, "item": data.item_features}
    # A "user:" or "item:" prefix picks the table, for names that both tables have.
    kind_prefix, _, rest = column.partition(":")
    if kind_prefix in tables and tables[kind_prefix] is not None and rest in tables[kind_prefix]:
        tables = {kind_prefix: tables[kind_prefix]}
        column = rest
    found = [kind for kind, table in tables.items() if table is not None and column in table]
    if not found:
        available = sorted(
            f"{kind}:{c}" for kind, table in tables.items() if table is not None for c in table
        )
        raise ValueError(
            f"by={column!r} is not 'user', 'item' or a feature column; the feature columns are "
            f"{available} (the prefix is optional for a name only one table has)."
        )
    if len(found) > 1:
        raise ValueError(
            f"by={column!r} is a column of both the user and the item feature tables; write "
            f"'user:{column}' or 'item:{column}'."
        )
    kind = found[0]
    size = data.n_users if kind == "user" else data.n_items
    series = tables[kind][column].reindex(np.arange(size))
    per_entity = torch.tensor(series.to_numpy(dtype=np.float64, na_value=np.nan))
    return per_entity[kwargs[kind].cpu()]
