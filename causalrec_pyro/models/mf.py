"""Probabilistic matrix factorization: the baseline that ignores how ratings were selected."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from causalrec_pyro.models.scm import INTERACTIONS, SCM

__all__ = [
    "entity_plates",
    "feature_affinity",
    "preference_score",
    "mf_model",
    "matrix_factorization",
]


def preference_score(
    user,
    item,
    *,
    n_users: int,
    n_items: int,
    dim: int,
    prior_scale: float,
    plates=None,
    user_features=None,
    item_features=None,
):
    r"""Draw per-user and per-item latents and return each interaction's preference score.

    .. math::

        b_u \sim N(0, 1),\quad q_i \sim N(0, 1),\quad
        \theta_u, \beta_i \sim N(0, s^2 I_d),\quad
        \text{score}_{ui} = b_u + q_i + \theta_u^\top \beta_i + x_u^\top W z_i

    The last term is present when both feature tables are given (``x_u`` the user's row of
    ``user_features``, ``z_i`` the item's row of ``item_features``), with the global site
    ``feature_weights`` ``W ~ N(0, s^2)`` of shape ``(F_user, F_item)``. It lets the score
    generalise to user-item combinations that are rarely rated, such as users and the items
    they seldom pick themselves.

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
    score = user_bias[..., user] + item_quality[..., item] + affinity
    if user_features is not None and item_features is not None:
        score = score + feature_affinity(
            "feature_weights", user, item, user_features, item_features, prior_scale
        )
    return score


def feature_affinity(name, user, item, user_features, item_features, prior_scale: float):
    r"""Draw the global site ``name``, ``W ~ N(0, s^2)`` of shape ``(F_user, F_item)``, and
    return :math:`x_u^\top W z_i` for each interaction (``(N,)``, or ``(S, N)`` under draws)."""
    zero = user_features.new_zeros(())
    shape = (user_features.shape[-1], item_features.shape[-1])
    weights = pyro.sample(name, dist.Normal(zero, prior_scale).expand(shape).to_event(2))
    # One matrix product: (N, F_user) @ W gives (N, F_item), or (S, 1, N, F_item) under draws,
    # where W has shape (S, 1, F_user, F_item) and the 1 is the interaction plate's dimension.
    affinity = ((user_features[user] @ weights) * item_features[item]).sum(-1)
    if weights.dim() > 2:
        affinity = affinity.squeeze(-2)
    return affinity


def entity_plates(n_users: int, n_items: int):
    """Return the ``users`` and ``items`` plates, both at dimension -1."""
    return pyro.plate("users", n_users, dim=-1), pyro.plate("items", n_items, dim=-1)


def mf_model(
    user,
    item,
    rating=None,
    weight=None,
    user_features=None,
    item_features=None,
    *,
    n_users: int,
    n_items: int,
    dim: int = 8,
    prior_scale: float = 0.5,
    rating_center: float = 3.0,
    use_features: bool = False,
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
    if not use_features:
        user_features = item_features = None
    score = preference_score(
        user,
        item,
        n_users=n_users,
        n_items=n_items,
        dim=dim,
        prior_scale=prior_scale,
        user_features=user_features,
        item_features=item_features,
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


def matrix_factorization(
    dim: int = 8, prior_scale: float = 0.5, rating_center: float = 3.0, use_features: bool = False
) -> SCM:
    """Return the probabilistic matrix factorization baseline as an :class:`SCM`.

    ``use_features`` adds the ``feature_weights`` term when the data has feature tables.
    """
    edges = list(_MF_EDGES)
    if use_features:
        edges.append(("feature_weights", "rating"))
    return SCM(
        mf_model,
        observed=("rating",),
        graph=edges,
        config={
            "dim": dim,
            "prior_scale": prior_scale,
            "rating_center": rating_center,
            "use_features": use_features,
        },
        name="mf",
    )
