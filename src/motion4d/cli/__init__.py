"""The ``motion4d`` command line: thin commands over the library.

Each command module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` (called with the parsed args; returns an exit code or None).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from motion4d import __version__

__all__ = ["main", "build_parser", "CLIError", "COMMAND_MODULES"]

COMMAND_MODULES = (
    "motion4d.cli.world",      # world make | sample | preview
    "motion4d.cli.evaluate",   # eval
    "motion4d.cli.lift",       # demo, video-to-4d, render
    "motion4d.cli.models",     # models
    "motion4d.cli.video",      # train-motion, generate-video, convert-motiondirector
    "motion4d.cli.pipelines",  # text-to-4d
    "motion4d.cli.zoo",        # zoo train | eval | ship
    "motion4d.cli.batch",      # batch
    "motion4d.cli.app",        # app, view
)


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class IntermixedParser(argparse.ArgumentParser):
    """Lets ``key=value`` overrides follow options (``INPUT --out DIR a=1 b=2``).

    Plain argparse assigns every positional in the first run of positionals and rejects later ones;
    intermixed parsing does not. Parsers with their own sub-commands keep plain parsing (argparse
    cannot intermix those).
    """

    _busy = False

    def parse_known_args(self, args=None, namespace=None):
        has_subcommands = any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        if self._busy or has_subcommands:
            return super().parse_known_args(args, namespace)
        self._busy = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._busy = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motion4d", description="Text-to-4D with customized motion and appearance.")
    parser.add_argument("--version", action="version", version=f"motion4d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=IntermixedParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


#: Where the traceback of an unexpected error should be reported.
REPORT_TO = "as an issue of the motion4d repository"

#: Exit codes: 0 success, 1 unexpected error (a bug: traceback printed), 2 expected error (one line:
#: bad input, config, path or missing model), 130 interrupted (Ctrl-C).
EXIT_OK, EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _one_line(e: BaseException) -> str:
    """The message of an expected error, on one line (continuation lines indented)."""
    text = str(e).strip() or type(e).__name__
    if isinstance(e, OSError) and e.filename is not None and str(e.filename) not in text:
        text = f"{text}: {e.filename!r}"
    return text.replace("\n", "\n  ")


def _expected(e: BaseException) -> bool:
    """Errors a user can fix (input, config, paths, disk, memory); the rest are bugs."""
    if isinstance(e, (CLIError, ValueError, OSError)):  # ConfigError, RunDirError, ModelNotFoundError among them
        return True
    if isinstance(e, ImportError) and "pip install" in str(e):   # a missing optional extra, with its install line
        return True
    return type(e).__name__ in ("OutOfMemoryError", "SafetensorError")


def _resume_hint(argv: list[str]) -> str:
    import shlex

    cmd = "motion4d " + shlex.join(argv)
    if "--resume" in argv or not any(a in argv for a in ("video-to-4d", "train-motion")):
        return f"rerun '{cmd}' to continue where it stopped" if "demo" in argv else f"rerun '{cmd}'"
    return f"resume with '{cmd} --resume'"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :data:`EXIT_OK` and friends).

    Every command runs under one error handler: expected errors (:func:`_expected`) print
    ``motion4d <command>: error: <message>`` and return 2; Ctrl-C prints how to resume and returns
    130; anything else prints the traceback and where to report it, and returns 1.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    name = " ".join(x for x in (args.command, getattr(args, "world_command", None)) if x)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, category, *a, **k: print(
                f"motion4d {name}: warning: {message}", file=sys.stderr)
            code = args.func(args)
    except KeyboardInterrupt:
        print(f"\nmotion4d {name}: interrupted; {_resume_hint(argv)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the one place that turns every error into an exit code
        if _expected(e):
            print(f"motion4d {name}: error: {_one_line(e)}", file=sys.stderr)
            return EXIT_ERROR
        import traceback

        traceback.print_exc()
        print(f"motion4d {name}: internal error ({type(e).__name__}); this is a bug in motion4d "
              f"{__version__}. Please report it, with the command line and the traceback above, {REPORT_TO}",
              file=sys.stderr)
        return EXIT_BUG
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
