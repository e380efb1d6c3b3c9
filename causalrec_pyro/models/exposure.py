"""An exposure-aware rating SCM in which whether a rating is observed is itself a variable."""

from __future__ import annotations

import contextlib

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F

from causalrec_pyro.models.distributions import RatingLevels, ordinal_probs
from causalrec_pyro.models.mf import entity_plates, feature_affinity, preference_score
from causalrec_pyro.models.scm import INTERACTIONS, SCM

__all__ = ["exposure_rating_model", "exposure_rating"]


def exposure_rating_model(
    user,
    item,
    rating=None,
    exposure=None,
    propensity=None,
    weight=None,
    user_features=None,
    item_features=None,
    *,
    n_users: int,
    n_items: int,
    dim: int = 8,
    prior_scale: float = 0.5,
    num_levels: int = 5,
    low: float = 1.0,
    use_propensity: bool = False,
    use_features: bool = False,
    selection_on_preference: bool = False,
    exposure_dim: int = 0,
    rating_effect_scale: float = 1.0,
    exposure_features: bool | None = None,
):
    r"""Ordinal ratings with a missing-not-at-random exposure mechanism.

    A rating exists for every user-item pair, observed or not. Whether it is observed
    (``exposure``) depends on the rating's value, the user, the item, the preference score and,
    optionally, features and a known propensity. This is the missing-not-at-random setting of
    Marlin and Zemel (RecSys 2009) and Hernandez-Lobato et al. (ICML 2014). Generative story::

        score_ui = user_bias_u + item_quality_i + user_pref_u . item_factors_i
        cutpoints ~ ordered prior                      (rating_cutpoints, K-1 values)
        rating_ui ~ OrderedLogistic(score_ui, cutpoints) on levels low..low+K-1
        exposure_ui ~ Bernoulli(sigmoid(exposure_offset + exposure_by_rating[rating_ui]
                                        + user_activity_u
                                        + item_popularity_i + selection * score_ui
                                        + user_interest_u . item_appeal_i        (exposure_dim)
                                        + x_u' V z_i                            (features)
                                        + propensity_coef * logit(p_ui)))       (propensity)

    Graph: the score latents -> ``rating`` -> ``exposure`` <- ``exposure_offset``,
    ``exposure_by_rating``, ``user_activity``, ``item_popularity``, and the optional terms'
    sites. With ``selection_on_preference`` the score latents also point into ``exposure``.
    Predictions for items shown at random are ``E[rating]`` under the rating mechanism alone,
    which does not depend on the exposure mechanism.

    Data: rows are user-item pairs, observed or not (``Split.with_unobserved``). ``rating`` is
    the observed value where ``exposure == 1`` and any placeholder where it is 0: those
    ratings are latent and summed over their ``K`` levels by ``TraceEnum_ELBO``. With
    ``exposure=None`` every given rating counts as observed and exposure is generated.
    Shapes: ``user``, ``item``, ``rating``, ``exposure``, ``propensity``, ``weight`` are
    ``(N,)``.
    """
    zero = user.new_zeros((), dtype=torch.get_default_dtype())
    users, items = entity_plates(n_users, n_items)
    score = preference_score(
        user,
        item,
        n_users=n_users,
        n_items=n_items,
        dim=dim,
        prior_scale=prior_scale,
        plates=(users, items),
        user_features=user_features if use_features else None,
        item_features=item_features if use_features else None,
    )
    # Cutpoints start spread over the scale; the ordered transform keeps them increasing.
    base = torch.linspace(-2.0, 2.0, num_levels - 1, device=zero.device, dtype=zero.dtype)
    cutpoints = pyro.sample(
        "rating_cutpoints",
        dist.TransformedDistribution(
            dist.Normal(base, 1.0).to_event(1), dist.transforms.OrderedTransform()
        ),
    )
    # The level effects are deviations from a shared offset; their prior scale bounds how
    # strongly the exposure mechanism may depend on the rating value.
    exposure_offset = pyro.sample("exposure_offset", dist.Normal(zero - 3.0, 2.0))
    exposure_by_rating = pyro.sample(
        "exposure_by_rating",
        dist.Normal(zero, rating_effect_scale).expand([num_levels]).to_event(1),
    )
    with users:
        user_activity = pyro.sample("user_activity", dist.Normal(zero, 1.0))
    with items:
        item_popularity = pyro.sample("item_popularity", dist.Normal(zero, 1.0))
    exposure_logit = exposure_offset + user_activity[..., user] + item_popularity[..., item]
    if exposure_dim > 0:
        with users:
            user_interest = pyro.sample(
                "user_interest", dist.Normal(zero, 0.5).expand([exposure_dim]).to_event(1)
            )
        with items:
            item_appeal = pyro.sample(
                "item_appeal", dist.Normal(zero, 0.5).expand([exposure_dim]).to_event(1)
            )
        interest = (user_interest[..., user, :] * item_appeal[..., item, :]).sum(-1)
        exposure_logit = exposure_logit + interest
    if selection_on_preference:
        # Users seek out what they prefer, so the selection coefficient is non-negative.
        selection = pyro.sample("selection", dist.HalfNormal(zero + 1.0))
        exposure_logit = exposure_logit + selection * score
    if exposure_features is None:
        exposure_features = use_features
    if exposure_features and user_features is not None and item_features is not None:
        exposure_logit = exposure_logit + feature_affinity(
            "exposure_feature_weights", user, item, user_features, item_features, 1.0
        )
    if use_propensity and propensity is not None:
        propensity_coef = pyro.sample("propensity_coef", dist.Normal(zero, 1.0))
        exposure_logit = exposure_logit + propensity_coef * torch.logit(propensity, eps=1e-6)

    # Under posterior draws, global sites have shape (S, 1, ...) and broadcast against (S, N, K).
    probs = ordinal_probs(score, cutpoints)
    observed_mask = None
    summing = contextlib.nullcontext()
    if rating is not None and exposure is not None:
        # Pyro splits a masked site into ``rating_observed`` and ``rating_unobserved``; the
        # second is summed over the levels by TraceEnum_ELBO.
        observed_mask = exposure > 0
        summing = pyro.poutine.infer_config(config_fn=_enumerate_unobserved)
    scale = 1.0 if weight is None else weight
    with pyro.plate(INTERACTIONS, user.shape[0], dim=-1), pyro.poutine.scale(scale=scale):
        with summing:
            value = pyro.sample(
                "rating", RatingLevels(probs, low=low), obs=rating, obs_mask=observed_mask
            )
        level = F.one_hot((value - low).round().long().clamp(0, num_levels - 1), num_levels)
        logit = exposure_logit + (level.to(zero.dtype) * exposure_by_rating).sum(-1)
        pyro.sample("exposure", dist.Bernoulli(logits=logit), obs=exposure)
    return value


def _enumerate_unobserved(msg) -> dict:
    return {} if msg["is_observed"] else {"enumerate": "parallel"}


def exposure_rating(
    dim: int = 8,
    prior_scale: float = 0.5,
    num_levels: int = 5,
    low: float = 1.0,
    use_propensity: bool = False,
    use_features: bool = False,
    selection_on_preference: bool = False,
    exposure_dim: int = 0,
    rating_effect_scale: float = 1.0,
    exposure_features: bool | None = None,
) -> SCM:
    """Return the exposure-aware ordinal rating model as an :class:`SCM`.

    - ``use_features`` adds ``feature_weights`` to the rating, when the data has user and item
      feature tables. ``exposure_features`` (default: the same as ``use_features``) adds
      ``exposure_feature_weights`` to exposure.
    - ``use_propensity`` adds ``propensity_coef`` when the data has a propensity column.
    - ``selection_on_preference`` lets exposure depend on the preference score itself. It is
      off by default: with it, the fits on the simulator and on Coat traded the rating effect
      for a large ``selection`` and predicted random pairs no better.
    - ``exposure_dim`` gives exposure its own user and item factors of that size
      (``user_interest``, ``item_appeal``).
    - ``rating_effect_scale`` is the prior scale of the per-level exposure effects around the
      shared ``exposure_offset``: smaller values shrink the missing-not-at-random correction.
    """
    score_latents = ["user_bias", "user_pref", "item_quality", "item_factors"]
    if use_features:
        score_latents.append("feature_weights")
    edges = [(site, "rating") for site in score_latents + ["rating_cutpoints"]]
    exposure_parents = [
        "rating",
        "exposure_offset",
        "exposure_by_rating",
        "user_activity",
        "item_popularity",
    ]
    if selection_on_preference:
        exposure_parents += ["selection"] + score_latents
    if exposure_features is None:
        exposure_features = use_features
    if exposure_features:
        exposure_parents.append("exposure_feature_weights")
    if exposure_dim > 0:
        exposure_parents += ["user_interest", "item_appeal"]
    if use_propensity:
        exposure_parents.append("propensity_coef")
    edges += [(site, "exposure") for site in exposure_parents]
    return SCM(
        exposure_rating_model,
        observed=("rating", "exposure"),
        graph=edges,
        config={
            "dim": dim,
            "prior_scale": prior_scale,
            "num_levels": num_levels,
            "low": low,
            "use_propensity": use_propensity,
            "use_features": use_features,
            "selection_on_preference": selection_on_preference,
            "exposure_dim": exposure_dim,
            "rating_effect_scale": rating_effect_scale,
            "exposure_features": exposure_features,
        },
        name="mnar",
    )
