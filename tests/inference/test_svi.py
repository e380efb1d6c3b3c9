import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch

import causalrec_pyro as cr
from causalrec_pyro.inference.svi import _ScaleInteractions


def normal_mean_model(user, item, rating=None, *, n_users, n_items):
    """rating ~ N(mu, 1) with mu ~ N(0, 10^2): the posterior of mu is Gaussian in closed form."""
    mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0), 10.0))
    with pyro.plate("interactions", user.shape[0]):
        pyro.sample("rating", dist.Normal(mu, 1.0), obs=rating)


def _data(n=200, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rating = 2.0 + torch.randn(n, generator=generator)
    return {
        "user": torch.zeros(n, dtype=torch.long),
        "item": torch.zeros(n, dtype=torch.long),
        "rating": rating,
        "n_users": 1,
        "n_items": 1,
    }


def test_svi_matches_closed_form_posterior():
    data = _data()
    n = data["rating"].shape[0]
    precision = 1 / 10.0**2 + n
    mean = data["rating"].sum() / precision
    scm = cr.SCM(normal_mean_model, observed=("rating",))
    posterior = cr.fit_svi(scm, data, num_steps=1500, lr=0.05, seed=0, progress=False)
    draws = posterior.sample(4000, seed=0)["mu"]
    assert draws.mean().item() == pytest.approx(mean.item(), abs=0.02)
    assert draws.std().item() == pytest.approx(precision**-0.5, rel=0.25)
    assert len(posterior.loss_history) == 1500


def test_minibatch_scales_interaction_sites():
    data = _data(n=100)
    scm = cr.SCM(normal_mean_model, observed=("rating",))
    batch = {**data, "rating": data["rating"][:10], "user": data["user"][:10]}
    batch["item"] = data["item"][:10]
    trace = poutine.trace(_ScaleInteractions(10.0)(scm)).get_trace(**batch)
    assert trace.nodes["rating"]["scale"] == 10.0
    assert trace.nodes["mu"]["scale"] == 1.0


def test_minibatch_fit_reaches_same_posterior():
    data = _data(n=400)
    scm = cr.SCM(normal_mean_model, observed=("rating",))
    posterior = cr.fit_svi(
        scm, data, num_steps=1500, lr=0.05, batch_size=100, seed=0, progress=False
    )
    expected = data["rating"].sum() / (1 / 100 + 400)
    assert posterior.mean(2000)["mu"].item() == pytest.approx(expected.item(), abs=0.06)


def test_infinite_loss_names_the_step():
    def degenerate(user, item, rating=None, *, n_users, n_items):
        mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0), 1.0))
        with pyro.plate("interactions", user.shape[0]):
            # A scale this small overflows the squared error in float32.
            pyro.sample("rating", dist.Normal(mu, 1e-30), obs=rating)

    scm = cr.SCM(degenerate, observed=("rating",))
    with pytest.raises(cr.FitError, match="loss is inf at step 0 .* smaller lr"):
        cr.fit_svi(scm, _data(), num_steps=5, progress=False)


def test_nan_in_data_is_rejected():
    data = _data()
    data["rating"][7] = float("nan")
    scm = cr.SCM(normal_mean_model, observed=("rating",))
    with pytest.raises(ValueError, match="'rating' has a non-finite value nan at row 7"):
        cr.fit_svi(scm, data, num_steps=5, progress=False)


def test_unknown_guide_name():
    scm = cr.SCM(normal_mean_model, observed=("rating",))
    with pytest.raises(ValueError, match="Unknown guide 'laplace'"):
        cr.fit_svi(scm, _data(), guide="laplace", num_steps=5, progress=False)


def test_discrete_latent_needs_enumeration():
    def discrete(user, item, rating=None, *, n_users, n_items):
        flag = pyro.sample("flag", dist.Bernoulli(torch.tensor(0.5)))
        with pyro.plate("interactions", user.shape[0]):
            pyro.sample("rating", dist.Normal(flag, 1.0), obs=rating)

    with pytest.raises(cr.FitError, match="'flag' is discrete and not enumerated"):
        cr.fit_svi(cr.SCM(discrete, observed=("rating",)), _data(), num_steps=5, progress=False)


def test_bad_arguments_are_rejected():
    scm = cr.SCM(normal_mean_model, observed=("rating",))
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        cr.fit_svi(scm, _data(), num_steps=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        cr.fit_svi(scm, _data(), num_steps=1, batch_size=0, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_gpu_is_explained():
    scm = cr.SCM(normal_mean_model, observed=("rating",))
    with pytest.raises(ValueError, match="CUDA is not available"):
        cr.fit_svi(scm, _data(), num_steps=1, device="cuda")


def test_exposure_model_beats_baseline_on_simulator():
    """On self-selected ratings, the exposure-aware SCM predicts random pairs closer to truth."""
    world = cr.simulate(n_users=100, n_items=60, seed=0)
    test = world.data["test"]
    truth = world.expected_rating[test.user, test.item]
    errors = {}
    for name, scm, split in [
        ("mf", cr.matrix_factorization(dim=3, prior_scale=0.3), world.data["train"]),
        (
            "mnar",
            cr.exposure_rating(dim=3, prior_scale=0.3),
            world.data["train"].with_unobserved(),
        ),
    ]:
        posterior = cr.fit_svi(scm, split, num_steps=600, lr=0.03, seed=0, progress=False)
        prediction = cr.predict_mean(posterior, test, num_samples=50).mean(0)
        errors[name] = (prediction - truth).pow(2).mean().sqrt().item()
    # Measured at seed 0: RMSE 1.13 (mnar) against 1.24 (mf).
    assert errors["mnar"] < errors["mf"] - 0.05, errors
