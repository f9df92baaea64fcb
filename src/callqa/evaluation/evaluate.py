"""`callqa eval`: score labelled calls blind and compare with their gold, per group and overall.

With `leave_one_group_out`, each group (a writer, a team, a source) is scored by models trained on
every other group (plus any `train_also` calls, which are never scored): the stage model, and the
forbidden-expression detector where the rubric uses one, so no figure comes from a model that saw the
calls it is measured on. Baselines put the stage figures beside two simpler
segmenters: the rubric's cues alone, and a split by relative position alone (each stage's share of
utterances, learned from the training calls).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callqa.agreement import cohen_kappa
from callqa.evaluation import metrics
from callqa.evaluation.metrics import Counts
from callqa.model import FORBIDDEN_CATEGORIES, STAGES, Report
from callqa.rules.compiled import CompiledRubric
from callqa.rules.detector import ForbiddenModel
from callqa.rules.detector_features import agent_line_features, call_context
from callqa.rules.detector_training import TrainingLine, train_detector
from callqa.scoring.pipeline import RUBRIC_MODEL, model_version, score_transcript, stage_model_for
from callqa.stages.model import StageModel
from callqa.stages.segment import cue_stage_sets
from callqa.stages.training import TrainingCall, train_stage_model
from callqa.transcripts.gold import LabelledCall

#: Segmenters `baselines` adds beside the one being measured.
BASELINES = ("cues", "position")
#: A finding of these categories on a line flags it as a forbidden expression (辱骂 is the worst kind).
FLAGGING_CATEGORIES = frozenset(FORBIDDEN_CATEGORIES) | {"辱骂"}


@dataclass(frozen=True, slots=True)
class CallScore:
    """One labelled call as the system scored it."""

    path: str
    group: str
    gold_stages: tuple[str, ...]
    predicted: dict[str, tuple[str, ...]]  # segmenter ("model", "cues", "position") -> stages
    has_line_labels: bool
    agent_lines: tuple[int, ...] = ()
    gold_forbidden: dict[int, str] = field(default_factory=dict)  # utterance -> category
    near_misses: frozenset[int] = frozenset()
    flagged: dict[int, str] = field(default_factory=dict)  # utterance -> predicted category
    gold_scripts: frozenset[str] = frozenset()  # recommended labels the call performs
    said_scripts: frozenset[str] = frozenset()  # labels of the scripts the report credits
    score: float = 0.0


@dataclass(slots=True)
class Figures:
    """Every figure of one set of calls (a group, or all of them)."""

    calls: list[CallScore]

    def segmenters(self) -> list[str]:
        return list(self.calls[0].predicted) if self.calls else []

    def _stages(self, segmenter: str) -> tuple[list[str], list[str]]:
        gold = [s for c in self.calls for s in c.gold_stages]
        predicted = [s for c in self.calls for s in c.predicted[segmenter]]
        return gold, predicted

    def stage_figures(self, segmenter: str = "model") -> dict[str, Any]:
        gold, predicted = self._stages(segmenter)
        exact = [metrics.boundary_hits(c.gold_stages, c.predicted[segmenter], 0) for c in self.calls]
        near = [metrics.boundary_hits(c.gold_stages, c.predicted[segmenter], 1) for c in self.calls]
        boundaries = sum(total for _, total in exact)
        per_call = [  # (utterances right, utterances) of each call: the accuracy and its interval
            (sum(g == p for g, p in zip(c.gold_stages, c.predicted[segmenter], strict=True)), len(c.gold_stages))
            for c in self.calls
        ]
        return {
            "utterances": len(gold),
            "utterance_accuracy": _share(sum(right for right, _ in per_call), len(gold)),
            "utterance_accuracy_ci95": _interval(per_call),
            "boundary_exact": _share(sum(found for found, _ in exact), boundaries),
            "boundary_within_1": _share(sum(found for found, _ in near), boundaries),
            "kappa": _round(cohen_kappa(zip(gold, predicted, strict=True))),
            "per_stage": {s: c.to_dict() for s, c in metrics.stage_counts(gold, predicted).items()},
            "confusion": metrics.confusion(gold, predicted),
        }

    @property
    def line_labelled(self) -> list[CallScore]:
        return [c for c in self.calls if c.has_line_labels]

    def _forbidden_per_call(self) -> list[Counts]:
        """Per line-labelled call: agent lines flagged, whatever the category, against those the gold marks."""
        per_call = []
        for c in self.line_labelled:
            flagged = {i for i in c.flagged if i in c.agent_lines}
            per_call.append(Counts(len(flagged & set(c.gold_forbidden)), len(flagged), len(c.gold_forbidden)))
        return per_call

    def forbidden(self) -> Counts:
        """Agent lines flagged, whatever the category, against agent lines the gold marks."""
        return sum(self._forbidden_per_call(), Counts())

    def forbidden_intervals(self) -> dict[str, list[float] | None]:
        """95 % bootstrap intervals (over calls) of forbidden precision and recall."""
        per_call = self._forbidden_per_call()
        return {
            "precision_ci95": _interval([(c.hits, c.predicted) for c in per_call]),
            "recall_ci95": _interval([(c.hits, c.gold) for c in per_call]),
        }

    def forbidden_by_category(self) -> dict[str, Counts]:
        """Category-exact: a flag counts for its category only where the gold has that category."""
        result = {}
        for category in FORBIDDEN_CATEGORIES:
            total = Counts()
            for c in self.line_labelled:
                gold = {i for i, g in c.gold_forbidden.items() if g == category}
                flagged = {i for i, p in c.flagged.items() if p == category and i in c.agent_lines}
                total += Counts(len(gold & flagged), len(flagged), len(gold))
            result[category] = total
        return result

    def near_miss_flag_rate(self) -> float | None:
        near = sum(len(c.near_misses) for c in self.line_labelled)
        flagged = sum(len(c.near_misses & set(c.flagged)) for c in self.line_labelled)
        return _share(flagged, near)

    def recommended(self) -> Counts:
        """Per call and script: said (as the report credits it) against performed (as the gold marks it).
        Calls whose gold marks no script at all (real calls labelled for stages and violations only)
        are left out rather than counted as all false alarms."""
        total = Counts()
        for c in self.line_labelled:
            if not c.gold_scripts:
                continue
            total += Counts(len(c.said_scripts & c.gold_scripts), len(c.said_scripts), len(c.gold_scripts))
        return total

    def score_rank_correlation(self) -> float | None:
        """Spearman's ρ of the call score with the gold violation count (good: strongly negative)."""
        calls = self.line_labelled
        return _round(metrics.spearman([c.score for c in calls], [len(c.gold_forbidden) for c in calls]))

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "calls": len(self.calls),
            "stages": {name: self.stage_figures(name) for name in self.segmenters()},
        }
        if self.line_labelled:
            result["forbidden"] = {
                **self.forbidden().to_dict(),
                **self.forbidden_intervals(),
                "near_misses_flagged": _round(self.near_miss_flag_rate()),
                "near_misses": sum(len(c.near_misses) for c in self.line_labelled),
                "per_category": {k: v.to_dict() for k, v in self.forbidden_by_category().items()},
            }
            result["recommended"] = self.recommended().to_dict()
            result["score_violation_spearman"] = self.score_rank_correlation()
        return result


