"""The examples in the README and the docs run as written, from the repository root.

Every fenced ``python`` block is self-contained (it loads the bundled clips, a toy-corpus file or
audio it synthesises), so it runs on its own; here each runs in a namespace of its own, the
blocks of one page in one fresh interpreter (started from the repository root, as a reader
would), and fails the test if it raises or warns. A block that cannot run here by nature (a
real corpus, a trained checkpoint) starts with the line ``# not run by the test suite: REASON``
and is reported as skipped with that reason.

Shell blocks are checked where it is cheap: the scripts they run exist where the page says to
run them, paths into the repository point at files that exist or at a recipe's output folders,
and ``cdpam`` lines parse with the real argument parser.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [REPO / "README.md", REPO / "metric" / "assets" / "toy_corpus" / "README.md"]
    + list((REPO / "recipes").glob("**/README.md"))
    + list((REPO / "docs").glob("*.md"))
)
OPT_OUT = re.compile(r"^# not run by the test suite: (.+)$")
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
REPOSITORY_FOLDERS = {"recipes", "metric", "cdpam_plugins", "tests", "docs", "scripts", "benchmarks"}
# where the recipes write (each recipe's .gitignore): paths below these need not exist in a clone
OUTPUT_FOLDERS = {"exp", "data", "results"}
RECIPE_OUTPUTS = re.compile(r"^recipes/(demucs|melgan|speechbrain)/(exp|data|results)(/|$)")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    blocks, current, start, language = [], None, 0, ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if current is None and match and match.group(1):
            current, start, language = [], number, match.group(1)
        elif current is not None and line.strip() == "```":
            blocks.append(Block(page, start, language, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _python_blocks(page: Path) -> list[Block]:
    return [b for b in fenced_blocks(page) if b.language == "python"]


INLINE_COMMAND = re.compile(r"`((?:python|bash) [\w./-]+/[\w.-]+\.(?:py|sh)(?: [^`]*)?)`")


def _shell_blocks(page: Path) -> list[Block]:
    """Fenced shell blocks, plus inline commands that run a script by its path (as in the recipe tables)."""
    blocks = [b for b in fenced_blocks(page) if b.language in SHELL_LANGUAGES]
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            continue
        blocks += [Block(page, number, "inline", match.group(1) + "\n") for match in INLINE_COMMAND.finditer(line)]
    return blocks


# ---------------------------------------------------------------- python blocks

RUNNER = r'''
import json, sys, time, traceback, warnings
from metric.dependency_warnings import hide_lightning_tips
hide_lightning_tips()
results = []
for name, code in json.loads(sys.stdin.read()):
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(compile(code, name, "exec"), {"__name__": "__main__"})
            error = None
        except BaseException:
            error = traceback.format_exc(limit=-4)
    shown = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught]
    results.append({"name": name, "error": error, "warnings": shown, "seconds": round(time.perf_counter() - started, 1)})
print("RESULTS " + json.dumps(results))
'''


@pytest.mark.parametrize("page", [p for p in PAGES if _python_blocks(p)], ids=lambda p: str(p.relative_to(REPO)))
def test_python_examples_run_as_written(page, tmp_path):
    blocks = _python_blocks(page)
    skipped = {b.name: OPT_OUT.match(b.code.splitlines()[0]).group(1) for b in blocks if OPT_OUT.match(b.code.splitlines()[0])}
    to_run = [(b.name, b.code) for b in blocks if b.name not in skipped]
    results = []
    if to_run:
        # the repository root as the working directory, as the README says; scratch files go to tmp_path
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO),
               "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(Path.home() / ".cache")}
        result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(to_run), cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=900)
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULTS ")]
        assert result.returncode == 0 and lines, result.stderr[-3000:]
        results = json.loads(lines[-1][len("RESULTS "):])
    print("seconds per example:", {r["name"]: r["seconds"] for r in results})
    failures = [f"{r['name']} raised:\n{r['error']}" for r in results if r["error"]]
    failures += [f"{r['name']} warned: {w}" for r in results for w in r["warnings"] if not r["error"]]
    assert not failures, "\n\n".join(failures)
    if skipped:
        pytest.skip("examples not run: " + "; ".join(f"{name} ({why})" for name, why in skipped.items()))


def test_opted_out_examples_are_few():
    """The opt-out is for what cannot run here by nature; most examples must run."""
    blocks = [b for page in PAGES for b in _python_blocks(page)]
    opted_out = [b.name for b in blocks if OPT_OUT.match(b.code.splitlines()[0])]
    assert len(blocks) >= 10 and len(opted_out) <= len(blocks) // 5, opted_out


# ---------------------------------------------------------------- shell blocks


def _commands(block: Block) -> list[tuple[Path, list[str]]]:
    """``(working directory, argv)`` of each command line, following ``cd`` lines within the block."""
    text = re.sub(r"\\\n\s*", " ", block.code)  # join continuation lines
    cwd, commands = REPO, []
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\s*(?:&&|;)\s*", line):
            argv = shlex.split(part)
            if not argv:
                continue
            if argv[0] == "cd":
                cwd = (cwd / argv[1]).resolve()
                assert cwd.is_dir(), f"{block.name}: cd {argv[1]}: no such folder"
                continue
            commands.append((cwd, argv))
    return commands


def _repository_path(cwd: Path, token: str) -> Path | None:
    """The repository path a command-line token names; None for placeholders (clean.wav, my_noisy/, runs/a)."""
    value = token.split("=", 1)[1] if token.startswith("--") and "=" in token else token
    if "=" in value or "/" not in value or value.startswith(("/", "~", "$", "http", ".")) or "..." in value:
        return None
    first = value.split("/")[0]
    if first in REPOSITORY_FOLDERS or first in OUTPUT_FOLDERS or (cwd / first).exists():
        return (cwd / value).resolve()
    return None


def _shell_cases():
    return [pytest.param(b, id=b.name) for page in PAGES for b in _shell_blocks(page)]


@pytest.mark.parametrize("block", _shell_cases())
def test_shell_examples_point_at_what_exists(block):
    from metric.cli import build_parser

    problems = []
    for cwd, argv in _commands(block):
        program, args = argv[0], argv[1:]
        if program in {"python", "bash"} and args and args[0].endswith((".py", ".sh")):
            if not (cwd / args[0]).is_file():
                problems.append(f"{program} {args[0]}: no such file from {cwd.relative_to(REPO) or '.'}")
        if program == "cdpam":
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    build_parser(args).parse_args(args)
            except SystemExit as exit_:
                if exit_.code not in (0, None):
                    problems.append(f"cdpam {' '.join(args)}: the cdpam parser refuses it")
        for token in args:
            path = _repository_path(cwd, token)
            if path is None or path.exists():
                continue
            relative = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
            if not RECIPE_OUTPUTS.match(relative):
                problems.append(f"{token}: {relative} does not exist and is no recipe output (run from "
                                f"{cwd.relative_to(REPO).as_posix() or 'the repository root'})")
    assert not problems, f"{block.name}:\n" + "\n".join(problems)


SCRIPTS_WITH_HELP = sorted({
    (cwd.relative_to(REPO).as_posix(), argv[1])
    for page in PAGES for block in _shell_blocks(page) for cwd, argv in _commands(block)
    if argv[0] == "python" and len(argv) > 1 and argv[1].endswith(".py") and (cwd / argv[1]).is_file()
})


@pytest.mark.parametrize(("cwd", "script"), SCRIPTS_WITH_HELP, ids=[f"{c}/{s}" for c, s in SCRIPTS_WITH_HELP])
def test_scripts_in_the_examples_answer_help(cwd, script):
    result = subprocess.run([sys.executable, script, "--help"], cwd=REPO / cwd, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip(), "empty --help"
