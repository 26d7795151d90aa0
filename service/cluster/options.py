"""``--ray [ADDRESS]``: an option whose value may be left out, which typer's options cannot express.

A bare ``--ray`` gets the address ``local`` before parsing; a token after it counts as its address
only if it looks like one (``local``, ``auto``, ``ray://head:10001``, ``host:port``), so
``fer analyze photos/ --ray`` and ``fer analyze --ray photos/`` both keep ``photos/`` a path.
"""

from __future__ import annotations

import re

from typer._click import Context  # typer's own copy of click: the context its commands parse with
from typer.core import TyperCommand

OPTION = "--ray"
LOCAL = "local"  # this machine's Ray instance, or a new one
ADDRESS = re.compile(r"local|auto|[a-z]+://\S+|[\w.-]+:\d+")


def with_addresses(args: list[str]) -> list[str]:
    """The arguments with ``local`` after each ``--ray`` that has no address."""
    out: list[str] = []
    for index, arg in enumerate(args):
        out.append(arg)
        following = args[index + 1] if index + 1 < len(args) else None
        if arg == OPTION and (following is None or not ADDRESS.fullmatch(following)):
            out.append(LOCAL)
    return out


class RayAddressCommand(TyperCommand):
    """A command whose ``--ray`` option may come without its address."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, with_addresses(args))