@dataclass(frozen=True, slots=True)
class ScoredBy:
    """The models that scored the calls (without leave-one-group-out): the stage model, and whether it
    is the rubric's own or one given instead (`--stage-model`); each detector rule's model."""

    stage_model: str | None  # name created digest, e.g. callqa-stages 2026-12-04 d65369a2b540; None: cues
    stage_model_path: str | None
    stage_model_replaced: bool  # not the model the rubric names
    detectors: dict[str, str]  # detector rule id -> its model's name created digest

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage_model": self.stage_model,
            "stage_model_path": self.stage_model_path,
            "stage_model_replaced": self.stage_model_replaced,
            "detectors": self.detectors,
        }


def scored_by(compiled: CompiledRubric) -> ScoredBy:
    model = stage_model_for(compiled)
    own = CompiledRubric.resolve_stage_model(compiled.rubric.stage_model, Path(compiled.path).parent)
    return ScoredBy(
        stage_model=model_version(model.manifest, model.path) if model is not None else None,
        stage_model_path=model.path if model is not None else None,
        stage_model_replaced=compiled.stage_model_source != own,
        detectors={d.rule.id: model_version(d.model.manifest, d.model.path) for d in compiled.detectors},
    )


@dataclass(slots=True)
class Evaluation:
    groups: dict[str, Figures]
    leave_one_group_out: bool
    # group -> calls its models were trained on (LOGO), else {}: the other groups and --train-also
    # calls, plus the stage-only and detector-only ones (each of which trained one model)
    trained_on: dict[str, int]
    warnings: list[str] = field(default_factory=list)  # what makes a figure less than it says
    scored_by: ScoredBy | None = None  # the models that scored every call; None under leave-one-group-out

    @property
    def overall(self) -> Figures:
        return Figures([c for figures in self.groups.values() for c in figures.calls])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "callqa.eval/1",
            "leave_one_group_out": self.leave_one_group_out,
            "groups": {name: figures.to_dict() for name, figures in self.groups.items()},
            "overall": self.overall.to_dict(),
            "trained_on_calls": self.trained_on,
            "warnings": self.warnings,
            "scored_by": self.scored_by.to_dict() if self.scored_by is not None else None,
        }


