import json

import pytest

from causalrec_pyro import Posterior
from causalrec_pyro.cli import build_parser, main
from causalrec_pyro.runs import POSTERIOR_FILE


def test_demo_prints_what_it_found(capsys, tmp_path):
    code = main(
        [
            "demo",
            "--n-users",
            "30",
            "--n-items",
            "20",
            "--steps",
            "20",
            "--no-progress",
            "--out",
            str(tmp_path / "demo"),
        ]
    )
    output = capsys.readouterr().out
    assert code == 0
    assert "Mean rating of seen pairs" in output
    assert "RMSE of each model's predicted mean" in output
    assert "Found:" in output
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert set(metrics) == {"mf", "mnar"}
    assert (tmp_path / "demo" / "mnar" / "posterior.pt").is_file()


@pytest.mark.parametrize(
    "guide, expected",
    [(None, {"mf": "delta", "mnar": "delta"}), ("normal", {"mf": "normal", "mnar": "normal"})],
)
def test_guide_option_replaces_each_recipes_guide(guide, expected, tmp_path, capsys):
    argv = ["demo", "--n-users", "20", "--n-items", "10", "--steps", "3", "--no-progress"]
    argv += ["--out", str(tmp_path)] + ([] if guide is None else ["--guide", guide])
    assert main(argv) == 0
    found = {name: Posterior.load(tmp_path / name / POSTERIOR_FILE).guide_kind for name in expected}
    assert found == expected


def test_fit_coat_writes_metrics_and_posteriors(shared_data, tmp_path, capsys):
    out = tmp_path / "coat"
    code = main(
        [
            "fit",
            "--dataset",
            "coat",
            "--data-dir",
            str(shared_data / "coat"),
            "--steps",
            "5",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"mf", "mf-ips", "mnar"}
    for values in metrics.values():
        assert {"mse", "mae", "auc", "ndcg@5", "recall@5"} <= set(values)
    for name in metrics:
        assert (out / name / "posterior.pt").is_file()
        assert json.loads((out / name / "run.json").read_text())["model"] == name
    assert "mse" in capsys.readouterr().out


def test_fit_missing_folder_is_reported(tmp_path, capsys):
    code = main(
        [
            "fit",
            "--dataset",
            "coat",
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "causalrec fit: error:" in error
    assert "nowhere" in error
    assert not (tmp_path / "run").exists()


def test_fit_unknown_model_is_reported(tmp_path, capsys):
    csv = tmp_path / "ratings.csv"
    csv.write_text(
        "user,item,rating\n"
        + "".join(f"{u},{i},{(u + i) % 5 + 1}\n" for u in range(6) for i in range(5))
    )
    code = main(
        [
            "fit",
            "--dataset",
            "csv",
            "--data-dir",
            str(csv),
            "--model",
            "mf,svd",
            "--steps",
            "2",
            "--no-progress",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    assert "Unknown model 'svd'" in capsys.readouterr().err


def test_help_states_units():
    text = build_parser()._subparsers._group_actions[0].choices["fit"].format_help()
    assert "SVI steps per model" in text
    assert "--device" in text


def test_query_on_top_run_folder_names_models(tmp_path, capsys):
    main(
        [
            "demo",
            "--n-users",
            "20",
            "--n-items",
            "10",
            "--steps",
            "5",
            "--no-progress",
            "--out",
            str(tmp_path / "demo"),
        ]
    )
    capsys.readouterr()
    code = main(["graph", str(tmp_path / "demo")])
    assert code == 2
    error = capsys.readouterr().err
    assert "top folder of a `causalrec fit` run with the models ['mf', 'mnar']" in error
