"""Packaging contracts: a small core with extras, clear errors for missing extras, a shadowed
``metric`` and a missing toy corpus (wheel installs), and a wheel without the toy corpus."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from metric.extras import EXTRAS, MissingExtraError

REPO = Path(__file__).resolve().parents[1]
# Every optional top-level module of the package (pyproject extras) and of the toolkits.
OPTIONAL = sorted({name for modules in EXTRAS.values() for name in modules}
                  | {"speechbrain", "asteroid", "torchaudio", "hyperpyyaml"})


def run_python(code: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """A fresh interpreter; the first lines hide ``OPTIONAL`` modules as if not installed."""
    hide = f"import sys\nfor _name in {OPTIONAL!r}: sys.modules[_name] = None\n"
    return subprocess.run([sys.executable, "-c", hide + code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_core_api_and_score_command_import_without_any_extra():
    result = run_python(
        "import metric, cdpam_plugins\n"
        "from cdpam_plugins import CDPAMLoss, CDPAMMetric\n"
        "from metric import CDPAM, cdpam_distance, score_folders\n"
        "import metric.scoring_cli, metric.scoring.engine, metric.scoring.statistics\n"
        "from metric.cli import build_parser\n"
        "print(build_parser().format_help())\n"
        "leaked = sorted(n for n in sys.modules if n.split('.')[0] in "
        f"{OPTIONAL!r} and sys.modules[n] is not None)\n"
        "assert not leaked, leaked\n"
    )
    assert result.returncode == 0, result.stderr
    # the commands of missing extras stay listed, with what to install
    assert "pip install 'cdpam-plugins[eval]'" in result.stdout
    assert "pip install 'cdpam-plugins[train]'" in result.stdout


@pytest.mark.parametrize(("command", "extra"), [("data", "data"), ("evaluate", "eval"), ("train", "train")])
def test_command_of_a_missing_extra_says_what_to_install(command, extra):
    result = run_python(f"from metric.cli import main\nsys.exit(main([{command!r}, 'anything', '--x']))")
    assert result.returncode == 1, result.stderr
    assert f"pip install 'cdpam-plugins[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("module", "extra"), [("metric.perturb", "data"), ("metric.evaluate", "eval"),
                                               ("metric.train.runner", "train")])
def test_importing_a_part_without_its_extra_raises_import_error_naming_it(module, extra):
    result = run_python(
        "from metric.extras import MissingExtraError\n"
        f"try:\n    import {module}\nexcept ImportError as error:\n"
        "    assert isinstance(error, MissingExtraError), type(error)\n    print(error)\n"
        "else:\n    raise SystemExit('imported without its extra')\n"
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install 'cdpam-plugins[{extra}]'" in result.stdout


@pytest.mark.parametrize("module", ["pesq", "pystoi"])
def test_pesq_and_stoi_without_the_eval_extra_name_it(monkeypatch, clips, module):
    from metric.evaluate import pesq_stoi

    monkeypatch.setitem(sys.modules, module, None)
    score = pesq_stoi.pesq if module == "pesq" else pesq_stoi.stoi
    with pytest.raises(MissingExtraError, match=r"cdpam-plugins\[eval\]"):
        score(clips["ref"][:16000], clips["2"][:16000], 16000)


def test_extras_table_matches_pyproject():
    """metric.extras.EXTRAS names the same extras as pyproject.toml, and each extra installs its modules."""
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    distribution = {"scipy": "scipy", "pesq": "pesq", "pystoi": "pystoi", "matplotlib": "matplotlib",
                    "pytorch_lightning": "pytorch-lightning", "hydra": "hydra-core", "omegaconf": "omegaconf",
                    "tensorboard": "tensorboard", "threadpoolctl": "threadpoolctl"}
    for extra, modules in EXTRAS.items():
        declared = {requirement.split(">")[0].split("<")[0].split("=")[0] for requirement in optional[extra]}
        assert {distribution[m] for m in modules} <= declared, (extra, declared)


def test_a_metric_module_of_the_user_shadowing_the_package_is_named(tmp_path):
    shadow = tmp_path / "metric.py"
    shadow.write_text("value = 1\n")
    # python -c puts the working directory first on sys.path, as running a script beside metric.py does
    result = subprocess.run([sys.executable, "-c", "import cdpam_plugins"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "MetricShadowedError" in message and str(shadow) in message and "Rename" in message, message


def test_another_distributions_metric_package_over_ours_is_named(tmp_path):
    """Files of another `metric` distribution written over ours, beside cdpam_plugins."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "cdpam_plugins", site / "cdpam_plugins", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "metric").mkdir()
    (site / "metric" / "__init__.py").write_text("def accuracy(a, b):\n    return a == b\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", "import cdpam_plugins"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert str(site / "metric" / "__init__.py") in message and "uninstall" in message, message


@pytest.fixture()
def no_toy_corpus(monkeypatch, tmp_path):
    """The package as a wheel installs it: metric/assets without toy_corpus/."""
    from metric.data import toy

    monkeypatch.setattr(toy.resources, "files", lambda package: tmp_path / package)
    return toy


def test_missing_toy_corpus_says_it_ships_with_the_repository(no_toy_corpus):
    with pytest.raises(no_toy_corpus.ToyCorpusMissingError, match="ships only with the source repository"):
        no_toy_corpus.utterances("train")
    with pytest.raises(FileNotFoundError):  # callers that handle FileNotFoundError keep working
        no_toy_corpus.enhancement_pairs("test")


def test_data_build_toy_without_the_corpus_is_a_clear_exit(no_toy_corpus, tmp_path):
    from metric.cli import main

    with pytest.raises(SystemExit, match=r"source repository.*--input DIR"):
        main(["data", "build", "--toy", "--output", str(tmp_path / "out"), "--families", "reverb"])


def _requirements(skip_extras=()):
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + [r for name, extra in extras.items() if name not in skip_extras for r in extra]
    return [Requirement(text) for text in declared if not text.startswith("cdpam-plugins[")]


def _pins(path: Path) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_lower_bounds_are_the_versions_checked_as_oldest():
    """Every >= bound of the package is pinned in scripts/compat/oldest.txt, the set check_compat.sh tests
    (the test tools of [dev] only ever run at the versions of constraints.txt)."""
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    oldest = _pins(REPO / "scripts" / "compat" / "oldest.txt")
    for requirement in _requirements(skip_extras=("dev",)):
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if lower:
            pinned = oldest.get(canonicalize_name(requirement.name))
            assert pinned and Version(pinned) == Version(lower[0]), (requirement, pinned)


def test_development_constraints_satisfy_the_package_ranges():
    from packaging.utils import canonicalize_name

    pinned = _pins(REPO / "constraints.txt")
    for requirement in _requirements():
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is missing from constraints.txt"
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