def _interval(parts: Sequence[tuple[int, int]]) -> list[float] | None:
    found = metrics.ratio_interval(parts)
    return list(found) if found is not None else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def call_fingerprint(call: LabelledCall) -> str:
    """A call known by 16 hex digits of the SHA-256 of its utterances' words: a model's manifest lists
    those of its training calls, so that figures on them can be told in-sample, and holds no text."""
    text = "\n".join(u.text for u in call.transcript.utterances)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def in_sample_warnings(calls: Sequence[LabelledCall], compiled: CompiledRubric) -> list[str]:
    """A warning for each of the rubric's models that was trained on some of these calls."""
    models = [("stage model", stage_model_for(compiled))] + [("detector", d.model) for d in compiled.detectors]
    fingerprints = [call_fingerprint(c) for c in calls]
    warnings = []
    for what, model in models:
        known = set(model.manifest.get("trained_on", {}).get("fingerprints", ())) if model is not None else set()
        seen = sum(1 for f in fingerprints if f in known)
        if seen and model is not None:
            warnings.append(
                f"{seen} of {len(calls)} calls are in the training data of the {what} ({model.path}): its "
                "figures on them are in-sample, not a measure (--leave-one-group-out trains without them)"
            )
    return warnings


def training_calls(calls: Sequence[LabelledCall], compiled: CompiledRubric) -> list[TrainingCall]:
    return [TrainingCall(c.transcript.utterances, cue_stage_sets(c.transcript, compiled), c.stages) for c in calls]


def train_stages(
    calls: Sequence[LabelledCall], compiled: CompiledRubric, settings: dict[str, Any] | None = None
) -> StageModel:
    return train_stage_model(training_calls(calls, compiled), settings)


def detector_lines(calls: Sequence[LabelledCall]) -> list[TrainingLine]:
    """Every agent line of the calls whose gold labels lines, with its features and gold category."""
    lines = []
    for call in calls:
        if not call.has_line_labels:
            continue
        utterances = call.transcript.utterances
        context = call_context(utterances)
        for i, (utterance, label) in enumerate(zip(utterances, call.labels, strict=True)):
            if utterance.role == "agent":
                features = agent_line_features(utterances, i, context=context)
                lines.append(TrainingLine(features, label.forbidden, call.group))
    return lines


def train_forbidden(calls: Sequence[LabelledCall], settings: dict[str, Any] | None = None) -> ForbiddenModel:
    return train_detector(detector_lines(calls), settings)


def stage_shares(calls: Sequence[LabelledCall]) -> list[float]:
    """Each stage's share of all utterances: what the position-only split cuts by."""
    counts = [sum(label.stage == s for c in calls for label in c.labels) for s in STAGES]
    total = sum(counts) or 1
    return [n / total for n in counts]


def position_split(count: int, shares: Sequence[float]) -> tuple[str, ...]:
    """Stages by relative position alone: utterance i goes to the stage whose cumulative share covers it."""
    bounds, running = [], 0.0
    for share in shares:
        running += share
        bounds.append(running)
    return tuple(
        STAGES[next((k for k, b in enumerate(bounds) if (i + 0.5) / count <= b), len(STAGES) - 1)] for i in range(count)
    )


