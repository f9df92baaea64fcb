"""YAML loading that remembers where every value came from, so errors can name the line.

The document is composed once into a node tree (which keeps marks), checked for duplicate keys
(PyYAML would silently keep the last one) and then constructed into plain data for pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from callqa.errors import CallqaError, RubricError


@dataclass(frozen=True, slots=True)
class YamlDocument:
    path: str
    data: object
    root: yaml.Node | None

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node that `loc` (a pydantic error location) reaches."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        line = key.start_mark.line + 1
                        node = value
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def _check_duplicate_keys(path: str, node: yaml.Node, error: type[CallqaError] = RubricError) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise error(
                        path,
                        f"duplicate key '{key.value}' (first on line {seen[key.value]})",
                        line=key.start_mark.line + 1,
                    )
                seen[key.value] = key.start_mark.line + 1
            _check_duplicate_keys(path, value, error)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(path, item, error)


def load_yaml(path: Path, error: type[CallqaError] = RubricError) -> YamlDocument:
    """Read and compose a YAML file; every problem is raised as `error` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(path, "no such file") from None
    except IsADirectoryError:
        raise error(path, "is a directory, not a YAML file") from None
    except PermissionError:
        raise error(path, "permission denied") from None
    except UnicodeDecodeError as exc:
        raise error(path, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise error(path, exc.strerror or "cannot be read") from None
    return parse_yaml(text, str(path), error)


# libyaml's C parser when PyYAML was built with it (the wheels are): the default rubric composes in
# 20 ms instead of 200, most of a cold `callqa score`. Marks (lines) and errors are the same.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, path: str, error: type[CallqaError] = RubricError) -> YamlDocument:
    """Compose YAML text already read; problems are raised as `error` naming `path` and the line."""
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return YamlDocument(path, None, None)
        _check_duplicate_keys(path, root, error)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise error(path, f"invalid YAML: {exc.problem or exc.context}", line=line) from None
    except yaml.YAMLError as exc:
        raise error(path, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, root)


class RuleLines:
    """Lines of a rubric's own file for its rules, found by rule id, and for its top-level keys; a rule
    or key it inherits (`extends`) is placed on its `extends:` line."""

    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.index: dict[tuple[str, str], int] = {}
        self.data = doc.data if isinstance(doc.data, dict) else {}
        for key in ("forbidden", "detectors", "recommended", "checks"):
            for i, rule in enumerate(self.data.get(key) or []):
                if isinstance(rule, dict) and isinstance(rule.get("id"), str):
                    self.index[(key, rule["id"])] = i

    def of(self, key: str, rule_id: str, *rest: str | int) -> int:
        i = self.index.get((key, rule_id))
        if i is None:
            return self.doc.line_of(("extends",)) or 1
        return self.doc.line_of((key, i, *rest)) or 1

    def of_key(self, key: str) -> int:
        if key not in self.data:
            return self.doc.line_of(("extends",)) or 1
        return self.doc.line_of((key,)) or 1
