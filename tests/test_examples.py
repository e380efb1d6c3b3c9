"""Run every example script with tiny arguments; an unlisted example fails the suite."""

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: Tiny arguments for each example, so that each runs in seconds.
ARGUMENTS = {
    "custom_model.py": ["--num-steps", "30", "--n-users", "30", "--n-items", "20"],
    "causal_effect_browsing.py": ["--num-steps", "30", "--seed", "0"],
    "custom_model_workflow.py": [
        "--num-steps",
        "30",
        "--num-samples",
        "20",
        "--warmup-steps",
        "20",
        "--seed",
        "0",
    ],
}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_example_is_listed():
    scripts = {path.name for path in EXAMPLES.glob("*.py")}
    assert scripts <= set(ARGUMENTS), f"add tiny arguments for {sorted(scripts - set(ARGUMENTS))}"


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_example_runs(name):
    path = EXAMPLES / name
    if not path.exists():
        pytest.fail(f"{name} is listed in ARGUMENTS but examples/{name} does not exist")
    module = _load(path)
    module.main(module.parse_args(ARGUMENTS[name]))
