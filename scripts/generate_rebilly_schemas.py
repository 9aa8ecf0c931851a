"""Generate streamer/schemas/rebilly.py from Rebilly's OpenAPI definition.

Usage: python scripts/generate_rebilly_schemas.py (--mirror GIT_DIR [--commit REV] | --tree tests/data/rebilly_openapi)

Every ``components/schemas/*DataExport.yaml`` names one exportable resource
(its one-value ``resource`` enum: ``customers``, ``transactions``, ...); the
resource's records are the singular schema (``Customer.yaml``, ...).  Each
becomes a msgspec Struct: one field per top-level property (writeOnly ones
are never exported, so left out), typed from the property's JSON Schema
after following ``$ref`` and ``allOf``:

- ``string`` + ``format: date-time`` → datetime, ``format: date`` → date,
  other strings → str; ``integer`` → int; ``number`` → float; ``boolean`` → bool;
- ``object`` → ``dict[str, Any]``, ``array`` → ``list[Any]`` (nested shapes are
  left to the JSON; the typed tables of issue 14 flatten them);
- anything else (a ``oneOf`` of several types, no type) → ``Any``.

Every field is optional (``None`` by default): an export's ``fields``
argument selects columns, and a server's answer is evidence, not truth.
Files are read from the one commit with ``git show`` (no work tree needed).
"""

from __future__ import annotations

import argparse
import keyword
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

OUTPUT = Path(__file__).resolve().parent.parent / "streamer" / "schemas" / "rebilly.py"
SCHEMAS_DIR = "openapi/components/schemas"
SNAPSHOT = OUTPUT.parents[2] / "tests" / "data" / "rebilly_openapi"


class Spec:
    """The definition's files at one commit: from a git mirror, or from the vendored snapshot
    (``tests/data/rebilly_openapi``, the files under ``openapi/`` at their paths; its README
    names the commit), so the suite can check the generated module without a network."""

    def __init__(self, mirror: str | None, commit: str, tree: Path | None = None) -> None:
        self.mirror, self.commit, self.tree = mirror, commit, tree
        self._cache: dict[str, Any] = {}

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "--git-dir", self.mirror, *args], check=True, capture_output=True, text=True).stdout

    def read(self, path: str) -> str:
        if self.tree is None:
            return self.git("show", f"{self.commit}:{path}")
        return (self.tree / posixpath.relpath(path, "openapi")).read_text()

    def listing(self, folder: str) -> list[str]:
        """The files of ``folder`` (a path under ``openapi/``)."""
        if self.tree is None:
            return self.git("ls-tree", "--name-only", self.commit, f"{folder}/").split()
        return sorted(f"{folder}/{p.name}" for p in (self.tree / posixpath.relpath(folder, "openapi")).iterdir())

    def load(self, path: str) -> Any:
        if path not in self._cache:
            self._cache[path] = yaml.safe_load(self.read(path))
        return self._cache[path]

    def resolve(self, schema: dict[str, Any], base: str, depth: int = 0) -> tuple[dict[str, Any], str]:
        """Follow ``$ref`` and merge ``allOf`` until a schema with its own type (or none) is left."""
        while "$ref" in schema and depth < 20:
            ref = schema["$ref"]
            target, _, pointer = ref.partition("#")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(base), target)) if target else base
            loaded = self.load(path)
            for key in [k for k in pointer.split("/") if k]:
                loaded = loaded[key]
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema, base, depth = {**loaded, **extra}, path, depth + 1
        if "allOf" in schema and "type" not in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                resolved, _ = self.resolve(part, base, depth + 1)
                for key, value in resolved.items():
                    merged.setdefault(key, value)
            schema = merged
        return schema, base


def python_type(schema: dict[str, Any]) -> str:
    types = schema.get("type")
    if isinstance(types, str):
        types = [types]
    if not types:
        branches = schema.get("oneOf") or schema.get("anyOf")
        if branches and all(isinstance(b, dict) and b.get("type") for b in branches):
            kinds = {t for b in branches for t in ([b["type"]] if isinstance(b["type"], str) else b["type"])}
            types = sorted(kinds)
        elif "enum" in schema and all(isinstance(v, str) for v in schema["enum"] if v is not None):
            types = ["string"]
        elif "properties" in schema:
            types = ["object"]
    kinds = [t for t in (types or []) if t != "null"]
    if len(kinds) != 1:
        return "Any"
    kind = kinds[0]
    if kind == "string":
        return {"date-time": "datetime", "date": "date"}.get(schema.get("format", ""), "str")
    return {"integer": "int", "number": "float", "boolean": "bool", "object": "dict[str, Any]",
            "array": "list[Any]"}.get(kind, "Any")


