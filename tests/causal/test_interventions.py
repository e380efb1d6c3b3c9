"""intervene: exact identities against hand-written Pyro handlers, shapes and errors."""

import pyro.poutine as poutine
import pytest
import torch

from causalrec_pyro import Posterior
from causalrec_pyro.causal import intervene
from causalrec_pyro.data.simulate import simulator_scm


def _hand_trace(
    model, params: dict, kwargs: dict, seed: int, do=None, condition=None, order="do_first"
):
    """Trace ``model`` with fixed parameters, one intervention and one conditioning."""
    fixed = poutine.condition(model, data={k: torch.as_tensor(v) for k, v in params.items()})
    if order == "do_first":  # condition(do(model))
        handled = poutine.condition(poutine.do(fixed, data=do), data=condition)
    else:  # do(condition(model))
        handled = poutine.do(poutine.condition(fixed, data=condition), data=do)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return poutine.trace(handled).get_trace(**kwargs)


def test_matches_hand_written_do(world, world_pairs, true_posterior):
    policy = (world_pairs["item"] % 2).float()
    result = intervene(true_posterior, {"exposure": policy}, world_pairs, seed=5, num_samples=1)
    means = intervene(
        true_posterior, {"exposure": policy}, world_pairs, num_samples=1, statistic="mean"
    )
    params = {k: v[0] for k, v in world.true_draws().items()}
    kwargs = simulator_scm().model_kwargs(world_pairs, observe=False)
    # The rating does not descend from exposure, so it keeps its observed value.
    rating = world_pairs["rating"]
    trace = _hand_trace(
        simulator_scm(), params, kwargs, 5, do={"exposure": policy}, condition={"rating": rating}
    )
    torch.testing.assert_close(
        means["click"][0], trace.nodes["click"]["fn"].mean, rtol=1e-5, atol=0
    )
    torch.testing.assert_close(result["click"][0], trace.nodes["click"]["value"])
    torch.testing.assert_close(result["rating"][0], rating)
    torch.testing.assert_close(result["exposure"][0], policy)


def test_generated_observed_sites_match_hand_written_do(world, world_pairs, true_posterior):
    result = intervene(
        true_posterior, {"exposure": 1.0}, world_pairs, seed=2, num_samples=1, keep_observed=False
    )
    params = {k: v[0] for k, v in world.true_draws().items()}
    kwargs = simulator_scm().model_kwargs(world_pairs, observe=False)
    ones = torch.ones(120)
    trace = _hand_trace(simulator_scm(), params, kwargs, 2, do={"exposure": ones}, condition={})
    torch.testing.assert_close(result["rating"][0], trace.nodes["rating"]["value"])
    torch.testing.assert_close(result["click"][0], trace.nodes["click"]["value"])
    assert not torch.equal(result["rating"][0], world_pairs["rating"])


def test_root_do_equals_condition(linear_posterior, linear_data):
    setting = torch.linspace(-2.0, 2.0, 50)
    mediator = linear_data["m"]
    done = intervene(
        linear_posterior, {"x": setting}, linear_data, ["m"], num_samples=1, statistic="mean"
    )
    conditioned = intervene(
        linear_posterior,
        {},
        linear_data,
        ["m"],
        num_samples=1,
        statistic="mean",
        condition={"x": setting},
    )
    torch.testing.assert_close(done["m"], conditioned["m"], rtol=1e-5, atol=0)
    # y's mean depends on the sampled m, so hold m fixed to compare y exactly.
    done = intervene(
        linear_posterior,
        {"x": setting},
        linear_data,
        ["y"],
        num_samples=1,
        statistic="mean",
        condition={"m": mediator},
    )
    conditioned = intervene(
        linear_posterior,
        {},
        linear_data,
        ["y"],
        num_samples=1,
        statistic="mean",
        condition={"x": setting, "m": mediator},
    )
    torch.testing.assert_close(done["y"], conditioned["y"], rtol=1e-5, atol=0)


def test_do_and_condition_commute(linear, linear_params, linear_posterior, linear_data):
    setting = torch.full((50,), 1.0)
    mediator = linear_data["m"]
    result = intervene(
        linear_posterior,
        {"x": setting},
        linear_data,
        ["y"],
        num_samples=1,
        seed=11,
        condition={"m": mediator},
    )
    means = intervene(
        linear_posterior,
        {"x": setting},
        linear_data,
        ["y"],
        num_samples=1,
        statistic="mean",
        condition={"m": mediator},
    )
    kwargs = linear.model_kwargs(linear_data, observe=False)
    traces = [
        _hand_trace(linear, linear_params, kwargs, 11, {"x": setting}, {"m": mediator}, order)
        for order in ("do_first", "condition_first")
    ]
    for trace in traces:
        torch.testing.assert_close(means["y"][0], trace.nodes["y"]["fn"].mean, rtol=1e-5, atol=0)
        torch.testing.assert_close(result["y"][0], trace.nodes["y"]["value"], rtol=1e-5, atol=0)
    expected = linear_params["b"] * mediator + linear_params["c"] * setting
    torch.testing.assert_close(means["y"][0], expected, rtol=1e-5, atol=1e-6)


