#!/usr/bin/env python3
"""Re-vendor tests/data/rebilly_openapi from ONE commit of a Rebilly/api-definitions mirror.

Reads the files straight out of a git repository (bare or not) with
``git show <commit>:<path>``, starting from the operations streamer uses and
following every relative ``$ref`` to a YAML file (code samples are left out),
so the snapshot holds exactly the schemas those operations need, verbatim, at
their original paths: the files' own ``$ref``s resolve unchanged.  Files of an
earlier snapshot that are no longer needed are removed, and the README's file
table and commit are rewritten.

    python scripts/refresh_rebilly_openapi.py --mirror /path/to/api-definitions.git [--commit HEAD]
"""

from __future__ import annotations

import argparse
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOTS = ("paths/data-exports.yaml", "paths/data-exports@{id}.yaml", "paths/files@{id}@download.yaml")
"""The operations streamer calls, relative to ``openapi/``."""
MOUNTS = ("/experimental/data-exports", "/experimental/data-exports/{id}", "/files/{id}/download")
TARGET = Path(__file__).resolve().parent.parent / "tests" / "data" / "rebilly_openapi"
TABLE_START, TABLE_END = "<!-- files: start -->", "<!-- files: end -->"


def git(mirror: str, *args: str) -> bytes:
    try:
        return subprocess.run(["git", "--git-dir", mirror, *args], check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        sys.exit(f"refresh_rebilly_openapi: git {' '.join(args)} failed: {exc.stderr.decode().strip()}")


def refs_in(node: Any) -> list[str]:
    """Every ``$ref`` string in a YAML document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs_in(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs_in(value)]
    return []


def exported_resources(mirror: str, commit: str) -> list[str]:
    """Every ``components/schemas/*DataExport.yaml`` and the record schema of its resource: what
    ``scripts/generate_rebilly_schemas.py`` reads to write ``streamer/schemas/rebilly.py``."""
    folder = "openapi/components/schemas/"
    listing = git(mirror, "ls-tree", "--name-only", commit, folder).decode().split()
    found = []
    for path in listing:
        if path.endswith("DataExport.yaml") and not path.endswith("/DataExport.yaml"):
            resource = yaml.safe_load(git(mirror, "show", f"{commit}:{path}"))["properties"]["resource"]["enum"][0]
            record = resource[0].upper() + resource[1:-1] + ".yaml"  # generate_rebilly_schemas.singular_file
            found += [path.removeprefix("openapi/"), f"components/schemas/{record}"]
    return found


def closure(mirror: str, commit: str) -> dict[str, bytes]:
    """The root files and every YAML file they reference, transitively: path → bytes."""
    files: dict[str, bytes] = {}
    pending = [*ROOTS, *exported_resources(mirror, commit)]
    while pending:
        relative = pending.pop()
        if relative in files:
            continue
        data = git(mirror, "show", f"{commit}:openapi/{relative}")
        files[relative] = data
        for ref in refs_in(yaml.safe_load(data)):
            target = ref.split("#", 1)[0]
            if not target or not target.endswith(".yaml") or re.match(r"^[a-z]+:", target):
                continue  # a fragment of the same file, a code sample, or an absolute URL
            pending.append(posixpath.normpath(posixpath.join(posixpath.dirname(relative), target)))
    return files


def mounts(mirror: str, commit: str) -> dict[str, str]:
    """Where openapi.yaml mounts each root (checked, since the tests assume these paths)."""
    root = yaml.safe_load(git(mirror, "show", f"{commit}:openapi/openapi.yaml"))
    found = {}
    for mount, relative in zip(MOUNTS, ROOTS):
        entry = (root.get("paths") or {}).get(mount)
        if not isinstance(entry, dict) or posixpath.normpath(entry.get("$ref", "")) != posixpath.normpath(relative):
            sys.exit(f"refresh_rebilly_openapi: openapi.yaml no longer mounts {relative} at {mount}")
        found[mount] = relative
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", required=True, help="git directory of a Rebilly/api-definitions clone")
    parser.add_argument("--commit", default="HEAD", help="the one commit to read every file from")
    args = parser.parse_args()
    commit = git(args.mirror, "rev-parse", f"{args.commit}^{{commit}}").decode().strip()
    date = git(args.mirror, "show", "-s", "--format=%cI", commit).decode().strip()
    mounted = mounts(args.mirror, commit)
    files = closure(args.mirror, commit)
    for old in TARGET.rglob("*.yaml"):
        if old.relative_to(TARGET).as_posix() not in files:
            old.unlink()
    for relative, data in files.items():
        path = TARGET / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for folder in sorted(TARGET.rglob("*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    readme = TARGET / "README.md"
    text = readme.read_text()
    table = "\n".join(
        [
            TABLE_START,
            f"Commit `{commit}` ({date}), {len(files)} files; mounts in `openapi.yaml`: "
            + ", ".join(f"`{m}` → `{r}`" for m, r in mounted.items()) + ".",
            "",
            "| Path (under `openapi/`) |",
            "|---|",
            *(f"| `{relative}` |" for relative in sorted(files)),
            TABLE_END,
        ]
    )
    if TABLE_START in text and TABLE_END in text:
        text = text[: text.index(TABLE_START)] + table + text[text.index(TABLE_END) + len(TABLE_END) :]
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    text = re.sub(r"(Snapshot commit: `)[0-9a-f]{40}(`)", rf"\g<1>{commit}\g<2>", text)
    readme.write_text(text)
    print(f"{len(files)} files from {commit} ({date}) into {TARGET}")


if __name__ == "__main__":
    main()
