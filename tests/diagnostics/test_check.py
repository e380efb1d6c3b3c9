"""check_scm: the report of a sound model, and each planted problem with its fix."""

import pyro
import pyro.distributions as dist
import torch

from causalrec_pyro.diagnostics import check_scm
from causalrec_pyro.models import exposure_rating, matrix_factorization
from causalrec_pyro.models.scm import SCM


def test_sound_model_has_no_problems(train):
    report = check_scm(matrix_factorization(dim=2), train)

    assert report.ok
    assert [site.name for site in report.observed] == ["rating"]
    assert "user_pref" in [site.name for site in report.latent]
    assert {plate.name for plate in report.plates} == {"users", "items", "interactions"}
    assert report.cdf_ready == ["rating"]
    text = str(report)
    assert "Problems: none" in text
    assert "user_pref: Independent(Normal), batch shape (12,), event shape (2,)" in text


def test_split_site_is_reported_once(grid, train):
    report = check_scm(exposure_rating(dim=2, use_propensity=False), grid)

    assert report.ok
    observed = {site.name: site for site in report.observed}
    assert set(observed) == {"rating", "exposure"}
    assert f"observed at {len(train)} of {len(grid)} units" in observed["rating"].note
    assert observed["rating"].has_cdf
    # Torch's Bernoulli has no cdf, but the counterfactual layer builds one for it.
    assert not observed["exposure"].has_cdf
    assert report.cdf_ready == ["rating", "exposure"]
    unobserved = [site for site in report.latent if site.name == "rating_unobserved"]
    assert unobserved[0].enumerated


def unplated_user_bias(user, item, rating=None, *, n_users, n_items):
    bias = pyro.sample("user_bias", dist.Normal(torch.zeros(n_users), 1.0))
    with pyro.plate("interactions", user.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(bias[..., user], 1.0), obs=rating)


def test_latent_outside_its_plate(train):
    report = check_scm(SCM(unplated_user_bias, observed=("rating",)), train)

    assert report.kinds() == {"unplated_dimension"}
    problem = report.problems[0]
    assert problem.site == "user_bias"
    assert "dimension -1 of size 12 (the number of users)" in problem.message
    assert "pyro.plate('users', 12, dim=-1)" in problem.fix


def column_mean(user, item, rating=None, *, n_users, n_items):
    zero = user.new_zeros((), dtype=torch.float)
    with pyro.plate("users", n_users, dim=-1):
        bias = pyro.sample("user_bias", dist.Normal(zero, 1.0))
    mean = bias[..., user].unsqueeze(-1)  # (N, 1): broadcasts against the plate to (N, N)
    with pyro.plate("interactions", user.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(mean, 1.0), obs=rating)


def test_interaction_site_broadcast(train):
    report = check_scm(SCM(column_mean, observed=("rating",)), train)

    assert report.kinds() == {"interaction_shape"}
    n = len(train)
    assert f"should be ({n},), but it is ({n}, {n})" in report.problems[0].message


def global_mean(user, item, rating=None, *, n_users, n_items):
    mean = pyro.sample("mean", dist.Normal(3.0, 1.0))
    with pyro.plate("interactions", user.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(mean, 1.0), obs=rating)


def test_observed_value_of_wrong_shape(train):
    data = dict(train.to_kwargs(), rating=train.rating.unsqueeze(-1))
    report = check_scm(SCM(global_mean, observed=("rating",)), data)

    n = len(train)
    assert report.kinds() == {"shape_mismatch"}
    assert f"value of shape ({n}, 1) but its distribution has shape ({n},)" in (
        report.problems[0].message
    )
    assert f"log-density has shape ({n}, {n})" in report.problems[0].message


def count_model(user, item, rating=None, *, n_users, n_items):
    rate = pyro.sample("rate", dist.Gamma(2.0, 1.0))
    with pyro.plate("interactions", user.shape[0], dim=-1):
        pyro.sample("rating", dist.Poisson(rate), obs=rating)


def test_observed_value_outside_support(train):
    rating = train.rating.clone()
    rating[3] = 2.5
    report = check_scm(SCM(count_model, observed=("rating",)), train.replace(rating=rating))

    assert report.kinds() == {"outside_support"}
    assert "1 value(s) outside the support of its Poisson distribution" in (
        report.problems[0].message
    )
    assert "the first is 2.5 at unit 3" in report.problems[0].message
    assert report.observed[0].has_cdf is False


def test_masked_placeholders_are_not_checked(grid):
    rating = grid.rating.clone()
    rating[grid.exposure == 0] = 0.0  # outside 1..5, but never observed
    report = check_scm(exposure_rating(dim=2, use_propensity=False), grid.replace(rating=rating))

    assert report.ok


def test_declared_and_model_observations_disagree(train):
    data = dict(train.to_kwargs(), rating=train.rating)
    report = check_scm(SCM(global_mean, observed=("score",)), data)

    assert report.kinds() == {"missing_observed", "undeclared_observed"}
    messages = " ".join(problem.message for problem in report.problems)
    assert "SCM(observed=...) lists 'score'" in messages
    assert "Site 'rating' is observed (obs= is given) but not listed" in messages


def coin_model(user, item, rating=None, *, n_users, n_items):
    coin = pyro.sample("coin", dist.Bernoulli(0.5))
    with pyro.plate("interactions", user.shape[0], dim=-1):
        pyro.sample("rating", dist.Normal(3.0 + coin, 1.0), obs=rating)


def test_discrete_latent(train):
    report = check_scm(SCM(coin_model, observed=("rating",)), train)

    assert report.kinds() == {"discrete_latent"}
    assert "infer={'enumerate': 'parallel'}" in report.problems[0].fix


def per_item_mean_in_interactions(user, item, rating=None, *, n_users, n_items):
    with pyro.plate("interactions", user.shape[0], dim=-1):
        # A mean per item, not per interaction: Pyro raises a plate shape mismatch.
        pyro.sample("rating", dist.Normal(torch.zeros(n_items), 1.0), obs=rating)


def test_model_error_is_reported(train):
    report = check_scm(SCM(per_item_mean_in_interactions, observed=("rating",)), train)

    assert report.kinds() == {"model_error"}
    assert "Running the model on the data raised ValueError: Shape mismatch inside plate" in (
        report.problems[0].message
    )
    assert "[model_error]" in str(report)
