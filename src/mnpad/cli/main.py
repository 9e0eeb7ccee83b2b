"""Entry point of the ``mnpad`` command.

Each sub-command lives in its own module of ``mnpad.cli`` exposing
``add_parser(subparsers)``, which registers the sub-command and sets ``func`` (a callable taking
the parsed ``args`` and returning an exit code). Modules import numpy, pandas, torch and the
library only inside their command functions, so ``mnpad --help`` stays fast.

Errors a user can meet (bad files, bad options, bad data, no network) are raised as
``CLIError``, ``ValueError`` or ``OSError`` (``FileNotFoundError``, ``PermissionError``, a
network error, ...) and printed as one line ``mnpad: error: ...`` with exit code 2; any other
exception is a bug of mnpad and keeps its traceback. ``--debug`` (before or after the
sub-command) shows the traceback of user errors too. SIGTERM is handled like Ctrl-C: temporary
files are removed and the exit code is 143 (130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
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


#: exceptions shown as one line (exit 2); OSError covers missing/unwritable files and network
_USER_ERRORS = (CLIError, ValueError, OSError)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so it unwinds (and cleans up) like Ctrl-C."""


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
    _debug_everywhere(parser)
    return parser


def _debug_everywhere(parser):
    """Accept ``--debug`` after any sub-command too (``mnpad score ... --debug``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sp in action.choices.values():
                if not any("--debug" in a.option_strings for a in sp._actions):
                    sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help="show full tracebacks on errors")
                _debug_everywhere(sp)


#: set by the SIGTERM handler: its ``Terminated`` can be swallowed when the signal lands in a
#: finaliser (``__del__``, a weakref callback: Python prints "Exception ignored" and goes on),
#: so long loops also call :func:`raise_if_terminated`
_TERMINATED = False


def _on_sigterm(signum, frame):
    global _TERMINATED
    _TERMINATED = True
    raise Terminated()


def raise_if_terminated():
    """Raise ``Terminated`` if SIGTERM arrived (also when its first raise was swallowed)."""
    if _TERMINATED:
        raise Terminated()


def _install_sigterm():
    """SIGTERM -> Terminated in the main thread; returns the previous handler (or None)."""
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # not the main thread / no SIGTERM
        return None


def _stdout_gone():
    """stdout's reader went away (``mnpad ... | head``): stop writing to it quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
        pass


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    global _TERMINATED
    _TERMINATED = False
    previous = _install_sigterm()
    try:
        rc = int(args.func(args) or 0)
        raise_if_terminated()  # (a swallowed SIGTERM still ends with 143)
        sys.stdout.flush()
        return rc
    except Terminated:
        print("mnpad: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("mnpad: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_gone()
        return 141  # as a shell reports a process killed by SIGPIPE
    except _USER_ERRORS as exc:
        if args.debug:
            raise
        print(f"mnpad: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