def test_callable_policy_equals_tensor(world_pairs, true_posterior):
    def expose_even_items(kwargs):
        return (kwargs["item"] % 2 == 0).float()

    by_policy = intervene(
        true_posterior, {"exposure": expose_even_items}, world_pairs, num_samples=1
    )
    tensor = (world_pairs["item"] % 2 == 0).float()
    by_tensor = intervene(true_posterior, {"exposure": tensor}, world_pairs, num_samples=1)
    torch.testing.assert_close(by_policy["click"], by_tensor["click"])


def test_shapes_and_seed(world_pairs, true_posterior):
    first = intervene(true_posterior, {"exposure": 1.0}, world_pairs, num_samples=7, chunk_size=3)
    again = intervene(true_posterior, {"exposure": 1.0}, world_pairs, num_samples=7, chunk_size=3)
    other = intervene(true_posterior, {"exposure": 1.0}, world_pairs, num_samples=7, seed=1)
    assert sorted(first) == ["click", "exposure", "rating"]
    assert first["click"].shape == (7, 120)
    assert torch.equal(first["exposure"], torch.ones(7, 120))
    assert torch.equal(first["click"], again["click"])
    assert not torch.equal(first["click"], other["click"])


def test_latent_return_site_keeps_its_shape(world_pairs, true_posterior):
    result = intervene(true_posterior, {"exposure": 0.0}, world_pairs, ["user_pref"], num_samples=2)
    assert result["user_pref"].shape == (2, 12, 4)


def test_global_state_untouched(world_pairs, true_posterior):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    intervene(true_posterior, {"exposure": 1.0}, world_pairs, num_samples=2)
    torch.testing.assert_close(torch.rand(3), expected)


# ---------------------------------------------------------------------- errors
def test_unknown_site_raises(world_pairs, true_posterior):
    with pytest.raises(ValueError, match=r"names the site 'exposed'.*its sites are \['click'"):
        intervene(true_posterior, {"exposed": 1.0}, world_pairs)


def test_unknown_return_site_raises(world_pairs, true_posterior):
    with pytest.raises(ValueError, match=r"return_sites names the site 'clicks'"):
        intervene(true_posterior, {"exposure": 1.0}, world_pairs, ["clicks"])


def test_wrong_shape_raises(world_pairs, true_posterior):
    with pytest.raises(
        ValueError, match=r"site 'exposure' has shape \(7,\), expected a scalar or shape \(120,\)"
    ):
        intervene(true_posterior, {"exposure": torch.ones(7)}, world_pairs)


def test_policy_wrong_shape_raises(world_pairs, true_posterior):
    with pytest.raises(ValueError, match=r"shape \(12,\), expected a scalar or shape \(120,\)"):
        intervene(true_posterior, {"exposure": lambda kwargs: torch.ones(12)}, world_pairs)


def test_intervention_not_a_dict_raises(world_pairs, true_posterior):
    with pytest.raises(
        TypeError, match="intervention must be a dict of site name to value, got list"
    ):
        intervene(true_posterior, [("exposure", 1.0)], world_pairs)


def test_unknown_statistic_raises(world_pairs, true_posterior):
    with pytest.raises(ValueError, match="statistic must be 'sample' or 'mean', got 'median'"):
        intervene(true_posterior, {"exposure": 1.0}, world_pairs, statistic="median")


def test_other_users_raise(world, true_posterior):
    pairs = {**world.pairs, "user": world.pairs["user"] % 5, "n_users": 5, "n_items": 10}
    with pytest.raises(
        ValueError,
        match=r"Latent site 'user_pref' has shape \(12, 4\) in the posterior but \(5, 4\)",
    ):
        intervene(true_posterior, {"exposure": 1.0}, pairs)


def test_num_samples_checked(world_pairs, true_posterior):
    with pytest.raises(ValueError, match="num_samples must be >= 1, got 0"):
        intervene(true_posterior, {"exposure": 1.0}, world_pairs, num_samples=0)


def test_posterior_type_checked(world_pairs):
    with pytest.raises(TypeError, match="posterior must be a Posterior, got dict"):
        intervene({}, {"exposure": 1.0}, world_pairs)


def test_from_samples_without_data(world, world_pairs):
    posterior = Posterior.from_samples(simulator_scm(), world.true_draws())
    result = intervene(posterior, {"exposure": 1.0}, world_pairs, num_samples=1, statistic="mean")
    assert result["click"].shape == (1, 120)


def test_value_outside_support_is_rejected():
    import causalrec_pyro as cr

    world = cr.simulate(n_users=8, n_items=6, seed=0)
    posterior = cr.fit_svi(
        cr.exposure_rating(dim=2),
        world.data["train"].with_unobserved(),
        num_steps=3,
        progress=False,
    )
    test = world.data["test"]
    with pytest.raises(ValueError, match="value 6.0 for site 'rating' is outside its support"):
        cr.intervene(posterior, {"rating": 6.0}, test, num_samples=2)
    with pytest.raises(ValueError, match="value 2.5 for site 'rating' is outside its support"):
        cr.average_effect(posterior, "rating", "exposure", 2.5, 1.0, test, num_samples=2)
