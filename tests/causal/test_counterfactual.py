"""counterfactual: closed forms for CDF matching, explicit noise, propagation and errors."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from causalrec_pyro import SCM, Posterior, RatingLevels
from causalrec_pyro.causal import counterfactual
from causalrec_pyro.causal.noise import poisson_icdf, student_t_cdf, student_t_icdf
from causalrec_pyro.models.distributions import ordinal_probs

FAMILIES = {
    "normal": lambda x: dist.Normal(1.0 + 2.0 * x, 0.5),
    "lognormal": lambda x: dist.LogNormal(0.3 * x, 0.5),
    "student_t": lambda x: dist.StudentT(2.0 + x * x, x, 0.5),
    "laplace": lambda x: dist.Laplace(x, 0.5),
    "bernoulli": lambda x: dist.Bernoulli(logits=x),
    "categorical": lambda x: dist.Categorical(logits=torch.stack([0.0 * x, x, 2.0 * x], -1)),
    "ordered_logistic": lambda x: dist.OrderedLogistic(x, torch.tensor([-1.0, 0.0, 1.0])),
    "rating_levels": lambda x: RatingLevels(ordinal_probs(x, torch.tensor([-1.5, -0.5, 0.5, 1.5]))),
    "poisson": lambda x: dist.Poisson(torch.exp(0.5 + 0.5 * x)),
}


def family_model(unit, x=None, y=None, *, n_units, family):
    """x ~ N(shift, 1) and y ~ FAMILIES[family](x), one row per unit."""
    shift = pyro.sample("shift", dist.Normal(0.0, 1.0))
    with pyro.plate("interactions", unit.shape[0], dim=-1):
        x = pyro.sample("x", dist.Normal(shift, 1.0), obs=x)
        return pyro.sample("y", FAMILIES[family](x), obs=y)


def _family_case(family: str, n: int = 200):
    # Pyro's OrderedLogistic fills its probabilities in place, which hides the edge x -> y from
    # get_dependencies; the declared graph supplies it.
    scm = SCM(
        family_model,
        observed=("x", "y"),
        plates={"interactions": ("unit",)},
        graph=[("shift", "x"), ("x", "y")],
        config={"family": family},
    )
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(n, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        y = FAMILIES[family](x).sample()
    data = {"unit": torch.arange(n), "x": x, "y": y, "n_units": n}
    posterior = Posterior.from_samples(scm, {"shift": torch.zeros(1)}, data=data)
    return posterior, data


# ---------------------------------------------------------------- CDF matching
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_no_change_returns_factual(family):
    posterior, data = _family_case(family)
    result = counterfactual(posterior, data, {"x": data["x"]}, "y", num_samples=3)
    assert result.shape == (3, 200)
    assert result.dtype == data["y"].dtype
    torch.testing.assert_close(result, data["y"].expand(3, -1), rtol=1e-5, atol=1e-5)


def test_linear_gaussian_closed_form(linear_posterior, linear_data, linear_params):
    x, m, y = linear_data["x"], linear_data["m"], linear_data["y"]
    setting = x + 1.0
    result = counterfactual(linear_posterior, linear_data, {"x": setting}, "y", num_samples=2)
    a, b, c = linear_params["a"], linear_params["b"], linear_params["c"]
    # Abduction: the noises of m and y are their residuals; both are reused after do(x).
    m_cf = m + a * (setting - x)
    expected = y + b * (m_cf - m) + c * (setting - x)
    torch.testing.assert_close(result, expected.expand(2, -1), rtol=1e-5, atol=1e-5)


def test_mediator_intervention_closed_form(linear_posterior, linear_data, linear_params):
    setting = torch.zeros(50)
    result = counterfactual(linear_posterior, linear_data, {"m": setting}, "y", num_samples=1)
    expected = linear_data["y"] + linear_params["b"] * (setting - linear_data["m"])
    torch.testing.assert_close(result[0], expected, rtol=1e-5, atol=1e-5)


def test_lognormal_closed_form():
    posterior, data = _family_case("lognormal")
    result = counterfactual(posterior, data, {"x": data["x"] + 1.0}, "y", num_samples=1)
    torch.testing.assert_close(
        result[0], data["y"] * torch.exp(torch.tensor(0.3)), rtol=1e-5, atol=0
    )


def test_laplace_closed_form():
    posterior, data = _family_case("laplace")
    result = counterfactual(posterior, data, {"x": data["x"] + 1.0}, "y", num_samples=1)
    torch.testing.assert_close(result[0], data["y"] + 1.0, rtol=1e-4, atol=1e-4)


def test_student_t_degrees_change():
    stats = pytest.importorskip("scipy.stats")
    posterior, data = _family_case("student_t")
    x, y = data["x"].double(), data["y"].double()
    setting = x + 1.0
    result = counterfactual(posterior, data, {"x": setting.float()}, "y", num_samples=1)
    quantile = stats.t.cdf(((y - x) / 0.5).numpy(), (2.0 + x * x).numpy())
    expected = setting + 0.5 * torch.as_tensor(stats.t.ppf(quantile, (2.0 + setting**2).numpy()))
    torch.testing.assert_close(result[0].double(), expected, rtol=1e-5, atol=1e-5)


def test_student_t_functions_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    z = torch.linspace(-30.0, 30.0, 61, dtype=torch.float64)
    df = torch.linspace(0.5, 60.0, 61, dtype=torch.float64)
    torch.testing.assert_close(
        student_t_cdf(z, df), torch.as_tensor(stats.t.cdf(z, df)), rtol=1e-10, atol=1e-12
    )
    uniform = torch.linspace(1e-6, 1 - 1e-6, 61, dtype=torch.float64)
    torch.testing.assert_close(
        student_t_icdf(uniform, df), torch.as_tensor(stats.t.ppf(uniform, df)), rtol=1e-8, atol=1e-9
    )


def test_poisson_icdf_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    uniform = torch.linspace(1e-6, 1 - 1e-6, 101, dtype=torch.float64)
    rate = torch.linspace(0.01, 400.0, 101, dtype=torch.float64)
    expected = torch.as_tensor(stats.poisson.ppf(uniform, rate))
    torch.testing.assert_close(poisson_icdf(uniform, rate), expected)


def test_poisson_shift_is_monotone():
    posterior, data = _family_case("poisson", n=4000)
    setting = data["x"] + 1.0
    result = counterfactual(posterior, data, {"x": setting}, "y", num_samples=10)
    assert (result >= data["y"]).all()
    # Over units, u is uniform, so the counterfactual counts follow Poisson(rate_cf). The ten
    # values of a unit share its evidence, so the standard error counts units, not values.
    rate = torch.exp(0.5 + 0.5 * setting)
    standard_error = (rate.mean() / 4000) ** 0.5
    assert abs(result.mean() - rate.mean()) < 4 * standard_error


@pytest.mark.parametrize("family", ["rating_levels", "ordered_logistic"])
def test_ordinal_shift_is_monotone(family):
    posterior, data = _family_case(family)
    result = counterfactual(posterior, data, {"x": data["x"] + 1.0}, "y", num_samples=20)
    assert (result >= data["y"]).all()
    assert (result > data["y"]).any()


def _click_case(shown: float, n: int = 400):
    def click_model(unit, shown=None, click=None, *, n_units):
        base = pyro.sample("base", dist.Normal(0.0, 1.0))
        lift = pyro.sample("lift", dist.Normal(0.0, 1.0))
        with pyro.plate("interactions", unit.shape[0], dim=-1):
            shown = pyro.sample("shown", dist.Bernoulli(0.5), obs=shown)
            pyro.sample("click", dist.Bernoulli(logits=base + lift * shown), obs=click)

    scm = SCM(click_model, observed=("shown", "click"), plates={"interactions": ("unit",)})
    base, lift = -0.5, 1.0
    probability = torch.sigmoid(torch.tensor(base + lift * shown))
    generator = torch.Generator().manual_seed(2)
    click = (torch.rand(n, generator=generator) < probability).float()
    data = {"unit": torch.arange(n), "shown": torch.full((n,), shown), "click": click, "n_units": n}
    draws = {"base": torch.tensor([base]), "lift": torch.tensor([lift])}
    return Posterior.from_samples(scm, draws, data=data), data, base, lift


def _assert_rate(values: torch.Tensor, expected: float):
    standard_error = max((expected * (1 - expected) / values.numel()) ** 0.5, 1e-12)
    assert abs(values.float().mean().item() - expected) <= 4 * standard_error + 1e-12


def test_bernoulli_stability_when_probability_rises():
    posterior, data, base, lift = _click_case(shown=0.0)
    result = counterfactual(posterior, data, {"shown": 1.0}, "click", num_samples=200)
    p = torch.sigmoid(torch.tensor(base)).item()
    p_cf = torch.sigmoid(torch.tensor(base + lift)).item()
    clicked = data["click"] > 0
    assert (result[:, clicked] == 1).all()
    _assert_rate(result[:, ~clicked], (p_cf - p) / (1 - p))


def test_bernoulli_stability_when_probability_falls():
    posterior, data, base, lift = _click_case(shown=1.0)
    result = counterfactual(posterior, data, {"shown": 0.0}, "click", num_samples=200)
    p = torch.sigmoid(torch.tensor(base + lift)).item()
    p_cf = torch.sigmoid(torch.tensor(base)).item()
    clicked = data["click"] > 0
    assert (result[:, ~clicked] == 0).all()
    _assert_rate(result[:, clicked], p_cf / p)


def test_simulator_click_counterfactual(world_pairs, true_posterior):
    result = counterfactual(true_posterior, world_pairs, {"exposure": 1.0}, "click", num_samples=20)
    shown = world_pairs["exposure"] > 0
    # Exposed pairs keep their clicks; exposure only raises click probabilities.
    assert torch.equal(result[:, shown], world_pairs["click"][shown].expand(20, -1))
    assert (result >= world_pairs["click"]).all()


# -------------------------------------------------------------- explicit noise
def explicit_model(unit, x=None, *, n_units):
    """y = b x + y_sd * y_noise with the noise as its own per-unit latent site."""
    b = pyro.sample("b", dist.Normal(0.0, 1.0))
    y_sd = pyro.sample("y_sd", dist.HalfNormal(1.0))
    with pyro.plate("interactions", unit.shape[0], dim=-1):
        x = pyro.sample("x", dist.Normal(0.0, 1.0), obs=x)
        noise = pyro.sample("y_noise", dist.Normal(0.0, 1.0))
        return pyro.deterministic("y", b * x + y_sd * noise)


def implicit_model(unit, x=None, y=None, *, n_units):
    """The same mechanism with the noise left inside y's Normal distribution."""
    b = pyro.sample("b", dist.Normal(0.0, 1.0))
    y_sd = pyro.sample("y_sd", dist.HalfNormal(1.0))
    with pyro.plate("interactions", unit.shape[0], dim=-1):
        x = pyro.sample("x", dist.Normal(0.0, 1.0), obs=x)
        return pyro.sample("y", dist.Normal(b * x, y_sd), obs=y)


