"""Import a recipe's stage script the way it runs: from its own folder (see recipes/README.md).

Scripts of different recipes share names (``train.py``, ``prepare_data.py``), so each is
imported under a name of its own; the recipe folder goes first on ``sys.path`` so that the
script finds its recipe-local package, exactly as ``cd recipes/<name> && python <script>.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def recipe_dir(recipe: str) -> Path:
    folder = RECIPES / recipe
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return folder


def load_script(recipe: str, script: str):
    name = f"recipe_{recipe}_{script}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, recipe_dir(recipe) / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
