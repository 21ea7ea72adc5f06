"""The `--json` contract of docs/JSON.md, as the tests check it.

docs/JSON.md holds one JSON Schema per command (the ```json blocks with an "$id" of
"urn:tfckpt:..."); `check(args, document)` validates what `tfckpt ARGS` printed against the schema
of that command. Both test suites call it on every `--json` document they parse.
"""

import json
import os
import re

import jsonschema
import referencing
import referencing.jsonschema

SCHEMA_VERSION = 1
DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs", "JSON.md")
PREFIX = "urn:tfckpt:"


def load_schemas(path=DOC):
    """{"ls": schema, ...} from the ```json blocks of docs/JSON.md that carry a tfckpt $id."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    schemas = {}
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.S):
        schema = json.loads(block)  # (a block that does not parse is a broken contract)
        sid = schema.get("$id", "")
        if not sid.startswith(PREFIX):
            raise AssertionError("a ```json block of %s has no %s* $id" % (path, PREFIX))
        name = sid[len(PREFIX):]
        if name in schemas:
            raise AssertionError("two schemas in %s have the $id %s" % (path, sid))
        jsonschema.Draft202012Validator.check_schema(schema)
        schemas[name] = schema
    return schemas


SCHEMAS = load_schemas()
_REGISTRY = referencing.Registry().with_resources(
    (PREFIX + name, referencing.Resource.from_contents(
        schema, default_specification=referencing.jsonschema.DRAFT202012))
    for name, schema in SCHEMAS.items())

# The commands that print a plan (`--dry-run --json`) or an executed plan (`--json`).
PLAN_COMMANDS = {"merge", "transfer", "edit", "average", "blend"}


def schema_name(args):
    """The schema that `tfckpt ARGS --json` answers to."""
    args = [str(a) for a in args]
    command = args[0]
    if command == "ls":
        return "ls-objects" if "--objects" in args else "ls"
    if command in PLAN_COMMANDS:
        return "plan"
    if command == "convert":
        return "plan" if "--to-tf1" in args or any(a.startswith("--to-tf2") for a in args) \
            else "convert"
    if command == "stats":
        return "stats-all" if "--all" in args else "stats"
    if command in ("show", "verify", "diff"):
        return command
    raise AssertionError("`tfckpt %s` prints no JSON that docs/JSON.md describes" % command)


def validate(name, document):
    """Raises AssertionError, with every violation, unless `document` answers to schema `name`."""
    validator = jsonschema.Draft202012Validator(SCHEMAS[name], registry=_REGISTRY)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise AssertionError("--json output breaks the `%s` schema of docs/JSON.md:\n%s" % (
            name, "\n".join("  at %s: %s" % ("/".join(map(str, e.absolute_path)) or "(top)",
                                             e.message[:300]) for e in errors[:10])))
    if not isinstance(document, dict) or next(iter(document), None) != "schema_version":
        raise AssertionError("--json output does not begin with schema_version: %.200r" %
                             (document,))


def check(args, document):
    """Checks what `tfckpt ARGS` printed (parsed) against docs/JSON.md; returns it."""
    validate(schema_name(args), document)
    return document