def _script_labels(compiled: CompiledRubric) -> dict[str, str]:
    return {script.id: script.label for script in compiled.scripts if script.label}


def score_call(
    call: LabelledCall,
    compiled: CompiledRubric,
    model: StageModel | str | None,
    shares: Sequence[float],
    baselines: bool,
) -> CallScore:
    report = score_transcript(call.transcript, compiled, model)
    predicted = {"model": report.utterance_stages}
    if baselines:
        predicted["cues"] = score_transcript(call.transcript, compiled, None).utterance_stages
        predicted["position"] = position_split(len(call.labels), shares)
    return _call_score(call, report, predicted, _script_labels(compiled))


def _call_score(
    call: LabelledCall, report: Report, predicted: dict[str, tuple[str, ...]], labels: dict[str, str]
) -> CallScore:
    utterances = report.utterances
    flagged: dict[int, str] = {}
    for f in report.findings:
        if f.utterance is not None and f.category in FLAGGING_CATEGORIES and (f.kind == "forbidden" or f.points < 0):
            flagged.setdefault(f.utterance, f.category)
    said = frozenset(
        labels[f.rule]
        for f in report.findings
        if f.kind == "recommended" and f.rule in labels and f.utterance is not None and f.matched
    )
    return CallScore(
        path=call.transcript.path,
        group=call.group,
        gold_stages=tuple(call.stages),
        predicted=predicted,
        has_line_labels=call.has_line_labels,
        agent_lines=tuple(i for i, u in enumerate(utterances) if u.role == "agent"),
        gold_forbidden={i: label.forbidden for i, label in enumerate(call.labels) if label.forbidden},
        near_misses=frozenset(i for i, label in enumerate(call.labels) if label.near_miss),
        flagged=flagged,
        gold_scripts=frozenset(label.recommended for label in call.labels if label.recommended),
        said_scripts=said,
        score=report.score,
    )


def evaluate(
    calls: Sequence[LabelledCall],
    compiled: CompiledRubric,
    *,
    leave_one_group_out: bool = False,
    train_also: Sequence[LabelledCall] = (),
    stage_train_also: Sequence[LabelledCall] = (),
    forbidden_train_also: Sequence[LabelledCall] = (),
    baselines: bool = False,
    stage_settings: dict[str, Any] | None = None,
    progress: Callable[[str], None] = lambda group: None,
) -> Evaluation:
    """Figures per group. Without `leave_one_group_out` the rubric's own models score every call.
    `train_also` calls train both models in every fold; `stage_train_also` calls the stage model only,
    `forbidden_train_also` calls the detector only."""
    groups: dict[str, list[LabelledCall]] = {}
    for call in calls:
        groups.setdefault(call.group, []).append(call)
    results: dict[str, Figures] = {}
    trained_on: dict[str, int] = {}
    warnings: list[str] = []
    for name, members in groups.items():
        progress(name)
        model: StageModel | str | None = RUBRIC_MODEL
        scorer = compiled
        training = [c for c in calls if c.group != name] + list(train_also)
        if leave_one_group_out:
            if not training and not stage_train_also:
                raise ValueError("leave-one-group-out needs at least two groups (or --train-also calls)")
            model = train_stages(training + list(stage_train_also), compiled, stage_settings)
            detector_training = training + list(forbidden_train_also)
            if compiled.detectors and any(c.has_line_labels for c in detector_training):
                scorer = compiled.with_detector_model(train_forbidden(detector_training))
            elif compiled.detectors and any(c.has_line_labels for c in members):
                warnings.append(
                    f"{name}: no training call labels its lines, so the rubric's own detector (which may "
                    "have been trained on these calls) scored it: its forbidden figures are not leave-one-group-out"
                )
            trained_on[name] = len(training) + len(stage_train_also) + len(forbidden_train_also)
        shares = stage_shares(training or calls)  # one group alone: the shares of all calls (in-sample)
        results[name] = Figures([score_call(c, scorer, model, shares, baselines) for c in members])
    if leave_one_group_out:
        return Evaluation(results, leave_one_group_out, trained_on, warnings)
    warnings += in_sample_warnings(calls, compiled)
    return Evaluation(results, leave_one_group_out, trained_on, warnings, scored_by(compiled))