def test_explicit_noise_matches_cdf_matching():
    n, b, y_sd = 30, 1.5, 0.3
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(n, generator=generator)
    noise = torch.randn(n, generator=generator)
    y = b * x + y_sd * noise
    plates = {"interactions": ("unit",)}
    explicit = SCM(explicit_model, observed=("x",), plates=plates)
    implicit = SCM(implicit_model, observed=("x", "y"), plates=plates)
    evidence = {"unit": torch.arange(n), "x": x, "y": y, "n_units": n}
    params = {"b": torch.tensor([b]), "y_sd": torch.tensor([y_sd])}
    # Abduction by inference: the posterior of the noise given (x, y) is a point mass here.
    explicit_posterior = Posterior.from_samples(
        explicit, {**params, "y_noise": noise.unsqueeze(0)}, data=evidence
    )
    implicit_posterior = Posterior.from_samples(implicit, params, data=evidence)
    setting = {"x": x + 1.0}
    by_noise = counterfactual(explicit_posterior, evidence, setting, "y", num_samples=1)
    by_cdf = counterfactual(implicit_posterior, evidence, setting, "y", num_samples=1)
    torch.testing.assert_close(by_noise[0], y + b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(by_cdf, by_noise, rtol=1e-5, atol=1e-5)


def test_explicit_noise_needs_fitted_units():
    explicit = SCM(explicit_model, observed=("x",), plates={"interactions": ("unit",)})
    draws = {"b": torch.ones(1), "y_sd": torch.ones(1), "y_noise": torch.zeros(1, 30)}
    posterior = Posterior.from_samples(explicit, draws)
    evidence = {"unit": torch.arange(10), "x": torch.zeros(10), "n_units": 10}
    with pytest.raises(
        ValueError, match=r"Latent site 'y_noise' has shape \(30,\) in the posterior but \(10,\)"
    ):
        counterfactual(posterior, evidence, {"x": 1.0}, "y")


# ---------------------------------------------------------------------- errors
def test_site_without_cdf_raises():
    def model(unit, x=None, y=None, *, n_units):
        shift = pyro.sample("shift", dist.Normal(0.0, 1.0))
        with pyro.plate("interactions", unit.shape[0], dim=-1):
            x = pyro.sample("x", dist.Normal(shift, 1.0), obs=x)
            pyro.sample("y", dist.Gamma(torch.exp(x), 1.0), obs=y)

    scm = SCM(model, observed=("x", "y"), plates={"interactions": ("unit",)})
    data = {"unit": torch.arange(5), "x": torch.zeros(5), "y": torch.ones(5), "n_units": 5}
    posterior = Posterior.from_samples(scm, {"shift": torch.zeros(1)}, data=data)
    with pytest.raises(
        ValueError, match=r"Site 'y' has a Gamma distribution .* Write its noise explicitly"
    ):
        counterfactual(posterior, data, {"x": 1.0}, "y")


def test_outcome_not_downstream_raises(linear_posterior, linear_data):
    with pytest.raises(
        ValueError, match=r"Outcome 'x' does not descend from the intervened site\(s\) \['m'\]"
    ):
        counterfactual(linear_posterior, linear_data, {"m": 0.0}, "x")


def test_outcome_intervened_raises(linear_posterior, linear_data):
    with pytest.raises(ValueError, match=r"Outcome 'm' does not descend"):
        counterfactual(linear_posterior, linear_data, {"m": 0.0}, "m")


def test_missing_mediator_evidence_raises(linear_posterior, linear_data):
    evidence = {k: v for k, v in linear_data.items() if k != "m"}
    with pytest.raises(ValueError, match=r"Site 'm' affects outcome 'y' but has no factual value"):
        counterfactual(linear_posterior, evidence, {"x": 0.0}, "y")


def test_empty_intervention_raises(linear_posterior, linear_data):
    with pytest.raises(ValueError, match="intervention is empty"):
        counterfactual(linear_posterior, linear_data, {}, "y")


def test_unknown_outcome_raises(linear_posterior, linear_data):
    with pytest.raises(ValueError, match=r"outcome names the site 'z'"):
        counterfactual(linear_posterior, linear_data, {"x": 0.0}, "z")


def test_unknown_intervention_site_raises(linear_posterior, linear_data):
    with pytest.raises(ValueError, match=r"intervention names the site 'w'.*\['a', 'b', 'c'"):
        counterfactual(linear_posterior, linear_data, {"w": 0.0}, "y")
