"""Presets: YAML files of Choices for headless runs; safe loading with errors that name key and line."""

from __future__ import annotations

import os
import re
from collections import deque
from pathlib import Path
from typing import Any, Protocol

import yaml

from installer.errors import Problem, ValidationFailed
from installer.model import Choices, Invalid

MAX_PRESET_BYTES = 256 * 1024
MAX_DEPTH = 12
SETTING_IN_MESSAGE = re.compile(r"([a-z_]+(?:\.[a-z_0-9]+)+)\b")


def load_preset(path: str | os.PathLike[str]) -> Choices:
    """Read and validate a preset file; raise ValidationFailed naming every bad key and its line."""
    from installer.files import FileProblem, read_user_file

    path = Path(path)
    source = f"preset {path}"
    try:
        data = read_user_file(path, "", "preset", MAX_PRESET_BYTES)
    except FileProblem as exc:
        hint = "check the path; presets/ has examples" if "does not exist" in exc.reason else exc.hint
        raise ValidationFailed([Problem("", exc.reason, hint)], source) from None
    return parse_preset(data, source)


def parse_preset(data: bytes | str, source: str = "preset") -> Choices:
    """Validate preset text (bytes or str) into Choices."""
    tree, lines = _safe_yaml(data, source)
    if tree is None:
        raise ValidationFailed(
            [
                Problem(
                    "",
                    "the preset is empty",
                    "start from presets/minimal.yaml: version: 1 and exposure.hosts are required",
                )
            ],
            source,
        )
    if not isinstance(tree, dict):
        raise ValidationFailed(
            [
                Problem(
                    "",
                    f"the preset must be a mapping of sections, got a {_yaml_type(tree)}",
                    "write keys such as version: 1, exposure:, auth:",
                )
            ],
            source,
        )
    if "version" not in tree:
        raise ValidationFailed(
            [Problem("version", "missing", "add `version: 1` at the top of the preset", lines.get(()))], source
        )
    if type(tree.get("version")) is not int or tree.get("version") != 1:  # `version: true` equals 1 in Python
        raise ValidationFailed(
            [
                Problem(
                    "version",
                    f"unsupported preset version {tree.get('version')!r}",
                    "this installer reads version: 1",
                    lines.get(("version",)),
                )
            ],
            source,
        )
    try:
        return Choices.parse(tree)
    except Invalid as exc:
        raise ValidationFailed(problems_from_validation(exc, lines), source) from None


def problems_from_validation(exc: Invalid, lines: dict[tuple, int] | None = None) -> list[Problem]:
    """Turn the model's errors (model.Invalid) into Problems with a dotted key path, the line, and a fix."""
    problems = []
    for loc, message, kind in exc.errors:
        path = ".".join(str(p) for p in loc)
        fix = ""
        if kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
            fix = "remove it or fix its spelling; presets/schema.json lists every key"
        elif kind == "missing":
            message = "missing"
            fix = f"add {path}"
        elif kind in ("literal_error", "enum"):
            fix = "use one of the allowed values"
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            fix = "check the value's type (quote strings, no lists where one value is expected)"
        named = SETTING_IN_MESSAGE.match(message)
        if kind == "value_error" and named and named[1].startswith(path) and named[1] != path:
            # a check across settings (e.g. target.release with garbage collection) names the setting it is about
            loc = tuple(int(p) if p.isdigit() else p for p in named[1].split("."))
            path = named[1]
            rest = message[len(path) :]  # the path is said once, before the message: not "x.y (line 3): x.y: ..."
            message = rest[2:] if rest.startswith(": ") else rest[1:] if rest.startswith((" '", ' "')) else message
        problems.append(Problem(path, message, fix, _line_for(loc, lines or {})))
    return problems


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    key = tuple(loc)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return lines.get(())