def snake(name: str) -> str:
    """A Python field name for a wire name (``_links`` → ``links_``, ``3ds`` → ``field_3ds``)."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    if out.startswith("_"):
        out = out.lstrip("_") + "_"
    if not out.isidentifier():
        out = "field_" + re.sub(r"\W", "_", out)
    return out + "_" if keyword.iskeyword(out) else out


def singular_file(resource: str) -> str:
    """``payoutRequestAllocations`` → ``PayoutRequestAllocation.yaml``."""
    return resource[0].upper() + resource[1:-1] + ".yaml"


def generate(spec: Spec) -> str:
    exports = sorted(p for p in spec.listing(SCHEMAS_DIR) if p.endswith("DataExport.yaml") and not p.endswith("/DataExport.yaml"))
    lines = [
        '"""Rebilly schemas: one Struct per resource its data-exports API exports.',
        "",
        "GENERATED by scripts/generate_rebilly_schemas.py from Rebilly/api-definitions",
        f"commit {spec.commit} — do not edit; rerun the script.",
        "Field names are the records' camelCase (``createdTime``); every field optional.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from datetime import date, datetime  # noqa: F401",
        "from typing import Any  # noqa: F401",
        "",
        "import msgspec",
        "",
        "from streamer.schemas.base import EntitySchema",
        "",
        "",
        "class _Resource(msgspec.Struct, kw_only=True, rename=\"camel\", omit_defaults=True):",
        '    """Common base: keyword-only, camelCase on the wire, tolerant of new fields."""',
    ]
    entries: list[tuple[str, str, str, bool]] = []
    for export in exports:
        doc = spec.load(export)
        resource = doc["properties"]["resource"]["enum"][0]
        record_path = f"{SCHEMAS_DIR}/{singular_file(resource)}"
        record, base = spec.resolve(spec.load(record_path), record_path)
        class_name = singular_file(resource)[:-5]
        lines += ["", "", f"class {class_name}(_Resource):",
                  f'    """One ``{resource}`` record ({posixpath.basename(record_path)})."""', ""]
        has_updated = False
        for name, prop in (record.get("properties") or {}).items():
            resolved, _ = spec.resolve(prop, base)
            if resolved.get("writeOnly") or prop.get("writeOnly"):
                continue
            field = snake(name)
            if re.sub(r"_(.)", lambda m: m.group(1).upper(), field) != name:
                lines.append(f'    {field}: {python_type(resolved)} | None = msgspec.field(default=None, name="{name}")')
            else:
                lines.append(f"    {field}: {python_type(resolved)} | None = None")
            has_updated = has_updated or name == "updatedTime"
        entries.append((resource, class_name, "id", has_updated))
    lines += ["", "", "SCHEMAS: tuple[EntitySchema, ...] = ("]
    for resource, class_name, key, has_updated in entries:
        replication = '"updatedTime"' if has_updated else "None"
        lines.append(f'    EntitySchema("rebilly", "{resource}", {class_name}, key_properties=("{key}",), '
                     f"replication_key={replication}),")
    lines.append(")")
    return "\n".join(lines).replace("| None | None", "| None").replace("Any | None", "Any") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mirror", help="git dir of a clone of Rebilly/api-definitions")
    source.add_argument("--tree", type=Path, help=f"the vendored snapshot instead ({SNAPSHOT.relative_to(OUTPUT.parents[2])})")
    parser.add_argument("--commit", default="657cabcf0a23555b2334de8ecbc336a9c3a1d607", help="with --mirror")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.tree is not None:
        found = re.search(r"Snapshot commit: `([0-9a-f]{40})`", (args.tree / "README.md").read_text())
        if found is None:
            parser.error(f"{args.tree}/README.md names no snapshot commit")
        spec = Spec(None, found.group(1), args.tree)
    else:
        spec = Spec(args.mirror, args.commit)
        spec.commit = spec.git("rev-parse", args.commit).strip()
    args.output.write_text(generate(spec))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
