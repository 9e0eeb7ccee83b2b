"""Entry point of the ``mnpad`` command.

Each sub-command lives in its own module of ``mnpad.cli`` exposing
``add_parser(subparsers)``, which registers the sub-command and sets ``func`` (a callable taking
the parsed ``args`` and returning an exit code). Errors a user can meet (bad files, bad options,
bad data) are raised as ``CLIError``/``ValueError``/``FileNotFoundError``/... and printed as one
line ``mnpad: error: ...`` with exit code 2; tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# modules providing sub-commands, in help order; a missing module is skipped
_COMMAND_MODULES = [
    "mnpad.cli.demo",        # mnpad demo
    "mnpad.cli.data_cmds",   # mnpad fit / score / explain / plot
    "mnpad.cli.datasets_cmd",  # mnpad datasets list / fetch
    "mnpad.cli.bench_cmd",   # mnpad bench ...
]


class CLIError(Exception):
    """An error to show the user as one line, exit code 2."""


_USER_ERRORS = (CLIError, ValueError, TypeError, FileNotFoundError, FileExistsError,
                PermissionError, IsADirectoryError, KeyError)


def build_parser():
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="mnpad",
        description="Weakly supervised anomaly detection on tabular data (MNP and baselines).",
    )
    parser.add_argument("--version", action="version", version=f"mnpad {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _COMMAND_MODULES:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mnpad: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as exc:
        if args.debug:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"mnpad: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
