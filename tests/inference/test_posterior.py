import pytest
import torch

import causalrec_pyro as cr


@pytest.fixture(scope="module")
def world():
    return cr.simulate(n_users=20, n_items=15, seed=2)


@pytest.mark.parametrize("guide", ["normal", "delta", "lowrank"])
def test_save_load_round_trips_exactly(guide, world, tmp_path):
    scm = cr.matrix_factorization(dim=2)
    posterior = cr.fit_svi(scm, world.data, guide=guide, num_steps=30, seed=0, progress=False)
    path = posterior.save(tmp_path / "run" / "posterior.pt")
    loaded = cr.Posterior.load(path)
    before = posterior.sample(7, seed=11)
    after = loaded.sample(7, seed=11)
    assert set(before) == set(after)
    for name in before:
        assert torch.equal(before[name], after[name]), name
    assert loaded.loss_history == posterior.loss_history
    assert loaded.scm.config == scm.config
    assert loaded.data_schema == posterior.data_schema
    assert loaded.fit_config["guide"] == guide
    assert loaded.is_point_estimate == (guide == "delta")
    assert not list(path.parent.glob("*.tmp"))


def test_sample_shapes_and_seed(world):
    posterior = cr.fit_svi(
        cr.matrix_factorization(dim=3), world.data, num_steps=10, seed=0, progress=False
    )
    draws = posterior.sample(5, seed=1)
    assert draws["user_pref"].shape == (5, 20, 3)
    assert draws["rating_sd"].shape == (5,)
    assert torch.equal(draws["user_bias"], posterior.sample(5, seed=1)["user_bias"])
    assert not torch.equal(draws["user_bias"], posterior.sample(5, seed=2)["user_bias"])


def test_two_fits_keep_their_own_parameters(world):
    first = cr.fit_svi(cr.matrix_factorization(dim=2), world.data, num_steps=20, progress=False)
    before = first.sample(3, seed=0)
    cr.fit_svi(cr.matrix_factorization(dim=2), world.data, num_steps=20, lr=0.5, progress=False)
    after = first.sample(3, seed=0)
    assert torch.equal(before["user_bias"], after["user_bias"])


def test_from_samples_checks_sites(world):
    scm = cr.matrix_factorization(dim=2)
    draws = {name: value.unsqueeze(0) for name, value in _prior_draw(scm, world).items()}
    posterior = cr.Posterior.from_samples(scm, draws, data=world.data)
    assert posterior.num_stored == 1
    assert posterior.sample(1)["user_bias"].shape == (1, 20)
    missing = {k: v for k, v in draws.items() if k != "rating_sd"}
    with pytest.raises(ValueError, match=r"No draws for the latent site\(s\) \['rating_sd'\]"):
        cr.Posterior.from_samples(scm, missing, data=world.data)
    wrong = dict(draws, user_bias=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="'user_bias' have shape \\(1, 3\\), expected"):
        cr.Posterior.from_samples(scm, wrong, data=world.data)
    extra = dict(draws, gender=torch.zeros(1))
    with pytest.raises(ValueError, match="'gender'"):
        cr.Posterior.from_samples(scm, extra, data=world.data)


def _prior_draw(scm, world):
    from causalrec_pyro.inference.traces import latent_sites, prototype_trace

    trace = prototype_trace(scm, scm.model_kwargs(world.data))
    return {name: trace.nodes[name]["value"] for name in latent_sites(trace)}


def test_load_errors(tmp_path, world):
    with pytest.raises(FileNotFoundError, match="No posterior file"):
        cr.Posterior.load(tmp_path / "missing.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a causalrec_pyro posterior"):
        cr.Posterior.load(tmp_path / "other.pt")


def test_predict_mean_shapes_and_unknown_site(world):
    posterior = cr.fit_svi(
        cr.exposure_rating(dim=2),
        world.data["train"].with_unobserved(),
        num_steps=10,
        progress=False,
    )
    test = world.data["test"]
    prediction = cr.predict_mean(posterior, test, num_samples=6, chunk_size=4)
    assert prediction.shape == (6, len(test))
    assert ((prediction >= 1) & (prediction <= 5)).all()
    with pytest.raises(KeyError, match="Site 'click' is not in model 'mnar'"):
        cr.predict_mean(posterior, test, site="click", num_samples=2)
