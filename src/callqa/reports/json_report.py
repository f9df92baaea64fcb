"""The JSON report (schema callqa.report/1). Fields may be added; none are ever renamed."""

from __future__ import annotations

import json

from callqa.model import Report

SCHEMA = "callqa.report/1"


def report_to_dict(report: Report) -> dict:
    transcript = report.transcript
    return {
        "schema": SCHEMA,
        "transcript": {
            "path": transcript.path, "format": transcript.format, "encoding": transcript.encoding,
            "agent_name": transcript.agent_name,
            "roles": {"method": transcript.roles.method, "agent": transcript.roles.agent,
                      "confidence": transcript.roles.confidence},
        },
        "rubric": {"name": report.rubric_name, "version": report.rubric_version, "path": report.rubric_path},
        "score": report.score,
        "max_score": report.max_score,
        "passed": report.passed,
        "grade": report.grade,
        "fatal": report.fatal,
        "segmentation": "given" if report.segmentation.given else "inferred",
        "utterances": [
            {"index": u.index, "line": u.line, "speaker": u.speaker, "role": u.role, "start": u.start,
             "end": u.end, "text": u.text, "stage": stage}
            for u, stage in zip(transcript.utterances, report.segmentation.stages)
        ],
        "stages": [
            {"name": s.name, "first": s.first, "last": s.last, "score": s.score, "max_score": s.max_score}
            for s in report.stages
        ],
        "findings": [
            {"rule": f.rule, "kind": f.kind, "category": f.category, "severity": f.severity,
             "utterance": f.utterance, "line": f.line, "stage": f.stage, "role": f.role, "matched": f.matched,
             "points": f.points, "nominal_points": f.nominal, "similarity": f.similarity,
             "message": f.message, "suggestion": f.suggestion,
             "trigger_utterance": f.trigger_utterance, "trigger_line": f.trigger_line,
             "missing_words": f.missing_words}
            for f in report.findings
        ],
        "warnings": list(transcript.warnings),
        "notes": report.notes,
    }


def to_json(report: Report, *, indent: int | None = 2) -> str:
    return json.dumps(report_to_dict(report), ensure_ascii=False, indent=indent)
