"""The ``cdpam`` command.

Sub-commands live next to the code they drive; each such module exposes
``register(subparsers)`` that adds its parser and sets ``func``:

* ``cdpam score``    — :mod:`metric.scoring_cli` (distances between files or folders)
* ``cdpam data``     — :mod:`metric.data.cli`    (perturbed datasets to disk)
* ``cdpam evaluate`` — :mod:`metric.evaluate.cli` (the paper's evaluation protocols)
* ``cdpam train``    — :mod:`metric.train.cli`   (the three training stages)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from metric.extras import MissingExtraError, install_command

SUBCOMMAND_MODULES = {
    "score": "metric.scoring_cli",
    "data": "metric.data.cli",
    "evaluate": "metric.evaluate.cli",
    "train": "metric.train.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdpam",
        description="CDPAM perceptual audio distance (Manocha et al., ICASSP 2021): score, evaluate, train.",
        epilog="Run `cdpam COMMAND --help` for the options of each command.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, name in SUBCOMMAND_MODULES.items():
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
    """List a command whose extra is not installed; running it says what to install."""
    parser = subparsers.add_parser(command, help=f"(not installed: {install_command(error.extra)})",
                                   add_help=False)
    parser.add_argument("ignored", nargs=argparse.REMAINDER)

    def explain(_args) -> int:
        print(f"cdpam {command}: {error}", file=sys.stderr)
        return 1

    parser.set_defaults(func=explain)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
