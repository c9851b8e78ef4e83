"""Recipes are users of the library: they import only the public API (``__all__``) of ``metric`` and
``cdpam_plugins``, never edit ``sys.path``, and share one ``run.sh`` convention."""

from __future__ import annotations

import ast
import re
import stat
import subprocess
from pathlib import Path

import pytest

import cdpam_plugins
import metric

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
PUBLIC = {"metric": set(metric.__all__), "cdpam_plugins": set(cdpam_plugins.__all__)}
RECIPE_NAMES = ("demucs", "melgan", "speechbrain")


def library_uses(tree: ast.AST) -> list[tuple[int, str, str | None]]:
    """``(line, package or dotted module, imported name)`` for every use of the two packages."""
    uses, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in PUBLIC:
                    uses.append((node.lineno, alias.name, None))
                    aliases[alias.asname or top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in PUBLIC:
                uses += [(node.lineno, node.module, alias.name) for alias in node.names]
    for node in ast.walk(tree):  # metric.X after `import metric`
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            uses.append((node.lineno, aliases[node.value.id], node.attr))
    return uses


def violations(source: str) -> list[str]:
    found = []
    tree = ast.parse(source)
    for line, module, name in library_uses(tree):
        if module not in PUBLIC:
            found.append(f"line {line}: imports {module} (a private module; use `from {module.split('.')[0]} import ...`)")
        elif name is not None and name not in PUBLIC[module]:
            found.append(f"line {line}: {module}.{name} is not in {module}.__all__")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys":
            found.append(f"line {node.lineno}: touches sys.path (run scripts from the recipe folder instead)")
    return found


def test_the_checker_catches_private_imports_and_sys_path_edits():
    bad = (
        "import sys\nsys.path.insert(0, '..')\nfrom metric.audio import to_model_input\n"
        "import metric.functional\nfrom metric import shared_network\nimport metric as m\nm.functional\n"
        "from cdpam_plugins._shapes import as_batch_of_waveforms\n"
    )
    problems = violations(bad)
    assert len(problems) == 6, problems
    good = "import metric\nfrom metric import CDPAM, read_audio\nfrom cdpam_plugins import CDPAMLoss\nmetric.cdpam_distance\n"
    assert violations(good) == []


@pytest.mark.parametrize("path", sorted(RECIPES.rglob("*.py")), ids=lambda p: str(p.relative_to(RECIPES)))
def test_recipe_python_uses_only_the_public_api(path):
    assert violations(path.read_text(encoding="utf-8")) == []


def test_recipe_configs_name_only_public_classes():
    pattern = re.compile(r"(?:!(?:new|name|apply):|_target_:\s*)((?:metric|cdpam_plugins)(?:\.\w+)+)")
    checked = 0
    for path in sorted(RECIPES.rglob("*.yaml")):
        for dotted in pattern.findall(path.read_text(encoding="utf-8")):
            package, *rest = dotted.split(".")
            assert len(rest) == 1 and rest[0] in PUBLIC[package], f"{path.relative_to(ROOT)} names {dotted}"
            checked += 1
    assert checked >= 2  # the SpeechBrain hparams' CDPAMLoss and CDPAMPerUtterance


def test_every_public_name_exists():
    for package in (metric, cdpam_plugins):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_run_sh_is_executable_and_follows_the_shared_convention(recipe):
    script = RECIPES / recipe / "run.sh"
    listed = subprocess.run(["git", "ls-files", "-s", str(script)], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout:
        assert listed.stdout.split()[0] == "100755", f"{script} is not committed as executable"
    assert script.stat().st_mode & stat.S_IXUSR
    text = script.read_text()
    for pattern in (r'source "\$\(dirname "\$0"\)/\.\./stages\.sh"', r'parse_arguments "\$@"', r"recipe_options=\(data path ",
                    r"run_stage \d"):
        assert re.search(pattern, text), f"{recipe}/run.sh lacks {pattern}"
    result = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown argument" in result.stderr
    result = subprocess.run(["bash", str(script), "data=nowhere"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "data must be" in result.stderr
