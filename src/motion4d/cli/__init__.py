"""The ``motion4d`` command line: thin commands over the library.

Each command module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` (called with the parsed args; returns an exit code or None).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from motion4d import __version__

COMMAND_MODULES = (
    "motion4d.cli.world",      # world make | sample | preview
    "motion4d.cli.evaluate",   # eval
    "motion4d.cli.lift",       # demo, video-to-4d, render
    "motion4d.cli.models",     # models
    "motion4d.cli.video",      # train-motion, generate-video, convert-motiondirector
    "motion4d.cli.zoo",        # zoo train | eval | ship
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        code = args.func(args)
    except (CLIError, ValueError, FileNotFoundError) as e:  # ConfigError is a ValueError
        print(f"motion4d {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nmotion4d {args.command}: interrupted; rerun with --resume to continue where it stopped",
              file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
