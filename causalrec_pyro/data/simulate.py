"""A confounded recommendation world with known ground truth.

The simulator is itself an SCM written to the model contract (:func:`simulator_model`), so the
same program generates the data, states the truth and can be queried by the causal layer with
its true parameters (``Posterior.from_samples(simulator_scm(), world.true_draws())``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch

from causalrec_pyro.data.core import RatingData, Split
from causalrec_pyro.models.distributions import RatingLevels, ordinal_probs
from causalrec_pyro.models.mf import entity_plates
from causalrec_pyro.models.scm import INTERACTIONS, SCM

__all__ = ["SimulatedWorld", "simulate", "simulator_model", "simulator_scm"]


def simulator_model(
    user,
    item,
    rating=None,
    exposure=None,
    click=None,
    *,
    n_users: int,
    n_items: int,
    dim: int = 4,
    cutpoints=(-1.5, -0.5, 0.5, 1.5),
):
    r"""Generate exposure, ratings and clicks in which preference confounds all three.

    Generative story, for every user-item pair (one row each)::

        user_pref_u ~ N(0, 0.8^2 I)     item_factors_i ~ N(0, 0.8^2 I)     (users, items plates)
        item_quality_i ~ N(0, 0.8^2)    item_popularity_i ~ N(0, 1)
        preference_ui = item_quality_i + user_pref_u . item_factors_i
        exposure_ui ~ Bernoulli(sigmoid(exposure_offset + selection * preference_ui
                                        + popularity_effect * item_popularity_i))
        rating_ui ~ OrderedLogistic(preference_ui, cutpoints) on 1..5
        click_ui ~ Bernoulli(sigmoid(click_offset + click_preference * preference_ui
                                     + exposure_effect * exposure_ui))

    Graph: ``user_pref, item_factors, item_quality -> exposure, rating, click``;
    ``item_popularity -> exposure -> click``; the global coefficients point into the site they
    appear in. Preference is a common cause of exposure and click, so the observed contrast
    of click rates between exposed and unexposed pairs is biased for the effect of exposure.
    The rating does not depend on exposure, but it is only observed where ``exposure == 1``.
    """
    zero = user.new_zeros((), dtype=torch.get_default_dtype())
    users, items = entity_plates(n_users, n_items)
    with users:
        user_pref = pyro.sample("user_pref", dist.Normal(zero, 0.8).expand([dim]).to_event(1))
    with items:
        item_factors = pyro.sample("item_factors", dist.Normal(zero, 0.8).expand([dim]).to_event(1))
        item_quality = pyro.sample("item_quality", dist.Normal(zero, 0.8))
        item_popularity = pyro.sample("item_popularity", dist.Normal(zero, 1.0))
    exposure_offset = pyro.sample("exposure_offset", dist.Normal(zero - 3.0, 1.0))
    selection = pyro.sample("selection", dist.Normal(zero + 1.0, 0.5))
    popularity_effect = pyro.sample("popularity_effect", dist.Normal(zero + 1.0, 0.5))
    click_offset = pyro.sample("click_offset", dist.Normal(zero - 2.0, 1.0))
    click_preference = pyro.sample("click_preference", dist.Normal(zero + 1.0, 0.5))
    exposure_effect = pyro.sample("exposure_effect", dist.Normal(zero + 1.0, 0.5))

    preference = item_quality[..., item] + (
        user_pref[..., user, :] * item_factors[..., item, :]
    ).sum(-1)
    cuts = torch.as_tensor(cutpoints, dtype=zero.dtype, device=zero.device)
    with pyro.plate(INTERACTIONS, user.shape[0], dim=-1):
        exposure_logit = (
            exposure_offset
            + selection * preference
            + popularity_effect * item_popularity[..., item]
        )
        shown = pyro.sample("exposure", dist.Bernoulli(logits=exposure_logit), obs=exposure)
        pyro.sample("rating", RatingLevels(ordinal_probs(preference, cuts)), obs=rating)
        click_logit = click_offset + click_preference * preference + exposure_effect * shown
        pyro.sample("click", dist.Bernoulli(logits=click_logit), obs=click)


def simulator_scm(dim: int = 4) -> SCM:
    """Return the simulator as an :class:`SCM` (observed: exposure, rating, click)."""
    edges = [
        (parent, child)
        for parent in ("user_pref", "item_factors", "item_quality")
        for child in ("exposure", "rating", "click")
    ]
    edges += [
        ("item_popularity", "exposure"),
        ("exposure_offset", "exposure"),
        ("selection", "exposure"),
        ("popularity_effect", "exposure"),
        ("exposure", "click"),
        ("click_offset", "click"),
        ("click_preference", "click"),
        ("exposure_effect", "click"),
    ]
    return SCM(
        simulator_model,
        observed=("exposure", "rating", "click"),
        graph=edges,
        config={"dim": dim},
        name="simulator",
    )


@dataclasses.dataclass
class SimulatedWorld:
    """A simulated data set and the truth behind it.

    Attributes
    ----------
    data : RatingData
        Split ``"train"``: the ratings of exposed pairs (self-selected, missing not at random).
        Split ``"test"``: ratings of pairs drawn uniformly at random (``random=True``).
    pairs : dict of torch.Tensor
        Every user-item pair as the simulator's keyword arguments: ``user``, ``item``,
        ``exposure``, ``rating`` (drawn for every pair, observed or not) and ``click``.
    params : dict of torch.Tensor
        The true value of every latent site of :func:`simulator_model`.
    expected_rating : torch.Tensor
        ``E[rating]`` of every pair under the true parameters, shape ``(n_users, n_items)``:
        the target of predictions for items shown at random.
    click_effect : float
        The true average effect of exposure on click over all pairs,
        ``E[click | do(exposure=1)] - E[click | do(exposure=0)]``.
    naive_click_contrast : float
        ``E[click | exposure=1] - E[click | exposure=0]`` in the simulated data: the biased
        observational contrast.
    """

    data: RatingData
    pairs: dict
    params: dict
    expected_rating: torch.Tensor
    click_effect: float
    naive_click_contrast: float
    dim: int

    def true_draws(self) -> dict:
        """Return the true parameters as one posterior draw, for ``Posterior.from_samples``."""
        return {name: value.unsqueeze(0) for name, value in self.params.items()}


def simulate(
    n_users: int = 300,
    n_items: int = 200,
    dim: int = 4,
    exposure_offset: float = -3.0,
    selection: float = 1.5,
    popularity_effect: float = 1.0,
    click_offset: float = -2.0,
    click_preference: float = 1.0,
    exposure_effect: float = 1.0,
    test_per_user: int | None = None,
    seed: int = 0,
) -> SimulatedWorld:
    """Draw a confounded recommendation world from :func:`simulator_model`.

    User preferences and item qualities are drawn from their priors; the global coefficients
    are fixed to the arguments. Exposure rises with preference (``selection``) and item
    popularity, so the training ratings over-represent liked items. The ``"test"`` split contains
    ``test_per_user`` pairs per user (default ``min(10, n_items)``), drawn uniformly at random
    without replacement. Their ratings come from the same rating mechanism.
    """
    if n_users < 1 or n_items < 2:
        raise ValueError(f"simulate needs n_users >= 1 and n_items >= 2, got {n_users}, {n_items}.")
    if test_per_user is None:
        test_per_user = min(10, n_items)
    if not 1 <= test_per_user <= n_items:
        raise ValueError(f"test_per_user must be in [1, n_items={n_items}], got {test_per_user}.")
    generator = torch.Generator().manual_seed(seed)
    pairs_user = torch.arange(n_users).repeat_interleave(n_items)
    pairs_item = torch.arange(n_items).repeat(n_users)
    fixed = {
        "exposure_offset": exposure_offset,
        "selection": selection,
        "popularity_effect": popularity_effect,
        "click_offset": click_offset,
        "click_preference": click_preference,
        "exposure_effect": exposure_effect,
    }
    kwargs = {"user": pairs_user, "item": pairs_item, "n_users": n_users, "n_items": n_items}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = poutine.condition(
            simulator_scm(dim), data={k: torch.tensor(v) for k, v in fixed.items()}
        )
        trace = poutine.trace(model).get_trace(**kwargs)
    params = {
        name: site["value"].detach()
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and name not in ("exposure", "rating", "click")
        and not name.startswith(("users", "items", INTERACTIONS))
    }
    exposure = trace.nodes["exposure"]["value"].detach()
    rating = trace.nodes["rating"]["value"].detach()
    click = trace.nodes["click"]["value"].detach()

    preference = params["item_quality"][pairs_item] + (
        params["user_pref"][pairs_user] * params["item_factors"][pairs_item]
    ).sum(-1)
    expected = trace.nodes["rating"]["fn"].mean.detach().reshape(n_users, n_items)
    base = click_offset + click_preference * preference
    click_effect = (torch.sigmoid(base + exposure_effect) - torch.sigmoid(base)).mean().item()
    shown = exposure > 0
    naive = (click[shown].mean() - click[~shown].mean()).item()

    train = Split(
        "train",
        pairs_user[shown],
        pairs_item[shown],
        n_users,
        n_items,
        rating=rating[shown],
        rating_scale=(1.0, 5.0),
    )
    # Random test pairs: per user, the items with the smallest random keys.
    keys = torch.rand(n_users, n_items, generator=generator)
    test_items = keys.argsort(dim=1)[:, :test_per_user].reshape(-1)
    test_users = torch.arange(n_users).repeat_interleave(test_per_user)
    flat = test_users * n_items + test_items
    test = Split(
        "test",
        test_users,
        test_items,
        n_users,
        n_items,
        rating=rating[flat],
        random=True,
        rating_scale=(1.0, 5.0),
    )
    data = RatingData(
        {"train": train, "test": test},
        np.arange(n_users),
        np.arange(n_items),
        rating_scale=(1.0, 5.0),
        name="simulated",
    )
    pairs = {
        "user": pairs_user,
        "item": pairs_item,
        "exposure": exposure,
        "rating": rating,
        "click": click,
    }
    return SimulatedWorld(data, pairs, params, expected, click_effect, naive, dim)
