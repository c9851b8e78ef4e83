"""The ``cdpam`` command.

Each sub-command has a *parser module* that exposes ``register(subparsers)``: it adds the
command's parser and sets ``func`` to the function that runs it.

* ``cdpam score``    — ``metric.scoring_cli`` (distances between files or folders)
* ``cdpam data``     — ``metric.data.cli``    (perturbed datasets to disk)
* ``cdpam evaluate`` — ``metric.evaluate.cli`` (the paper's evaluation protocols)
* ``cdpam train``    — ``metric.train.cli``   (the three training stages)

``--help`` has to answer at once, so a parser module imports nothing heavy at module level
(no torch, SciPy, Lightning or Hydra: the run function imports what it needs when it runs), and
this module imports only the parser module of the command asked for (all of them for
``cdpam --help``). A parser module whose extra is missing raises
:class:`~metric.extras.MissingExtraError` on import; the command is then listed with what to
install. ``tests/test_cli_help.py`` checks that no ``--help`` imports torch, and
``benchmarks/cli_startup.py`` times them.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import textwrap

from metric.extras import MissingExtraError, install_command

SUBCOMMAND_MODULES = {
    "score": "metric.scoring_cli",
    "data": "metric.data.cli",
    "evaluate": "metric.evaluate.cli",
    "train": "metric.train.cli",
}

DESCRIPTION = """\
CDPAM perceptual audio distance (Manocha et al., ICASSP 2021): score recordings against
references, build perturbed datasets, run the paper's evaluation protocols, train. Run
`cdpam COMMAND --help` for the options of each command."""

EPILOG = """\
examples:
  cdpam score clean.wav enhanced.wav
  cdpam score --demo
  cdpam evaluate all
  cdpam data families"""


class PlainHelpFormatter(argparse.HelpFormatter):
    """Re-wraps prose paragraphs of descriptions and epilogs to the terminal; keeps example lines.

    A paragraph (text between blank lines) with an indented line is printed as written
    (examples under an "examples:" line); any other paragraph is prose and is filled to the
    terminal's width.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = re.split(r"\n\s*\n", textwrap.dedent(text).strip())
        out = []
        for paragraph in paragraphs:
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                         subsequent_indent=indent))
        return "\n\n".join(out)


class CommandParser(argparse.ArgumentParser):
    """The parser class of ``cdpam`` and its sub-commands: plain, wrapped help texts."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", PlainHelpFormatter)
        super().__init__(*args, **kwargs)


def _requested_command(argv: list[str]) -> str | None:
    """The sub-command named on the command line (its first positional word), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in SUBCOMMAND_MODULES else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``cdpam`` parser; with ``argv``, only the command it names is built in full."""
    parser = CommandParser(prog="cdpam", description=DESCRIPTION, epilog=EPILOG)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    requested = None if argv is None else _requested_command(argv)
    for command, name in SUBCOMMAND_MODULES.items():
        if requested is not None and command != requested:
            subparsers.add_parser(command, add_help=False)  # named in usage and errors; never parsed
            continue
        try:
            module = importlib.import_module(name)
        except MissingExtraError as error:
            _register_unavailable(subparsers, command, error)
            continue
        except ModuleNotFoundError as error:
            if error.name and (name == error.name or name.startswith(error.name + ".")):
                # that part of the project is not installed here
                continue
            raise
        module.register(subparsers)
    return parser


def _register_unavailable(subparsers, command: str, error: MissingExtraError) -> None:
    """List a command whose extra is not installed; its --help and any run of it say what to install."""
    parser = subparsers.add_parser(command, help=f"(not installed: {install_command(error.extra)})",
                                   description=f"cdpam {command}: {error}")
    parser.add_argument("ignored", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def explain(_args) -> int:
        print(f"cdpam {command}: {error}", file=sys.stderr)
        return 1

    parser.set_defaults(func=explain, unavailable=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "unavailable", False):
        parser.parse_args(argv)  # reports the unknown arguments and exits, as argparse does
    # an unavailable command takes any arguments: it only says what to install
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
