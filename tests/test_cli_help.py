"""`cdpam ... --help` answers at once and reads as plain text.

Timing is left to ``benchmarks/cli_startup.py``; what is checked here is the cause of a slow
``--help``: the heavy libraries it would import. Each command runs in a fresh interpreter, as
the console script does, and reports what ``sys.modules`` holds afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "scipy", "pytorch_lightning", "lightning", "hydra", "omegaconf", "matplotlib", "torchaudio",
         "speechbrain", "asteroid", "pandas")
COMMANDS = [[], ["score"], ["data"], ["data", "build"], ["data", "families"], ["data", "check-jnd"], ["evaluate"],
            ["train"]]
REST_MARKUP = re.compile(r"``|:(mod|class|func|data|meth|attr):`")



def _help(command: list[str]) -> tuple[str, list[str]]:
    """``cdpam COMMAND --help`` in a fresh interpreter: the help text and the heavy modules it loaded."""
    code = (
        "import json, sys\n"
        "from metric.cli import main\n"
        "try:\n"
        f"    main({command + ['--help']!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(n for n in {HEAVY!r} if n in sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "COLUMNS": "80"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(result.stderr.strip().splitlines()[-1])


def _ids(command: list[str]) -> str:
    return " ".join(command) or "cdpam"


@pytest.mark.parametrize("command", COMMANDS, ids=_ids)
def test_help_imports_no_heavy_library(command):
    text, heavy = _help(command)
    assert "usage: cdpam" in text
    assert heavy == [], f"`cdpam {' '.join(command)} --help` imported {heavy}"


@pytest.mark.parametrize("command", COMMANDS, ids=_ids)
def test_help_is_plain_wrapped_text_with_examples(command):
    text, _ = _help(command)
    assert not REST_MARKUP.search(text), REST_MARKUP.search(text).group(0)
    assert re.search(r"^examples?:$", text, re.MULTILINE), "no examples section"
    prose = text.split("\nexample")[0]  # example lines are kept as written; the rest is wrapped
    long_lines = [line for line in prose.splitlines() if len(line) > 80]
    assert not long_lines, long_lines
    assert all(line.startswith("  cdpam ") or not line.strip() or line.startswith("      ")
               for line in text.split("\nexample", 1)[1].splitlines()[1:]), "examples must be commands"


def test_only_the_command_asked_for_is_imported():
    """`cdpam data --help` builds the data parser only (a heavy sibling must not slow it down)."""
    code = (
        "import sys\n"
        "from metric.cli import build_parser\n"
        "build_parser(['data', '--help'])\n"
        "print(sorted(m for m in ('metric.scoring_cli', 'metric.evaluate.cli', 'metric.train.cli', 'metric.data.cli')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['metric.data.cli']"


@pytest.mark.parametrize("command", [["data", "--help"], ["evaluate", "--help"], ["data", "build", "--toy"]], ids=" ".join)
def test_a_command_whose_extra_is_missing_says_what_to_install(command):
    """In a core install (no SciPy: neither [data] nor [eval]), `--help` answers and a run names the extra."""
    code = (
        "import sys\n"
        "sys.modules['scipy'] = None  # not installed\n"
        "from metric.cli import main\n"
        f"sys.exit(main({command!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    extra = "data" if command[0] == "data" else "eval"
    if "--help" in command:
        assert result.returncode == 0, result.stderr
        assert f"pip install 'cdpam-plugins[{extra}]'" in " ".join(result.stdout.split())
    else:
        assert result.returncode == 1 and f"pip install 'cdpam-plugins[{extra}]'" in result.stderr, result.stderr
