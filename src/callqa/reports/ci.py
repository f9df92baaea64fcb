"""Output formats for diagnostics: text (flake8 style), json, github, junit, sarif.

Each formatter takes a CheckResult and returns the whole document as a string; the CLI prints it
to stdout. Severities map to each format's own levels (fatal counts as error everywhere).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import PurePath
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from callqa.errors import CallqaError
from callqa.lint.diagnostics import SEVERITIES, CheckResult, Diagnostic
from callqa.version import __version__

_GITHUB_LEVEL = {"info": "notice", "warning": "warning", "error": "error", "fatal": "error"}
_SARIF_LEVEL = {"info": "note", "warning": "warning", "error": "error", "fatal": "error"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _line(d: Diagnostic) -> str:
    suggestion = f" ({d.suggestion})" if d.suggestion else ""
    return f"{d.path}:{d.line}:{d.col}: {d.severity} {d.rule} {d.message}{suggestion}"


def _error_text(error: CallqaError) -> str:
    """What an input error says, without the file and line that a format gives as a location."""
    return error.message + (f" ({error.hint})" if error.hint else "")


def format_text(result: CheckResult, fail_on: str, tool: str) -> str:
    return "".join(_line(d) + "\n" for d in result.sorted())


def format_json(result: CheckResult, fail_on: str, tool: str) -> str:
    counts = {s: sum(1 for d in result.diagnostics if d.severity == s) for s in SEVERITIES}
    document = {
        "schema": "callqa.lint.diagnostics/1",
        "tool": tool,
        "diagnostics": [
            {
                "path": d.path,
                "line": d.line,
                "col": d.col,
                "severity": d.severity,
                "rule": d.rule,
                "message": d.message,
                "suggestion": d.suggestion,
            }
            for d in result.sorted()
        ],
        "errors": [str(error) for error in result.errors],
        "checked": result.checked,
        "summary": {"checked": len(result.checked), **counts, "exit_code": result.exit_code(fail_on)},
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def format_github(result: CheckResult, fail_on: str, tool: str) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's lines."""
    lines = []
    for d in result.sorted():
        props = (
            f"file={_github_escape(d.path, prop=True)},line={d.line},col={d.col},"
            f"title={_github_escape(d.rule, prop=True)}"
        )
        message = d.message + (f" ({d.suggestion})" if d.suggestion else "")
        lines.append(f"::{_GITHUB_LEVEL[d.severity]} {props}::{_github_escape(message)}\n")
    lines.extend(_github_error(error) for error in result.errors)
    return "".join(lines)


def _github_error(error: CallqaError) -> str:
    """An input error as an annotation on its file (and line, when known): without `file=` GitHub
    shows it in the log only, attached to nothing."""
    if error.path is None:
        return f"::error::{_github_escape(str(error))}\n"
    props = f"file={_github_escape(error.path, prop=True)}" + (f",line={error.line}" if error.line else "")
    return f"::error {props}::{_github_escape(_error_text(error))}\n"


def format_junit(result: CheckResult, fail_on: str, tool: str) -> str:
    """JUnit XML: one test case per finding (failing at or above --fail-on) and one per clean file."""
    failing = [d for d in result.sorted() if d.at_least(fail_on)]
    suites = ET.Element("testsuites", name=f"callqa {tool}")
    suite = ET.SubElement(suites, "testsuite", name=f"callqa {tool}")
    tests = 0
    with_findings = {d.path for d in result.diagnostics}
    for path in sorted(set(result.checked) - with_findings):
        ET.SubElement(suite, "testcase", classname=path, name=f"{path}: clean")
        tests += 1
    for d in result.sorted():
        case = ET.SubElement(suite, "testcase", classname=d.path, name=f"{d.rule} at {d.path}:{d.line}:{d.col}")
        if d.at_least(fail_on):
            failure = ET.SubElement(case, "failure", type=d.rule, message=d.message)
            failure.text = _line(d)
        else:
            ET.SubElement(case, "system-out").text = _line(d)
        tests += 1
    for error in result.errors:  # a case of the file it names, like a finding's
        where = f"{error.path}:{error.line}" if error.line else error.path
        name = f"input error at {where}" if where else "input error"
        case = ET.SubElement(suite, "testcase", classname=error.path or "callqa", name=name)
        ET.SubElement(case, "error", type="input-error", message=_error_text(error)).text = str(error)
        tests += 1
    for element in (suites, suite):
        element.set("tests", str(tests))
        element.set("failures", str(len(failing)))
        element.set("errors", str(len(result.errors)))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _uri(path: str) -> str:
    return quote(PurePath(path).as_posix(), safe="/:")


def format_sarif(result: CheckResult, fail_on: str, tool: str) -> str:
    """SARIF 2.1.0, as GitHub code scanning and most CI servers read it."""
    diagnostics = result.sorted()
    rules: dict[str, dict[str, Any]] = {}
    for d in diagnostics:
        rules.setdefault(
            d.rule,
            {
                "id": d.rule,
                "shortDescription": {"text": d.message},
                "defaultConfiguration": {"level": _SARIF_LEVEL[d.severity]},
                **({"help": {"text": d.suggestion}} if d.suggestion else {}),
            },
        )
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    results = [
        {
            "ruleId": d.rule,
            "ruleIndex": index[d.rule],
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": d.message + (f" ({d.suggestion})" if d.suggestion else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(d.path)},
                        "region": {"startLine": d.line, "startColumn": d.col},
                    }
                }
            ],
        }
        for d in diagnostics
    ]
    notifications = [_sarif_notification(error) for error in result.errors]
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "callqa",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://pypi.org/project/callqa/",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "invocations": [
                    {"executionSuccessful": not result.errors, "toolExecutionNotifications": notifications}
                ],
            }
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _sarif_notification(error: CallqaError) -> dict[str, Any]:
    """An input error as a tool execution notification, located on its file (and line) as a result is."""
    if error.path is None:
        return {"level": "error", "message": {"text": str(error)}}
    location: dict[str, Any] = {"artifactLocation": {"uri": _uri(error.path)}}
    if error.line:
        location["region"] = {"startLine": error.line}
    return {"level": "error", "message": {"text": _error_text(error)}, "locations": [{"physicalLocation": location}]}


FORMATTERS: dict[str, Callable[[CheckResult, str, str], str]] = {
    "text": format_text,
    "json": format_json,
    "github": format_github,
    "junit": format_junit,
    "sarif": format_sarif,
}
