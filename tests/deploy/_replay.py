"""Replay a Dockerfile's build on the host, all stages into one directory standing in for
the container filesystem: COPY from the build context, `python -m venv` and `pip install`
RUN commands, ENV and WORKDIR. Other RUN commands (useradd...) only matter inside a real
image and are skipped. Not a container: the point is that the install and start commands
written in the Dockerfile give a working service with exactly the packages they name."""

from __future__ import annotations

import posixpath
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from . import _dockerfile as df


class Replay:
    def __init__(self, rootfs: Path, repo: Path, context: list[str], log: Path) -> None:
        self.rootfs, self.repo, self.context, self.log = rootfs, repo, context, log
        self.skipped: list[str] = []

    def host(self, container_path: str) -> Path:
        return self.rootfs / container_path.lstrip("/")

    def build(self, stages: list[df.Stage]) -> tuple[dict[str, str], str]:
        """Run every stage; returns the final stage's (env, workdir)."""
        env, workdir = {}, "/"
        for stage in stages:
            env, workdir = df.stage_env(df.Stage(stage.base, stage.name)), "/"
            for instruction in stage.instructions:
                if instruction.cmd == "ENV":
                    env = df.stage_env(df.Stage("", None, [instruction]), env)
                elif instruction.cmd == "WORKDIR":
                    workdir = posixpath.join(workdir, df.expand(instruction.args, env))
                    self.host(workdir).mkdir(parents=True, exist_ok=True)
                elif instruction.cmd == "COPY":
                    self._copy(instruction, workdir)
                elif instruction.cmd == "RUN":
                    self._run(instruction, env, workdir)
        return env, workdir

    def _copy(self, instruction: df.Instruction, workdir: str) -> None:
        flags, sources, dest = df.copy_args(instruction)
        dest = posixpath.join(workdir, dest)
        if "from" in flags:
            # One shared rootfs: copying a path onto itself from an earlier stage is a no-op.
            assert sources == [dest] or [s.rstrip("/") for s in sources] == [dest.rstrip("/")], (
                f"line {instruction.line}: only COPY --from=<stage> <path> <same path> is replayed"
            )
            return
        into_dir = instruction.args.rstrip().endswith("/") or len(sources) > 1
        for source in sources:
            source = posixpath.normpath(source)
            assert not any(c in source for c in "*?["), f"line {instruction.line}: globs are not replayed"
            matched = [f for f in self.context if source == "." or f == source or f.startswith(source + "/")]
            assert matched, f"line {instruction.line}: COPY {source}: not in the build context"
            for rel in matched:
                if rel == source:  # a file
                    target = posixpath.join(dest, posixpath.basename(rel)) if into_dir else dest
                else:  # a directory: its contents go into dest
                    target = posixpath.join(dest, rel if source == "." else rel[len(source) + 1 :])
                self.host(target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.repo / rel, self.host(target))

    def _run(self, instruction: df.Instruction, env: dict[str, str], workdir: str) -> None:
        assert instruction.exec_form() is None, f"line {instruction.line}: shell-form RUN expected"
        for command in instruction.args.split("&&"):
            words = shlex.split(command)
            if words[:3] in (["python", "-m", "venv"], ["python3", "-m", "venv"]):
                self._exec([sys.executable, "-m", "venv", str(self.host(words[3]))], workdir)
            elif words[:2] == ["pip", "install"] or words[1:4] == ["-m", "pip", "install"]:
                args = words[words.index("install") + 1 :]
                # The one deviation: keep pip's cache, so repeated test runs do not re-download.
                args = [a for a in args if a != "--no-cache-dir"]
                self._exec([str(self.which("python", env)), "-m", "pip", "install", *args], workdir)
            else:
                self.skipped.append(command.strip())

    def which(self, program: str, env: dict[str, str]) -> Path:
        """program as the container's PATH finds it, looked up inside the rootfs."""
        for entry in env.get("PATH", "").split(":"):
            candidate = self.host(entry) / program
            if entry.startswith("/") and candidate.exists():
                return candidate
        raise AssertionError(f"{program} is not on the image PATH inside the rootfs: {env.get('PATH')}")

    def host_env(self, env: dict[str, str]) -> dict[str, str]:
        """The container env with absolute paths that exist in the rootfs pointed there."""
        out = {}
        for key, value in env.items():
            parts = value.split(":")
            out[key] = ":".join(
                str(self.host(p)) if p.startswith("/") and p != "/" and self.host(p).exists() else p for p in parts
            )
        return out

    def _exec(self, argv: list[str], workdir: str) -> None:
        self.host(workdir).mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as out:
            out.write(f"$ {shlex.join(argv)}\n")
            out.flush()
            result = subprocess.run(argv, cwd=self.host(workdir), stdout=out, stderr=subprocess.STDOUT, timeout=420)
        assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{self.log.read_text()[-4000:]}"
