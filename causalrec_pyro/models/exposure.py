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
    selection_on_preference: bool = True,
):
    r"""Ordinal ratings with a missing-not-at-random exposure mechanism.

    A rating exists for every user-item pair; whether it is observed (``exposure``) depends on
    the rating's value, on the user and on the item, and on the known propensity where the data
    ship one (Marlin and Zemel, 2009; Hernandez-Lobato et al., 2014). Generative story::

        score_ui = user_bias_u + item_quality_i + user_pref_u . item_factors_i
        cutpoints ~ ordered prior                      (rating_cutpoints, K-1 values)
        rating_ui ~ OrderedLogistic(score_ui, cutpoints) on levels low..low+K-1
        exposure_ui ~ Bernoulli(sigmoid(exposure_by_rating[rating_ui] + user_activity_u
                                        + item_popularity_i + propensity_coef * logit(p_ui)))

    Graph: the score latents -> ``rating`` -> ``exposure`` <- ``exposure_by_rating``,
    ``user_activity``, ``item_popularity`` (and ``propensity_coef``). Predictions for items
    shown at random are ``E[rating]`` under the rating mechanism alone, which does not
    depend on the exposure mechanism.

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
    exposure_by_rating = pyro.sample(
        "exposure_by_rating", dist.Normal(zero - 3.0, 2.0).expand([num_levels]).to_event(1)
    )
    with users:
        user_activity = pyro.sample("user_activity", dist.Normal(zero, 1.0))
    with items:
        item_popularity = pyro.sample("item_popularity", dist.Normal(zero, 1.0))
    exposure_logit = user_activity[..., user] + item_popularity[..., item]
    if selection_on_preference:
        selection = pyro.sample("selection", dist.Normal(zero, 1.0))
        exposure_logit = exposure_logit + selection * score
    if use_features and user_features is not None and item_features is not None:
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
    selection_on_preference: bool = True,
) -> SCM:
    """Return the exposure-aware ordinal rating model as an :class:`SCM`.

    ``use_features`` adds the feature terms (``feature_weights`` to the rating,
    ``exposure_feature_weights`` to exposure) when the data has user and item feature tables;
    ``use_propensity`` adds ``propensity_coef`` when it has a propensity column;
    ``selection_on_preference`` lets exposure depend on the preference score itself.
    """
    score_latents = ["user_bias", "user_pref", "item_quality", "item_factors"]
    if use_features:
        score_latents.append("feature_weights")
    edges = [(site, "rating") for site in score_latents + ["rating_cutpoints"]]
    exposure_parents = ["rating", "exposure_by_rating", "user_activity", "item_popularity"]
    if selection_on_preference:
        exposure_parents += ["selection"] + score_latents
    if use_features:
        exposure_parents.append("exposure_feature_weights")
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
        },
        name="mnar",
    )