def _safe_yaml(data: bytes | str, source: str) -> tuple[Any, dict[tuple, int]]:
    if isinstance(data, bytes):
        if len(data) > MAX_PRESET_BYTES:
            raise ValidationFailed(
                [
                    Problem(
                        "",
                        f"the preset is larger than {MAX_PRESET_BYTES // 1024} KiB",
                        "a preset is a short settings file; check you gave the right file",
                    )
                ],
                source,
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ValidationFailed(
                [Problem("", f"the preset is not UTF-8 text (bad byte at line {line})", "save the file as UTF-8")],
                source,
            ) from None
    else:
        text = data
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationFailed(
            [
                Problem(
                    "", f"not valid YAML: {problem}", "fix the YAML syntax (indentation, quotes, colons)", _line(mark)
                )
            ],
            source,
        ) from None
    depth = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ValidationFailed(
                [
                    Problem(
                        "",
                        "YAML anchors and aliases (&, *) are not allowed in presets",
                        "write every value out in full",
                        _line(event.start_mark),
                    )
                ],
                source,
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ValidationFailed(
                    [
                        Problem(
                            "",
                            f"the preset nests deeper than {MAX_DEPTH} levels",
                            "presets are at most a few levels deep; see presets/minimal.yaml",
                            _line(event.start_mark),
                        )
                    ],
                    source,
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    try:
        node = _Composer(events).get_single_node()
    except yaml.YAMLError as exc:  # e.g. two documents (---) in one preset
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = "a preset is one YAML document: remove the extra ---" if "document" in problem else "fix the YAML syntax"
        raise ValidationFailed(
            [Problem("", f"not valid YAML: {problem}", hint, mark.line + 1 if mark else None)], source
        ) from None
    if node is None:
        return None, {}
    lines: dict[tuple, int] = {}
    try:
        tree = _construct(node, (), lines, source)
    except yaml.YAMLError as exc:  # e.g. an explicit tag (!!python/..., =) that safe loading refuses
        mark = getattr(exc, "problem_mark", None)
        raise ValidationFailed(
            [
                Problem(
                    "",
                    f"unsupported YAML value: {getattr(exc, 'problem', None) or exc}",
                    "write plain strings, numbers, lists and mappings (no tags)",
                    mark.line + 1 if mark else None,
                )
            ],
            source,
        ) from None
    return tree, lines


class _Composer(yaml.composer.Composer, yaml.resolver.Resolver):
    """yaml.compose(text, Loader=yaml.SafeLoader) from the events already parsed for the checks above, instead of
    parsing the text a second time: the same nodes, marks and composer errors."""

    def __init__(self, events: list[yaml.Event]) -> None:
        self.events = deque(events)
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def check_event(self, *choices: type[yaml.Event]) -> bool:
        return bool(self.events) and (not choices or isinstance(self.events[0], choices))

    def peek_event(self) -> yaml.Event:
        return self.events[0]

    def get_event(self) -> yaml.Event:
        return self.events.popleft()


PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}


def _construct(node: yaml.Node, path: tuple, lines: dict[tuple, int], source: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if node.tag not in PLAIN_TAGS:
        raise _refused(
            path,
            f"unsupported YAML value (tag {node.tag})",
            "write plain strings, numbers, lists and mappings (no tags)",
            node,
            source,
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = None  # a key that is not a plain scalar, or one the loader cannot read, is refused below
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag in PLAIN_TAGS:
                try:
                    key = _scalar(key_node)
                except (ValueError, KeyError, OverflowError, TypeError):
                    pass
            if not isinstance(key, (str, int)):
                raise _refused(path, "keys must be plain names", "use key: value", key_node, source)
            if key in result:
                raise _refused(path + (key,), "key given twice", "keep one of them", key_node, source)
            result[key] = _construct(value_node, path + (key,), lines, source)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), lines, source) for i, item in enumerate(node.value)]
    try:
        return _scalar(node)
    except (ValueError, KeyError, OverflowError, TypeError):
        # `!!int abc`, `!!bool maybe`, an integer of thousands of digits: the loader cannot make a value of it
        shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
        raise _refused(
            path,
            f"the value {shown!r} cannot be read as {node.tag.rsplit(':', 1)[-1]}",
            "write a plain value (a number of at most a few digits, true/false, or quoted text)",
            node,
            source,
        ) from None


def _refused(path: tuple, message: str, fix: str, node: yaml.Node, source: str) -> ValidationFailed:
    """The error for a preset value the loader refuses: its dotted `path`, the line where `node` starts."""
    return ValidationFailed([Problem(".".join(map(str, path)), message, fix, node.start_mark.line + 1)], source)


class _Mark(Protocol):
    line: int


def _line(mark: _Mark | None) -> int | None:
    """The 1-based line of a YAML mark (None when the parser gave none)."""
    return mark.line + 1 if mark is not None else None


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def dump_preset(choices: Choices) -> str:
    """The preset text for `choices`: only what differs from the defaults, secrets as references."""
    data = choices.to_dict(exclude_defaults=True)
    data = {"version": 1, **{k: v for k, v in data.items() if k != "version"}}
    for user in choices.auth.users:
        if user.password.kind == "literal":
            raise ValueError(
                f"user {user.name}: a typed-in password cannot go into a preset; store it in a file or env var"
            )
    header = "# registry-installer preset: replay with `registry-installer apply --preset THIS_FILE`\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def preset_schema() -> dict[str, Any]:
    """JSON Schema of a preset, generated from the Choices model (msgspec.json.schema): secrets are references
    (strings), a one-value enum a const."""
    import inspect

    from installer.model import SECRET_DESCRIPTION
    from installer.secretref import SecretSpec
    from installer.secretstr import SecretStr
    from installer.structs import msgspec

    def secret_str(kind: type) -> dict[str, Any]:
        if kind is SecretStr:  # only inside SecretSpec, which is replaced below
            return {"type": "string"}
        raise NotImplementedError(kind)

    generated = msgspec.json.schema(Choices, schema_hook=secret_str)
    definitions = generated["$defs"]
    definitions.pop(SecretSpec.__name__, None)

    def simplify(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"kind", "ref", "value"}:  # a SecretSpec default, as msgspec encoded it
                return SecretSpec(node["kind"], node["ref"]).to_reference()
            if node.get("$ref") == f"#/$defs/{SecretSpec.__name__}":  # a secret is written as its reference
                node = {"description": SECRET_DESCRIPTION, **node, "type": "string"}
                del node["$ref"]
            if "enum" in node and len(node["enum"]) == 1:
                node = {**{k: v for k, v in node.items() if k != "enum"}, "const": node["enum"][0]}
            return {
                key: inspect.cleandoc(value) if key == "description" and isinstance(value, str) else simplify(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [simplify(item) for item in node]
        return node

    definitions = simplify(definitions)
    schema = definitions.pop(Choices.__name__)
    schema["$defs"] = definitions
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "registry-installer preset"
    return schema


def schema_text() -> str:
    import json  # here: loading a preset needs no JSON (start-up)

    return json.dumps(preset_schema(), indent=2, sort_keys=True) + "\n"
