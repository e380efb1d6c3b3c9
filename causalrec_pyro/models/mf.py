"""Probabilistic matrix factorization: the baseline that ignores how ratings were selected."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from causalrec_pyro.models.scm import INTERACTIONS, SCM

__all__ = ["entity_plates", "preference_score", "mf_model", "matrix_factorization"]


def preference_score(
    user, item, *, n_users: int, n_items: int, dim: int, prior_scale: float, plates=None
):
    r"""Draw per-user and per-item latents and return each interaction's preference score.

    .. math::

        b_u \sim N(0, 1),\quad q_i \sim N(0, 1),\quad
        \theta_u, \beta_i \sim N(0, s^2 I_d),\quad
        \text{score}_{ui} = b_u + q_i + \theta_u^\top \beta_i

    Sites: ``user_bias`` and ``user_pref`` in the ``users`` plate, ``item_quality`` and
    ``item_factors`` in the ``items`` plate. Indexing uses ``...`` so that the score also works
    with a leading dimension of posterior draws: shape ``(N,)``, or ``(S, N)`` under draws.
    A model that draws more per-user or per-item sites passes its own ``(users, items)``
    plates, because Pyro allows each plate name once per model run.
    """
    zero = user.new_zeros((), dtype=torch.get_default_dtype())
    users, items = plates or entity_plates(n_users, n_items)
    with users:
        user_bias = pyro.sample("user_bias", dist.Normal(zero, 1.0))
        user_pref = pyro.sample(
            "user_pref", dist.Normal(zero, prior_scale).expand([dim]).to_event(1)
        )
    with items:
        item_quality = pyro.sample("item_quality", dist.Normal(zero, 1.0))
        item_factors = pyro.sample(
            "item_factors", dist.Normal(zero, prior_scale).expand([dim]).to_event(1)
        )
    affinity = (user_pref[..., user, :] * item_factors[..., item, :]).sum(-1)
    return user_bias[..., user] + item_quality[..., item] + affinity


def entity_plates(n_users: int, n_items: int):
    """Return the ``users`` and ``items`` plates, both at dimension -1."""
    return pyro.plate("users", n_users, dim=-1), pyro.plate("items", n_items, dim=-1)


def mf_model(
    user,
    item,
    rating=None,
    weight=None,
    *,
    n_users: int,
    n_items: int,
    dim: int = 8,
    prior_scale: float = 0.5,
    rating_center: float = 3.0,
):
    r"""Probabilistic matrix factorization with user and item biases (Salakhutdinov and Mnih, 2008).

    Generative story::

        offset ~ N(rating_center, 1)          rating_sd ~ HalfNormal(1)
        user_bias_u, user_pref_u              (users plate)
        item_quality_i, item_factors_i        (items plate)
        rating_ui ~ N(offset + score_ui, rating_sd)   (interactions plate)

    Graph: ``rating_offset, rating_sd, user_bias, user_pref, item_quality, item_factors ->
    rating``. Shapes: ``user``, ``item``, ``rating`` are ``(N,)``; ``user_pref`` is
    ``(n_users, dim)``. Trained on self-selected ratings it learns the selection bias too, which
    is why it serves as the baseline.
    """
    zero = user.new_zeros((), dtype=torch.get_default_dtype())
    offset = pyro.sample("rating_offset", dist.Normal(zero + rating_center, 1.0))
    rating_sd = pyro.sample("rating_sd", dist.HalfNormal(zero + 1.0))
    score = preference_score(
        user, item, n_users=n_users, n_items=n_items, dim=dim, prior_scale=prior_scale
    )
    scale = 1.0 if weight is None else weight
    with pyro.plate(INTERACTIONS, user.shape[0], dim=-1), pyro.poutine.scale(scale=scale):
        return pyro.sample("rating", dist.Normal(offset + score, rating_sd), obs=rating)


_MF_EDGES = [
    (parent, "rating")
    for parent in (
        "rating_offset",
        "rating_sd",
        "user_bias",
        "user_pref",
        "item_quality",
        "item_factors",
    )
]


def matrix_factorization(dim: int = 8, prior_scale: float = 0.5, rating_center: float = 3.0) -> SCM:
    """Return the probabilistic matrix factorization baseline as an :class:`SCM`."""
    return SCM(
        mf_model,
        observed=("rating",),
        graph=_MF_EDGES,
        config={"dim": dim, "prior_scale": prior_scale, "rating_center": rating_center},
        name="mf",
    )
