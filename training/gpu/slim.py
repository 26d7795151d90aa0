"""What a device call sends: the checkout's tracked and untracked-not-ignored files, plus carried paths,
64 MiB in all. The tracked tree is about 98 MB (model_store/ 53 MB, a committed checkpoint 39 MB), so
before a GPU call everything but the code the device runs leaves the index and is ignored, and comes
back exactly afterwards:

    python -m training.gpu.slim on               # only training/, service/ and .gitignore stay tracked
    python -m training.gpu.slim size --carry .gpu
    python -m training.gpu.slim off              # the index and .git/info/exclude as they were

Nothing in the working tree is touched. While it is on, do not commit (the commit would delete the
rest of the repository): ``off`` refuses if HEAD moved.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

KEEP = ("training", "service", ".gitignore")  # what the device command needs (training.gpu.device)
BEGIN = "# training.gpu.slim on at "  # + HEAD: the marked block in .git/info/exclude
END = "# training.gpu.slim end"
ADDED_NEWLINE = " (after a newline it added)"  # the file did not end with one: ``off`` takes it out again
DEVICE_LIMIT = 64 * 2**20  # bytes a call may send, carried paths included


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def exclude_file(repo: Path) -> Path:
    """The exclude file git reads (a worktree shares its repository's)."""
    return repo / git(repo, "rev-parse", "--git-path", "info/exclude").strip()


def marked_block(text: str) -> tuple[int, int] | None:
    """Start and end offsets of the block ``on`` appended, or None."""
    start = text.find(BEGIN)
    if start < 0:
        return None
    return start, text.index(END, start) + len(END) + 1


def slim_on(repo: Path) -> list[str]:
    """Take every tracked top-level path but KEEP out of the index and ignore it; returns those paths."""
    exclude = exclude_file(repo)
    text = exclude.read_text() if exclude.is_file() else ""
    if marked_block(text):
        raise SystemExit("already on: run `python -m training.gpu.slim off` first")
    tracked = git(repo, "ls-files", "-z").split("\0")
    paths = sorted({path.split("/")[0] for path in tracked if path} - set(KEEP))
    staged = subprocess.run(["git", "diff", "--cached", "--quiet", "--", *paths], cwd=repo).returncode
    if staged:
        raise SystemExit("staged changes outside training/ and service/: commit or unstage them first")
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "rm", "-r", "-q", "--cached", "--", *paths)
    added = bool(text) and not text.endswith("\n")
    block = [BEGIN + head + (ADDED_NEWLINE if added else "")] + [f"/{path}" for path in paths] + [END]
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text(text + ("\n" if added else "") + "\n".join(block) + "\n")
    return paths


def slim_off(repo: Path) -> list[str]:
    """Put the paths back into the index from HEAD and remove the block from the exclude file."""
    exclude = exclude_file(repo)
    text = exclude.read_text() if exclude.is_file() else ""
    found = marked_block(text)
    if not found:
        raise SystemExit("not on: nothing to restore")
    lines = text[found[0] : found[1]].splitlines()
    head = lines[0].removeprefix(BEGIN).removesuffix(ADDED_NEWLINE)
    start = found[0] - 1 if lines[0].endswith(ADDED_NEWLINE) else found[0]
    if git(repo, "rev-parse", "HEAD").strip() != head:
        raise SystemExit(f"HEAD moved since `on` (was {head}): restore by hand with `git reset <that commit> -- .`")
    paths = [line.removeprefix("/") for line in lines[1:-1]]
    git(repo, "reset", "-q", "--", *paths)
    exclude.write_text(text[:start] + text[found[1] :])
    return paths


def travel_bytes(repo: Path, carry: list[str]) -> int:
    """Bytes of what a device call would send: tracked and untracked-not-ignored files, and carried paths
    (a link counts as itself: it travels as a link)."""
    listed = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    files = [repo / path for path in listed if path]
    for folder in carry:
        files += [Path(root) / name for root, _, names in os.walk(repo / folder) for name in names]
    return sum(path.lstat().st_size for path in files if os.path.lexists(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["on", "off", "size"])
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--carry", action="append", default=[], help="a carried path (repeatable), for size")
    args = parser.parse_args(argv)
    repo = Path(git(args.repo, "rev-parse", "--show-toplevel").strip())
    if args.action == "on":
        print(f"out of the index and ignored until `off`: {' '.join(slim_on(repo))}; DO NOT COMMIT until then")
    elif args.action == "off":
        print(f"back in the index: {' '.join(slim_off(repo))}")
    size = travel_bytes(repo, args.carry)
    verdict = "fits" if size <= DEVICE_LIMIT else "TOO LARGE"
    print(f"a device call would send {size / 2**20:.1f} MiB of {DEVICE_LIMIT / 2**20:.0f} MiB: {verdict}")


if __name__ == "__main__":
    main()
