"""Just enough of Docker's Dockerfile and .dockerignore semantics to check and replay a
build without a container engine (none runs in CI or on the dev box)."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

# PATH of the official python images, which ENV PATH="...:$PATH" extends.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Instruction:
    cmd: str  # upper-cased keyword: RUN, COPY, ENV...
    args: str  # the rest of the (continuation-joined) line
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of CMD/ENTRYPOINT/RUN exec form, None for shell form."""
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]

    def last(self, cmd: str) -> Instruction | None:
        found = self.all(cmd)
        return found[-1] if found else None


def parse(text: str) -> list[Stage]:
    """Stages in order; ARGs before the first FROM are dropped (they only feed FROM)."""
    stages: list[Stage] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        # Comment lines are dropped even inside a continuation, as Docker does.
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), rest.strip(), start)
        if instruction.cmd == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def expand(value: str, env: dict[str, str]) -> str:
    """$VAR / ${VAR} substitution as Docker applies it to ENV, WORKDIR and COPY."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def stage_env(stage: Stage, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment after all of a stage's ENV instructions (key=value form)."""
    env = dict(base or {"PATH": IMAGE_PATH})
    for instruction in stage.all("ENV"):
        for word in shlex.split(instruction.args):
            key, sep, value = word.partition("=")
            assert sep, f"line {instruction.line}: use ENV key=value (the legacy 'ENV key value' is not replayed)"
            env[key] = expand(value, env)
    return env


def copy_args(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """(--flags, sources, destination) of a COPY/ADD."""
    words = instruction.exec_form() or shlex.split(instruction.args)
    flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


# --- .dockerignore ---------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go filepath.Match plus Docker's '**', anchored at the context root."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def load_dockerignore(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) rules in file order; the last matching rule wins."""
    rules = []
    for raw in path.read_text().splitlines() if path.exists() else []:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negate, _glob_regex(pattern)))
    return rules


def is_ignored(relpath: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a context-relative file is left out; a rule matching a parent dir covers it."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negate, regex in rules:
        if any(regex.fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored
