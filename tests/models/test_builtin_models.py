import pyro
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import TraceEnum_ELBO

import causalrec_pyro as cr
from causalrec_pyro.inference.traces import (
    draws_first,
    latent_sites,
    max_plate_nesting,
    prototype_trace,
    site_shapes,
    trace_over_draws,
)
from causalrec_pyro.models import ordinal_probs


@pytest.fixture
def world():
    return cr.simulate(n_users=12, n_items=9, seed=3)


@pytest.mark.parametrize(
    "scm", [cr.matrix_factorization(dim=3), cr.exposure_rating(dim=3)], ids=["mf", "mnar"]
)
def test_model_vectorizes_over_draws(scm, world):
    test = world.data["test"]
    kwargs = scm.model_kwargs(test, observe=False)
    trace = prototype_trace(scm, kwargs)
    shapes = site_shapes(trace, latent_sites(trace))
    nesting = max_plate_nesting(trace)
    draws = {name: torch.stack([trace.nodes[name]["value"]] * 4) for name in shapes}
    vectorized = trace_over_draws(scm, draws, kwargs, shapes, nesting)
    mean = draws_first(vectorized.nodes["rating"]["fn"].mean, 4, nesting)
    assert mean.shape == (4, len(test))
    # Every draw equals the single run with the same latent values.
    single = poutine.trace(poutine.condition(scm, data={k: v[0] for k, v in draws.items()}))
    expected = single.get_trace(**kwargs).nodes["rating"]["fn"].mean
    torch.testing.assert_close(mean, expected.expand(4, -1))


def test_enumerated_likelihood_equals_hand_marginal(world):
    """TraceEnum_ELBO sums the unobserved ratings exactly: compare with the explicit sum."""
    scm = cr.exposure_rating(dim=2, selection_on_preference=True)
    grid = world.data["train"].with_unobserved()
    kwargs = scm.model_kwargs(grid)
    trace = prototype_trace(scm, kwargs)
    latents = {name: trace.nodes[name]["value"].detach() for name in latent_sites(trace)}
    model = poutine.condition(scm, data=latents)

    def empty_guide(**kwargs):
        pass

    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(model, empty_guide, **kwargs)
    prior = sum(trace.nodes[name]["fn"].log_prob(value).sum() for name, value in latents.items())

    score = (
        latents["user_bias"][grid.user]
        + latents["item_quality"][grid.item]
        + (latents["user_pref"][grid.user] * latents["item_factors"][grid.item]).sum(-1)
    )
    probs = ordinal_probs(score, latents["rating_cutpoints"])  # (N, 5)
    base_logit = (
        latents["exposure_offset"]
        + latents["user_activity"][grid.user]
        + latents["item_popularity"][grid.item]
        + latents["selection"] * score
    )
    # One column per rating level: shape (N, 5).
    exposure_logit = base_logit[:, None] + latents["exposure_by_rating"]
    seen = grid.exposure > 0
    level = (grid.rating - 1).long()
    log_seen = (
        probs.log().gather(-1, level[:, None]).squeeze(-1)
        + torch.nn.functional.logsigmoid(exposure_logit).gather(-1, level[:, None]).squeeze(-1)
    )[seen]
    log_unseen = torch.logsumexp(
        probs.log() + torch.nn.functional.logsigmoid(-exposure_logit), dim=-1
    )[~seen]
    expected = -(prior + log_seen.sum() + log_unseen.sum())
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_features_enter_the_score():
    data = cr.simulate(n_users=6, n_items=5, seed=0).data
    split = data["train"]
    user_features = torch.eye(6)[:, :2]
    item_features = torch.eye(5)[:, :3]
    kwargs = dict(split.to_kwargs(), user_features=user_features, item_features=item_features)
    trace = prototype_trace(cr.matrix_factorization(dim=2, use_features=True), kwargs)
    assert trace.nodes["feature_weights"]["value"].shape == (2, 3)
    without = prototype_trace(cr.matrix_factorization(dim=2), split.to_kwargs())
    assert "feature_weights" not in without.nodes


def test_simulator_truth_is_consistent():
    world = cr.simulate(n_users=200, n_items=60, test_per_user=20, seed=1)
    train, test = world.data["train"], world.data["test"]
    # Self-selection: seen ratings are higher than ratings of random pairs.
    assert train.rating.mean() > test.rating.mean() + 0.3
    # The random test ratings are unbiased draws around the true expected rating.
    truth = world.expected_rating[test.user, test.item]
    standard_error = test.rating.std() / len(test) ** 0.5
    assert abs(test.rating.mean() - truth.mean()) < 4 * standard_error
    # Preference confounds exposure and click, so the naive contrast overstates the effect.
    assert world.naive_click_contrast > world.click_effect + 0.05
    assert world.pairs["exposure"].sum() == len(train)


def test_simulate_rejects_bad_sizes():
    with pytest.raises(ValueError, match="test_per_user"):
        cr.simulate(n_users=3, n_items=4, test_per_user=5)
    with pyro.validation_enabled(), pytest.raises(ValueError, match="n_items >= 2"):
        cr.simulate(n_users=3, n_items=1)
