"""The results database: storing scored calls, looking back, review and appeal, and its faults. Every
test runs on SQLite and on a real PostgreSQL server (the `database_url` fixture)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from callqa.agreement import cohen_kappa
from callqa.cli.app import app
from callqa.store.database import HEAD, MIGRATIONS, REVISIONS, Store
from callqa.store.paths import meta_from_path, path_pattern
from callqa.store.tables import metadata

from conftest import CHROMIUM, SAMPLES, rendered_dom


def run(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def rows(url, sql, **params):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def history(url, *args):
    result = run("history", "--db", url, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["calls"]


def stored_call(url, call_id):
    result = run("review", call_id, "--db", url, "--list", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def calls(tmp_path):
    """Sample calls in team/agent folders, two dated by a header line."""
    root = tmp_path / "calls"
    for team, agent, picks in (("一组", "张三", SAMPLES[0:3]), ("二组", "李四", SAMPLES[3:6])):
        (root / team / agent).mkdir(parents=True)
        for sample in picks:
            shutil.copy(sample, root / team / agent / sample.name)
    dated = root / "一组" / "张三" / SAMPLES[2].name
    dated.write_text("# date: 2024-07-03\n" + dated.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def score_json(path):
    result = run("score", path, "--format", "json")
    return json.loads(result.stdout)


def test_score_stores_each_call_with_who_what_and_every_finding(database_url, calls):
    result = run("score", calls, "--db", database_url, "--path-pattern", "{team}/{agent}/*.txt", "--jobs", "1")
    assert result.exit_code in (0, 1), result.output
    stored = history(database_url)
    assert len(stored) == 6
    by_name = {Path(c["path"]).name: c for c in stored}
    first = by_name[SAMPLES[0].name]
    assert (first["agent"], first["team"]) == ("张三", "一组")
    assert by_name[SAMPLES[2].name]["call_date"] == "2024-07-03"  # the header's date
    assert by_name[SAMPLES[4].name]["agent"] == "李四"
    report = score_json(calls / "一组" / "张三" / SAMPLES[0].name)
    assert (first["score"], first["grade"], first["passed"]) == (report["score"], report["grade"], report["passed"])
    assert first["rubric"] == report["rubric"]["name"] and first["rubric_version"] == report["rubric"]["version"]
    assert set(first["models"]) == {"stages", "forbidden.model"}
    # Every call's own findings and stages under its own id (the calls of a batch go in as one INSERT).
    for call in stored:
        report = score_json(call["path"])
        detail = stored_call(database_url, call["id"])
        assert [(f["rule"], f["line"], f["points"]) for f in detail["findings"]] == [
            (f["rule"], f["line"], f["points"]) for f in report["findings"]
        ], call["path"]
        assert [(s["name"], s["score"]) for s in detail["stages"]] == [
            (s["name"], s["score"]) for s in report["stages"]
        ], call["path"]
    (sha,) = rows(database_url, "SELECT content_sha256 FROM calls WHERE id = :id", id=first["id"])[0]
    import hashlib

    assert sha == hashlib.sha256((calls / "一组" / "张三" / SAMPLES[0].name).read_bytes()).hexdigest()


def test_scoring_again_updates_the_row_and_another_rubric_adds_one(database_url, calls, rubric_file):
    path = calls / "一组" / "张三" / SAMPLES[0].name
    run("score", path, "--db", database_url, "--agent", "张三")
    run("score", path, "--db", database_url)
    [once] = history(database_url)
    assert once["agent"] == "张三"  # an earlier scoring's agent is kept when the new one gives none
    # The same rubric edited (a new version of it) updates the row too; a rubric of another name adds one.
    edited = rubric_file(f"extends: default\nname: {once['rubric']}\nversion: '{once['rubric_version']}.1'\n")
    run("score", path, "--db", database_url, "--rubric", edited)
    [again] = history(database_url)
    assert (again["id"], again["rubric_version"], again["call_date"]) == (
        once["id"],
        f"{once['rubric_version']}.1",
        None,
    )
    other = rubric_file("extends: default\nname: 另一套\n", name="other.yaml")
    run("score", path, "--db", database_url, "--rubric", other)
    assert sorted(c["rubric"] for c in history(database_url)) == sorted([once["rubric"], "另一套"])
    assert rows(database_url, "SELECT count(*) FROM findings WHERE call_id = :id", id=once["id"])[0][0] == len(
        score_json(path)["findings"]
    )


def _lost(detail):
    return next(f for f in detail["findings"] if f["points"] < 0)


def scored_without(report, decided, stage_floor=False):
    """What the scorer gives the report's call with some findings' points changed before caps
    (`decided`: position -> points; 0 drops a finding): its own caps, run again."""
    from callqa.scoring.pipeline import compile_rubric
    from callqa.scoring.score import Points, apply_caps, call_total, points_before_caps

    compiled = compile_rubric()
    items, fatal = [], False
    for position, f in enumerate(report["findings"]):
        points = decided.get(position, points_before_caps(f["kind"], f["severity"], f["nominal_points"]))
        items.append(Points(f["stage"], points, f["rule"], f["utterance"]))
        fatal |= f["severity"] == "fatal" and position not in decided
    _, totals = apply_caps(
        items, compiled.stage_bases, compiled.stage_maxima, compiled.rule_caps, stage_floor=stage_floor
    )
    return 0.0 if fatal else call_total(totals)


def review(url, call, finding, decision, *more):
    return run("review", call, "--db", url, "--finding", finding, "--decision", decision, *more)


def test_review_recomputes_the_score_as_the_scorer_would_and_keeps_the_original(database_url, calls):
    path = calls / "二组" / "李四" / SAMPLES[5].name  # 06_insurance_pressure: two violations, 51 points
    report = score_json(path)
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    detail = stored_call(database_url, call["id"])
    # Every finding confirmed: the score as scored, exactly.
    for f in detail["findings"]:
        assert review(database_url, call["id"], f["id"], "confirmed", "--reviewer", "王").exit_code == 0
    assert history(database_url)[0]["reviewed_score"] == call["score"]
    # Two deductions overturned: the score rises by what they cost.
    lost = [i for i, f in enumerate(detail["findings"]) if f["kind"] == "forbidden"][:2]
    for position in lost:
        result = review(database_url, call["id"], detail["findings"][position]["id"], "false-alarm",
                        "--comment", "客户先说的", "--reviewer", "王质检")  # fmt: skip
        assert result.exit_code == 0, result.output
    after = stored_call(database_url, call["id"])
    assert after["score"] == call["score"]  # the original is kept
    assert after["reviewed_score"] == scored_without(report, dict.fromkeys(lost, 0.0))
    assert after["reviewed_score"] > call["score"]
    review_record = after["findings"][lost[0]]["reviews"][-1]
    assert (review_record["reviewer"], review_record["decision"], review_record["comment"]) == (
        "王质检", "false_alarm", "客户先说的",
    )  # fmt: skip
    # Adjusting the first instead: it now costs 1 point.
    nominal = detail["findings"][lost[0]]["nominal_points"]
    assert review(database_url, call["id"], detail["findings"][lost[0]]["id"], "adjusted", "--points", "-1",
                  "--reviewer", "李组长").exit_code == 0  # fmt: skip
    adjusted = stored_call(database_url, call["id"])
    assert adjusted["reviewed_score"] == scored_without(report, {lost[0]: -1.0, lost[1]: 0.0})
    assert history(database_url)[0]["reviewed_score"] == adjusted["reviewed_score"]
    # Points must stay on the finding's side of zero and within its own.
    first = detail["findings"][lost[0]]["id"]
    for points in ("5", str(nominal - 1), "nan", "inf"):
        bad = review(database_url, call["id"], first, "adjusted", "--points", points, "--reviewer", "李")
        assert bad.exit_code == 2 and "--points" in bad.stderr and "Traceback" not in bad.output, points
    bad = review(database_url, call["id"], first, "adjusted", "--reviewer", "李组长")
    assert bad.exit_code == 2 and "points" in bad.stderr
    missing = review(database_url, call["id"], 99999, "confirmed")
    assert missing.exit_code == 2 and "99999" in missing.stderr and database_url not in missing.stderr


def test_a_fatal_finding_overturned_lets_the_call_pass_again():
    from callqa.store.records import ReviewRecord, ScoringRules, StoredFinding, StoredStage
    from callqa.store.review import recompute

    def finding(decision=None):
        reviews = (ReviewRecord(1, "王", decision, None, "", None),) if decision else ()
        return StoredFinding(1, "r", "forbidden", "强势", "fatal", "切入", "agent", 3, 3, "", None, "", None,
                             -10.0, -10.0, None, "rule", None, True, reviews)  # fmt: skip

    stages = [StoredStage("问候", 15.0, 15.0, 15.0), StoredStage("切入", 10.0, 20.0, 20.0)]
    rules = ScoringRules(20.0, (("良好", 20.0), ("不合格", 0.0)), {"问候": 15.0, "切入": 20.0}, {})
    standing = recompute(stages, [finding()], rules)
    assert (standing.score, standing.passed, standing.fatal) == (0.0, False, True)
    overturned = recompute(stages, [finding("false_alarm")], rules)
    assert (overturned.score, overturned.grade, overturned.passed) == (35.0, "良好", True)


def test_interactive_review_walks_the_findings_and_stops_on_q(database_url, calls):
    path = calls / "一组" / "张三" / SAMPLES[2].name
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    result = run("review", call["id"], "--db", database_url, "--reviewer", "王质检", input="f\n说明一\nc\n\nq\n")
    assert result.exit_code == 0, result.output
    assert "(1/" in result.stdout and "原话" in result.stdout
    first = result.stdout.split("(1/")[1].splitlines()[1]
    assert first.endswith(" 分") and " · -" in first, first  # deductions are asked about first
    decided = [f for f in stored_call(database_url, call["id"])["findings"] if f["reviews"]]
    assert [f["reviews"][0]["decision"] for f in decided] == ["false_alarm", "confirmed"]
    assert decided[0]["reviews"][0]["comment"] == "说明一"
    again = run("review", call["id"], "--db", database_url, "--reviewer", "王质检", input="q\n")
    assert "(1/" in again.stdout  # the rest are still to review
    assert all(f"[{f['id']}]" not in again.stdout for f in decided)


def test_interactive_review_asks_again_on_a_typo_or_points_out_of_range(database_url, calls):
    """A typo is not a skip and points beyond the rule's are asked for again, not lost after the comment."""
    path = calls / "一组" / "张三" / SAMPLES[2].name
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    answers = "x\nf\n\na\n-1000\n5000\n0\n改为不扣分\nq\n"
    result = run("review", call["id"], "--db", database_url, "--reviewer", "王质检", input=answers)
    assert result.exit_code == 0, result.output
    assert "请输入 c、f、a、s 或 q" in result.output and "分数须在" in result.output
    assert "--points" not in result.output
    decided = [f for f in stored_call(database_url, call["id"])["findings"] if f["reviews"]]
    assert [(f["reviews"][0]["decision"], f["reviews"][0]["comment"]) for f in decided] == [
        ("false_alarm", ""),
        ("adjusted", "改为不扣分"),
    ]
    assert decided[1]["reviews"][0]["points"] == 0


def test_a_call_stored_when_stages_had_a_floor_is_recomputed_by_that_arithmetic(database_url, calls):
    """Before deductions past a stage's 0 came off the total, a stage floor cut them; a call stored then
    (its rules without the `stage_floor` key) keeps its score when every finding is confirmed."""
    path = calls / "一组" / "张三" / SAMPLES[2].name  # 03_refund_bad: 0 now, more with stage floors
    report = score_json(path)
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    [(stored,)] = rows(database_url, "SELECT rules FROM calls WHERE id = :id", id=call["id"])
    old = {k: v for k, v in json.loads(stored).items() if k != "stage_floor"}
    floored = scored_without(report, {}, stage_floor=True)
    assert floored > call["score"] == scored_without(report, {})
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:  # as that callqa stored it: its rules, its score
        connection.execute(
            sa.text("UPDATE calls SET rules = :rules, score = :score WHERE id = :id"),
            {"rules": json.dumps(old), "score": floored, "id": call["id"]},
        )
    engine.dispose()
    for f in stored_call(database_url, call["id"])["findings"]:
        assert review(database_url, call["id"], f["id"], "confirmed", "--reviewer", "王").exit_code == 0
    assert history(database_url)[0]["reviewed_score"] == floored


def test_an_appeal_is_stored_resolved_by_a_reviewer_and_changes_the_score(database_url, calls):
    path = calls / "二组" / "李四" / SAMPLES[5].name
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    finding = _lost(stored_call(database_url, call["id"]))
    filed = run("appeal", "file", finding["id"], "--reason", "我说的是事实", "--agent", "张三", "--db", database_url)
    assert filed.exit_code == 0, filed.output
    listed = json.loads(run("appeal", "list", "--db", database_url, "--format", "json").stdout)["appeals"]
    assert [(a["finding"], a["reason"], a["status"]) for a in listed] == [(finding["id"], "我说的是事实", "open")]
    resolved = run(
        "appeal",
        "resolve",
        listed[0]["id"],
        "--decision",
        "upheld",
        "--comment",
        "同意",
        "--reviewer",
        "李组长",
        "--db",
        database_url,
    )
    assert resolved.exit_code == 0, resolved.output
    after = stored_call(database_url, call["id"])
    judged = next(f for f in after["findings"] if f["id"] == finding["id"])
    assert judged["decided_points"] == 0 and judged["appeals"][0]["status"] == "upheld"
    assert judged["reviews"][0]["appeal"] == listed[0]["id"]
    assert after["reviewed_score"] > after["score"]
    assert json.loads(run("appeal", "list", "--db", database_url, "--format", "json").stdout)["appeals"] == []
    twice = run("appeal", "resolve", listed[0]["id"], "--decision", "rejected", "--reviewer", "x", "--db", database_url)
    assert twice.exit_code == 2 and "already resolved" in twice.stderr
    empty = run("appeal", "file", finding["id"], "--reason", " ", "--db", database_url)
    assert empty.exit_code == 2 and "reason" in empty.stderr


def test_rescoring_a_reviewed_call_keeps_its_reviews(database_url, calls):
    path = calls / "一组" / "张三" / SAMPLES[2].name
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    finding = _lost(stored_call(database_url, call["id"]))
    review(database_url, call["id"], finding["id"], "false-alarm", "--reviewer", "王")
    reviewed = history(database_url)[0]["reviewed_score"]
    run("score", path, "--db", database_url)
    [again] = history(database_url)
    assert again["id"] == call["id"] and again["reviewed_score"] == reviewed
    kept = next(f for f in stored_call(database_url, call["id"])["findings"] if f["id"] == finding["id"])
    assert kept["reviews"] and kept["active"]


def test_rescoring_a_folder_keeps_each_calls_findings_and_reviews_apart(database_url, calls):
    """A folder scored again is stored as one batch of updates: each call keeps its own row, stages and
    findings (ids too, so reviews stay put), none duplicated, and only the reviewed call keeps a
    reviewed score."""
    assert run("score", calls, "--db", database_url, "--format", "csv").exit_code in (0, 1)
    first = {c["id"]: stored_call(database_url, c["id"]) for c in history(database_url)}
    reviewed_id, detail = next((i, d) for i, d in first.items() if any(f["points"] < 0 for f in d["findings"]))
    finding = _lost(detail)
    assert review(database_url, reviewed_id, finding["id"], "false-alarm", "--reviewer", "王").exit_code == 0
    reviewed_score = next(c for c in history(database_url) if c["id"] == reviewed_id)["reviewed_score"]
    assert reviewed_score is not None

    assert run("score", calls, "--db", database_url, "--format", "csv").exit_code in (0, 1)
    again = {c["id"]: c for c in history(database_url)}
    assert set(again) == set(first)
    for call_id, before in first.items():
        after = stored_call(database_url, call_id)
        assert [f["id"] for f in after["findings"]] == [f["id"] for f in before["findings"]]
        assert [(s["name"], s["score"]) for s in after["stages"]] == [(s["name"], s["score"]) for s in before["stages"]]
        expected = reviewed_score if call_id == reviewed_id else None
        assert again[call_id]["reviewed_score"] == expected
    kept = next(f for f in stored_call(database_url, reviewed_id)["findings"] if f["id"] == finding["id"])
    assert kept["reviews"] and kept["active"]
    total = sum(len(d["findings"]) for d in first.values())
    assert rows(database_url, "SELECT count(*) FROM findings")[0][0] == total


def test_history_filters_and_machine_formats(database_url, calls):
    run("score", calls, "--db", database_url, "--path-pattern", "{team}/{agent}/*", "--jobs", "1")
    everything = history(database_url)
    assert {c["agent"] for c in history(database_url, "--agent", "李四")} == {"李四"}
    assert {c["team"] for c in history(database_url, "--team", "一组")} == {"一组"}
    assert [c["call_date"] for c in history(database_url, "--until", "2024-12-31")] == ["2024-07-03"]
    assert len(history(database_url, "--since", "2025-01-01")) == 5
    failing = history(database_url, "--grade", "不合格")
    assert failing and {c["grade"] for c in failing} == {"不合格"}
    rule = "forbidden.cold"
    with_rule = {c["id"] for c in history(database_url, "--rule", rule)}
    assert with_rule == {
        c["id"] for c in everything if any(f["rule"] == rule for f in stored_call(database_url, c["id"])["findings"])
    }
    csv_text = run("history", "--db", database_url, "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("id,path,agent,team,call_date") and len(csv_text.splitlines()) == 7
    table = run("history", "--db", database_url, "--format", "text").stdout
    assert "张三" in table and "编号" in table
    bad = run("history", "--db", database_url, "--since", "yesterday")
    assert bad.exit_code == 2 and "2024-07-03" in bad.output


def _dated_calls(root, weeks):
    """One call per (agent, week), each dated by its header, the later weeks' calls worse."""
    text = SAMPLES[0].read_text(encoding="utf-8")
    bad = SAMPLES[2].read_text(encoding="utf-8")
    for agent in ("张三", "李四"):
        for week in range(weeks):
            day = f"2024-07-{1 + 7 * week:02d}"
            body = text if week == 0 or agent == "张三" else bad
            (root / agent).mkdir(parents=True, exist_ok=True)
            (root / agent / f"{day}.txt").write_text(f"# agent: {agent}\n# date: {day}\n{body}", encoding="utf-8")


def test_trends_per_agent_and_week_with_sparklines(database_url, tmp_path):
    _dated_calls(tmp_path / "c", 3)
    run("score", tmp_path / "c", "--db", database_url, "--jobs", "1")
    found = json.loads(run("trends", "--by", "agent", "--period", "week", "--db", database_url, "-f", "json").stdout)
    series = {t["key"]: t for t in found["trends"]}
    assert set(series) == {"张三", "李四"}
    assert [p["start"] for p in series["李四"]["periods"]] == ["2024-07-01", "2024-07-08", "2024-07-15"]
    li = [p["mean"] for p in series["李四"]["periods"]]
    assert li[0] > li[1] == li[2]  # worse calls from the second week
    monthly = json.loads(run("trends", "--period", "month", "--db", database_url, "-f", "json").stdout)["trends"]
    assert [len(t["periods"]) for t in monthly] == [1, 1]
    table = run("trends", "--db", database_url, "-f", "text").stdout
    line = next(row for row in table.splitlines() if row.startswith("李四"))
    assert any(c in line for c in "▁▂▃▄▅▆▇█")
    by_rule = json.loads(run("trends", "--by", "rule", "--db", database_url, "-f", "json").stdout)["trends"]
    assert by_rule and all(0 < p["mean"] <= 1 for t in by_rule for p in t["periods"])


def test_trends_by_rule_count_the_trained_detector_per_category(database_url, calls):
    """forbidden.model flags six categories, each with its own threshold: a trend per category, as
    `rules precision` gives them, not one that mixes them."""
    run("score", calls, "--db", database_url)
    by_rule = json.loads(run("trends", "--by", "rule", "--db", database_url, "-f", "json").stdout)["trends"]
    keys = {t["key"] for t in by_rule}
    flagged = {
        f["category"]
        for c in history(database_url)
        for f in stored_call(database_url, c["id"])["findings"]
        if f["source"] == "model" and f["points"] < 0
    }
    assert flagged, "the sample calls have model findings"
    assert {k for k in keys if k.startswith("forbidden.model")} == {f"forbidden.model {c}" for c in flagged}


def test_trends_html_renders_in_a_real_browser(database_url, tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    _dated_calls(tmp_path / "c", 3)
    run("score", tmp_path / "c", "--db", database_url, "--jobs", "1")
    page = tmp_path / "trends.html"
    result = run("trends", "--db", database_url, "--out", page)
    assert result.exit_code == 0, result.output
    dom, log = rendered_dom(page)
    assert 'data-ready="yes"' in dom
    assert "Uncaught" not in log and "CONSOLE" not in log, log
    assert dom.count('class="trend"') == 2 and dom.count("<circle") == 6  # two agents, three weeks each
    assert "质检趋势" in dom


def test_rule_precision_counts_reviews_and_reviewer_agreement(database_url, calls):
    run("score", calls, "--db", database_url, "--jobs", "1")
    lost = [
        (c["id"], f)
        for c in history(database_url)
        for f in stored_call(database_url, c["id"])["findings"]
        if f["nominal_points"] < 0 or f["kind"] == "forbidden"  # even where the caps left it nothing
    ]
    assert len(lost) >= 4
    # Two reviewers judge the same four findings and disagree on the last.
    for reviewer, decisions in (
        ("王", ["confirmed", "false-alarm", "confirmed", "confirmed"]),
        ("李", ["confirmed", "false-alarm", "confirmed", "false-alarm"]),
    ):
        for (call, finding), decision in zip(lost[:4], decisions, strict=True):
            result = run(
                "review",
                call,
                "--db",
                database_url,
                "--finding",
                finding["id"],
                "--decision",
                decision,
                "--reviewer",
                reviewer,
            )
            assert result.exit_code == 0, result.output
    report = json.loads(run("rules", "precision", "--db", database_url, "-f", "json").stdout)
    reviewed = sum(r["reviewed"] for r in report["rules"])
    assert reviewed == 4  # the latest decision per finding counts, once
    assert sum(r["unreviewed"] for r in report["rules"]) == len(lost) - 4
    assert sum(r["false_alarms"] for r in report["rules"]) == 2  # 李's decisions came last
    for rule in report["rules"]:
        if rule["reviewed"]:
            low, high = rule["interval_95"]
            assert low <= rule["precision"] <= high
    [pair] = report["agreement"]
    assert (pair["findings"], pair["agreed"]) == (4, 3)
    # κ by hand: observed 3/4; 王 says confirmed 3/4, 李 2/4 → expected 3/4·2/4 + 1/4·2/4 = 1/2.
    assert pair["kappa"] == pytest.approx((0.75 - 0.5) / (1 - 0.5))
    text = run("rules", "precision", "--db", database_url, "-f", "text").stdout
    assert "精确率" in text and "κ" in text


def test_rule_precision_gives_the_trained_detector_one_row_per_category(database_url, calls):
    import csv
    import io

    run("score", calls, "--db", database_url, "--jobs", "1")
    model = defaultdict(list)  # category -> (call, finding id) of forbidden.model's findings
    for call in history(database_url):
        for finding in stored_call(database_url, call["id"])["findings"]:
            if finding["rule"] == "forbidden.model":
                model[finding["category"]].append((call["id"], finding["id"]))
    assert len(model) >= 2, model  # 02_ringtone (推诿, 否定) and 05_express (含糊) in the samples
    # The category with the most findings all upheld, one of each other category's a false alarm:
    # pooled under one category, they would read as one figure between the two.
    first = max(model, key=lambda c: (len(model[c]), c))
    others = sorted(set(model) - {first})
    expected = {}
    for category in model:
        judged = model[category] if category == first else model[category][:1]
        decision = "confirmed" if category == first else "false-alarm"
        for call, finding in judged:
            assert review(database_url, call, finding, decision, "--reviewer", "王").exit_code == 0
        upheld = len(judged) if category == first else 0
        expected[category] = [len(judged), upheld, len(judged) - upheld, len(model[category]) - len(judged)]
    report = json.loads(run("rules", "precision", "--db", database_url, "-f", "json").stdout)
    counts = ("reviewed", "confirmed", "false_alarms", "unreviewed")
    found = {r["category"]: [r[c] for c in counts] for r in report["rules"] if r["rule"] == "forbidden.model"}
    assert found == expected
    by_rule = [r["rule"] for r in report["rules"] if r["rule"] != "forbidden.model"]
    assert len(by_rule) == len(set(by_rule))  # a rule of one category stays one row
    assert {r["category"]: r["precision"] for r in report["rules"] if r["rule"] == "forbidden.model"} == {
        first: 1.0,
        **dict.fromkeys(others, 0.0),
    }
    table = run("rules", "precision", "--db", database_url, "-f", "csv").stdout
    rows_ = [r for r in csv.DictReader(io.StringIO(table)) if r["rule"] == "forbidden.model"]
    assert {r["category"]: [int(r[c]) for c in counts] for r in rows_} == expected
    text = run("rules", "precision", "--db", database_url, "-f", "text").stdout
    assert all(any("forbidden.model" in line and c in line for line in text.splitlines()) for c in model)
    needed = max(e[0] for e in expected.values())  # --min-reviews counts each category's own reviews
    shown = json.loads(run("rules", "precision", "--db", database_url, "-f", "json", "--min-reviews", needed).stdout)
    assert {r["category"] for r in shown["rules"] if r["rule"] == "forbidden.model"} == {
        c for c, e in expected.items() if e[0] >= needed
    }


def test_a_batch_with_two_jobs_stores_every_call_once(database_url, calls):
    result = run("score", calls, "--db", database_url, "--jobs", "2", "-f", "jsonl")
    scored = {json.loads(line)["transcript"]["path"]: json.loads(line)["score"] for line in result.stdout.splitlines()}
    stored = {c["path"]: c["score"] for c in history(database_url)}
    assert stored == {str(Path(p).resolve()): s for p, s in scored.items()}


# --- faults ---------------------------------------------------------------------------------------


def test_a_corrupt_sqlite_file_is_one_line_and_the_score_still_prints(tmp_path):
    corrupt = tmp_path / "scores.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    result = run("score", SAMPLES[0], "--db", corrupt, "--format", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["score"] > 0  # the score is not lost
    [line] = result.stderr.splitlines()
    assert str(corrupt) in line and "not a callqa database" in line
    assert run("history", "--db", corrupt).exit_code == 2


def test_a_read_only_database_is_one_line_and_the_scores_still_print(database_url, calls):
    run("db", "upgrade", "--db", database_url)
    if database_url.startswith("sqlite"):
        read_only = "sqlite:///file:" + database_url.removeprefix("sqlite:///") + "?mode=ro&uri=true"
    else:
        read_only = database_url + "?options=-c%20default_transaction_read_only%3Don"
    result = run("score", calls, "--db", read_only, "--format", "csv", "--jobs", "1")
    assert result.exit_code == 2
    assert len(result.stdout.splitlines()) == 7  # header + six calls
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        next(line for line in result.stderr.splitlines() if "read-only" in line)
    ]
    assert history(database_url) == []


def test_an_unreachable_server_is_one_line_and_the_score_still_prints():
    result = run("score", SAMPLES[0], "--db", "postgresql+psycopg://nobody@127.0.0.1:9/none", "-f", "json")
    assert result.exit_code == 2 and json.loads(result.stdout)["score"] > 0
    [line] = result.stderr.splitlines()
    assert "127.0.0.1:9" in line and "cannot open" in line


def test_a_newer_schema_is_refused_and_an_older_one_needs_upgrade(database_url):
    run("db", "upgrade", "--db", database_url)
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    newer = run("score", SAMPLES[0], "--db", database_url, "-f", "json")
    assert newer.exit_code == 2 and json.loads(newer.stdout)["score"] > 0
    assert "newer than this callqa" in newer.stderr and len(newer.stderr.splitlines()) == 1
    status = run("db", "status", "--db", database_url)
    assert status.exit_code == 1 and "0099" in status.stdout


def test_another_applications_database_is_refused_by_every_command_and_left_as_it_was(database_url):
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:  # another application's tables and rows, no callqa revision
        connection.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        connection.execute(sa.text("INSERT INTO notes (id, body) VALUES (1, '别人的数据')"))
    engine.dispose()
    sqlite_file = Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite") else None
    before = sqlite_file.read_bytes() if sqlite_file else None
    for command in (
        ["db", "status"],
        ["db", "upgrade"],
        ["history"],
        ["rules", "precision"],
        ["score", SAMPLES[0], "-f", "json"],
    ):
        result = run(*command, "--db", database_url)
        assert result.exit_code == 2, (command, result.output)
        [line] = result.stderr.splitlines()
        assert "not a callqa database" in line and "internal error" not in line, (command, line)
        assert "callqa db upgrade" not in result.output, command  # upgrading would write into it
    assert json.loads(result.stdout)["score"] > 0  # score still prints the score
    assert rows(database_url, "SELECT * FROM notes") == [(1, "别人的数据")]
    engine = sa.create_engine(database_url)
    assert sa.inspect(engine).get_table_names() == ["notes"]  # none of callqa's tables were written
    engine.dispose()
    if sqlite_file:
        assert sqlite_file.read_bytes() == before


def _at_revision(url, revision):
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def test_upgrade_from_the_previous_schema_keeps_the_stored_calls(database_url):
    _at_revision(database_url, REVISIONS[-2])
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:  # a call stored by the callqa of the previous schema
        connection.execute(
            sa.text(
                "INSERT INTO calls (path, content_sha256, agent, team, call_date, day, scored_at, rubric_name, "
                "rubric_version, rubric_sha256, models, callqa_version, score, max_score, grade, passed, fatal, "
                "rules) VALUES ('/old/call.txt', 'abc', '张三', NULL, '2024-07-03', '2024-07-03', "
                "'2024-07-03 10:00:00', 'default', '1', 'def', '{}', '0.0.9', 95, 100, '优秀', true, false, "
                '\'{"pass_mark": 60, "grades": [["优秀", 90], ["合格", 60], ["不合格", 0]], "caps": {}}\')'
            )
        )
        call_id = connection.execute(sa.text("SELECT id FROM calls")).scalar_one()
        for position, (stage, score, top) in enumerate(
            [("问候", 15, 15), ("切入", 15, 20), ("转化", 25, 25), ("协议", 20, 20), ("结束", 20, 20)]
        ):  # its score of 95: every stage's base, less the one finding's 5 points
            connection.execute(
                sa.text("INSERT INTO call_stages VALUES (:id, :stage, :position, :score, :top, :top)"),
                {"id": call_id, "stage": stage, "position": position, "score": score, "top": top},
            )
        connection.execute(
            sa.text(
                "INSERT INTO findings (call_id, position, rule, kind, category, severity, stage, role, utterance, "
                "line, matched, said, message, suggestion, points, nominal_points, max_deduct, source, confidence, "
                "active) VALUES (:id, 0, 'forbidden.cold', 'forbidden', '冷漠', 'major', '切入', 'agent', 2, 3, "
                "'不知道', '不知道', '冷漠', NULL, -5, -5, NULL, 'rule', NULL, true)"
            ),
            {"id": call_id},
        )
    engine.dispose()
    stale = run("history", "--db", database_url)
    assert stale.exit_code == 2 and "callqa db upgrade" in stale.stderr
    upgraded = run("db", "upgrade", "--db", database_url)
    assert upgraded.exit_code == 0 and f"to revision {HEAD}" in upgraded.stderr
    [old] = history(database_url)
    assert (old["path"], old["agent"], old["score"], old["reviewed_score"]) == ("/old/call.txt", "张三", 95, None)
    assert rows(database_url, "SELECT count(*) FROM findings")[0][0] == 1  # the upgrade kept the call's rows
    assert rows(database_url, "SELECT count(*) FROM call_stages")[0][0] == 5
    finding = stored_call(database_url, old["id"])["findings"][0]
    review(database_url, old["id"], finding["id"], "false-alarm", "--reviewer", "王")
    assert history(database_url)[0]["reviewed_score"] == 100


def test_the_migrations_make_exactly_the_tables_callqa_uses(database_url):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert [r.revision for r in reversed(list(script.walk_revisions()))] == list(REVISIONS)
    Store(database_url, create=True).close()  # an empty database is created at the head revision
    engine = sa.create_engine(database_url)
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys()), table.name
    engine.dispose()


def test_path_patterns():
    pattern = path_pattern("{team}/{agent}/{date}_*.txt")
    found = meta_from_path("/data/calls/一组/张三/20240703_0915.txt", pattern)
    assert (found.team, found.agent, str(found.call_date)) == ("一组", "张三", "2024-07-03")
    assert meta_from_path("张三/20240703_0915.txt", pattern) is None  # no team folder: no match
    assert meta_from_path("x/y/2024-13-45_a.txt", pattern).call_date is None  # no such day
    assert meta_from_path("/calls/abc.txt", path_pattern("{agent}*.txt")).agent == "abc"  # fields take what they can
    assert meta_from_path("/srv/calls/张三/a.txt", path_pattern("/srv/calls/{agent}/*.txt")).agent == "张三"
    assert meta_from_path("/other/srv/calls/张三/a.txt", path_pattern("/srv/calls/{agent}/*.txt")) is None
    with pytest.raises(ValueError, match="unknown field"):
        path_pattern("{name}.txt")
    result = run("score", SAMPLES[0], "--agent", "张三")
    assert result.exit_code == 2 and "--db" in result.stderr


def test_kappa_is_undefined_when_nobody_varies():
    assert cohen_kappa([("confirmed", "confirmed")] * 3) is None
    assert cohen_kappa([("confirmed", "false_alarm"), ("false_alarm", "confirmed")]) == pytest.approx(-1.0)


def test_ctrl_c_in_a_batch_leaves_only_whole_calls_stored(database_url, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    texts = [p.read_text(encoding="utf-8") for p in SAMPLES]
    for i in range(3000):
        # Each file its own transcript: two files of the same bytes are one call to the store.
        (folder / f"call_{i:05d}.txt").write_text(f"# call {i}\n" + texts[i % len(texts)], encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "callqa", "score", str(folder), "--jobs", "2", "--db", database_url, "-f", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed = 0
    while printed < 300:  # scored calls stream out as they finish: interrupt a few hundred in
        if not process.stdout.readline():
            break
        printed += 1
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    # Go on reading the same text stream: communicate() would read the pipe underneath it, losing what
    # readline() had buffered (a character cut at a buffer's edge then fails to decode).
    rest, stderr = process.stdout.read(), process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 130, stderr
    assert time.monotonic() - sent < 20 and "Traceback" not in stderr
    printed += len(rest.splitlines())
    stored = rows(database_url, "SELECT id, path FROM calls")
    assert 0 < len(stored) < 3000
    assert len(stored) == printed  # every call printed is stored, and only those
    expected = {p.read_text(encoding="utf-8"): len(score_json(p)["findings"]) for p in SAMPLES}
    counts = dict(rows(database_url, "SELECT call_id, count(*) FROM findings GROUP BY call_id"))
    stages = dict(rows(database_url, "SELECT call_id, count(*) FROM call_stages GROUP BY call_id"))
    for call_id, path in stored:
        body = Path(path).read_text(encoding="utf-8").split("\n", 1)[1]
        assert counts.get(call_id, 0) == expected[body] and stages[call_id] == 5, path


def test_two_copies_of_one_transcript_in_a_batch_are_one_stored_call(database_url, tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / "c").mkdir(exist_ok=True)
        shutil.copy(SAMPLES[2], tmp_path / "c" / name)
    result = run("score", tmp_path / "c", "--db", database_url, "--jobs", "1", "-f", "csv")
    assert result.exit_code == 1, result.output  # 03_refund_bad fails; nothing about the database went wrong
    [call] = history(database_url)
    assert len(stored_call(database_url, call["id"])["findings"]) == len(score_json(SAMPLES[2])["findings"])


def test_a_batch_of_copies_says_how_many_calls_it_stored_not_how_many_files(database_url, tmp_path):
    import callqa

    folder = tmp_path / "copies"
    folder.mkdir()
    for i in range(60):  # 60 files, copies of 9 transcripts
        shutil.copy(SAMPLES[i % 9], folder / f"c{i:02d}.txt")
    result = run("score", folder, "--db", database_url, "--jobs", "1", "-f", "csv")
    assert result.exit_code == 1, result.output  # some samples fail; nothing about the database went wrong
    assert rows(database_url, "SELECT count(*) FROM calls")[0][0] == 9
    [said] = [line for line in result.stderr.splitlines() if "stored" in line]
    assert said == f"callqa: stored 9 calls (60 scorings) in {database_url}"
    # Copies that fall in different transactions (batches of 7 here, of 500 or 2 s in a run) are one call too.
    compiled = callqa.load_rubric()
    recorder = callqa.CallRecorder(compiled)
    store = callqa.open_store(database_url)
    writer = callqa.BatchWriter(store, size=7)
    for path in sorted(folder.iterdir()):
        writer.add(recorder.scored(json.loads(callqa.score_file(path, compiled).to_json(indent=None)), path))
    writer.flush()
    store.close()
    assert (writer.stored, writer.scorings, writer.error) == (9, 60, None)
    one = run("score", SAMPLES[0], "--db", database_url, "-f", "json")  # one file: no word about storing, as before
    assert one.exit_code == 0 and "stored" not in one.stderr


def test_batches_storing_the_same_calls_at_once_store_each_once(database_url, tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "same"
    folder.mkdir()
    for i in range(60):
        (folder / f"c{i:02d}.txt").write_text(f"# call {i}\n" + SAMPLES[i % 10].read_text(encoding="utf-8"), "utf-8")
    # Three at once on an empty database: its schema is made once, each call stored once.
    command = [sys.executable, "-m", "callqa", "score", str(folder), "--jobs", "1", "--db", database_url, "-f", "csv"]
    both = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in "abc"]
    for process in both:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 1 and "error" not in stderr, stderr  # some samples fail; none errs
    assert rows(database_url, "SELECT count(*) FROM calls")[0][0] == 60
    assert rows(database_url, "SELECT count(*) FROM call_stages")[0][0] == 60 * 5


def test_odd_database_values_are_one_line_and_create_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    for value, words in (
        ("", "needs a database"),
        ("adir", "is a folder"),
        ("sqlite://", "in-memory"),
        ("postgresql+psycopg://bob@127.0.0.1:abc/db", "not a database URL"),
        ("nosuch/x.db", "no such folder"),
    ):
        result = run("score", SAMPLES[0], "--db", value, "-f", "json")
        assert result.exit_code == 2 and json.loads(result.stdout)["score"] > 0, value
        [line] = result.stderr.splitlines()
        assert words in line and "internal error" not in line, (value, line)
    looked = run("history", "--db", "typo.db")
    assert looked.exit_code == 2 and "no such database file" in looked.stderr
    assert not (tmp_path / "typo.db").exists()  # a command that only reads never makes a database
    secret = run("score", SAMPLES[0], "--db", "postgresql+psycopg://bob@127.0.0.1:9/db?password=s3cret", "-f", "json")
    assert secret.exit_code == 2 and "s3cret" not in secret.stderr and "***" in secret.stderr


def test_who_when_and_appeals_as_a_team_expects(database_url, tmp_path):
    from datetime import datetime

    long_name = "张" * 300
    path = tmp_path / "call.txt"
    path.write_text(f"# agent: {long_name}\n" + SAMPLES[2].read_text(encoding="utf-8"), encoding="utf-8")
    assert run("score", path, "--db", database_url).exit_code == 1  # stored (it fails its pass mark)
    [call] = history(database_url)
    assert call["agent"] == long_name and call["call_date"] is None
    assert call["day"] == datetime.now().astimezone().date().isoformat()  # undated: the local day it was scored
    finding = _lost(stored_call(database_url, call["id"]))
    assert run("appeal", "file", finding["id"], "--reason", "理由", "--db", database_url).exit_code == 0
    [appeal] = json.loads(run("appeal", "list", "--db", database_url, "-f", "json").stdout)["appeals"]
    assert appeal["agent"] == long_name  # the call's agent, when the appeal names nobody
    again = run("appeal", "file", finding["id"], "--reason", "再说一次", "--db", database_url)
    assert again.exit_code == 2 and "already has an open appeal" in again.stderr
    for reference in ("٣", "99999999999999999999999"):
        missing = run("review", reference, "--list", "--db", database_url)
        assert missing.exit_code == 2 and "no stored call" in missing.stderr and "internal" not in missing.stderr
    backwards = run("history", "--db", database_url, "--since", "2024-08-01", "--until", "2024-07-01")
    assert backwards.exit_code == 2 and "--until" in backwards.output
    as_csv = tmp_path / "trends.csv"
    assert run("trends", "--db", database_url, "--out", as_csv).exit_code == 0
    assert as_csv.read_text(encoding="utf-8").startswith("key,period,calls,mean,passed")
    nowhere = run("trends", "--db", database_url, "--out", tmp_path / "no" / "t.html")
    assert nowhere.exit_code == 2 and "cannot write" in nowhere.stderr


def test_a_changed_rubric_does_not_carry_reviews_to_findings_it_scores_otherwise(database_url, calls, rubric_file):
    """Rescoring under the same rubric name after the rubric changed: a finding whose points changed is
    a new finding; the old one keeps its reviews, inactive, and its open appeal closes as obsolete."""
    path = calls / "一组" / "张三" / SAMPLES[2].name
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    finding = next(f for f in stored_call(database_url, call["id"])["findings"] if f["rule"] == "forbidden.cold")
    assert (
        review(database_url, call["id"], finding["id"], "adjusted", "--points", "-8", "--reviewer", "王").exit_code == 0
    )
    forbidden = [f for f in stored_call(database_url, call["id"])["findings"] if f["kind"] == "forbidden"]
    other = next(f for f in forbidden if f["rule"] != finding["rule"])
    assert run("appeal", "file", other["id"], "--reason", "理由", "--db", database_url).exit_code == 0
    softer = rubric_file(
        "extends: default\nname: default\nversion: '2'\nforbidden:\n  - {id: forbidden.cold, deduct: 4}\n"
        f"  - {{id: {other['rule']}, enabled: false}}\n"
    )
    assert run("score", path, "--db", database_url, "--rubric", softer).exit_code in (0, 1)
    after = stored_call(database_url, call["id"])
    old = next(f for f in after["findings"] if f["id"] == finding["id"])
    assert not old["active"] and old["reviews"]  # kept for its review, out of the score
    new = [f for f in after["findings"] if f["rule"] == "forbidden.cold" and f["active"]]
    assert new and all(not f["reviews"] and f["nominal_points"] == -4 for f in new)
    assert after["reviewed_score"] == scored_without_rubric(path, softer)  # nothing reviewed still applies
    [appeal] = json.loads(run("appeal", "list", "--status", "all", "--db", database_url, "-f", "json").stdout)[
        "appeals"
    ]
    assert appeal["status"] == "obsolete"


def scored_without_rubric(path, rubric):
    result = run("score", path, "--rubric", rubric, "-f", "json")
    return json.loads(result.stdout)["score"]


def test_looking_back_does_not_wait_for_a_batch_that_is_writing(tmp_path):
    import sqlite3
    import time

    database = tmp_path / "scores.db"
    run("score", SAMPLES[0], "--db", database)
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a batch in the middle of its transaction holds the write lock
    writer.execute("UPDATE calls SET agent = '张三'")
    try:
        started = time.monotonic()
        result = run("history", "--db", database, "-f", "json")
        assert result.exit_code == 0, result.output
        assert time.monotonic() - started < 10  # not the 30 s a writer waits for the lock
        assert [c["agent"] for c in json.loads(result.stdout)["calls"]] == [None]  # the batch's change is not seen
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_review_list_as_csv_is_a_row_per_finding_with_its_decision(database_url, calls):
    path = calls / "一组" / "张三" / SAMPLES[2].name
    run("score", path, "--db", database_url)
    [call] = history(database_url)
    detail = stored_call(database_url, call["id"])
    finding = _lost(detail)
    review(database_url, call["id"], finding["id"], "false-alarm", "--reviewer", "王")
    result = run("review", call["id"], "--db", database_url, "--list", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["id"]) for r in rows] == [f["id"] for f in detail["findings"]]
    assert {r["call"] for r in rows} == {str(call["id"])}
    assert {r["id"]: r["decision"] for r in rows if r["decision"]} == {str(finding["id"]): "false_alarm"}


def test_the_same_call_in_another_encoding_or_with_windows_line_ends_is_one_stored_call(database_url, tmp_path):
    text = SAMPLES[0].read_text(encoding="utf-8")
    folder = tmp_path / "copies"
    folder.mkdir()
    (folder / "lf.txt").write_text(text, encoding="utf-8")
    (folder / "crlf.txt").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    (folder / "gb.txt").write_bytes(text.encode("gb18030"))
    (folder / "bom.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert run("score", folder, "--db", database_url, "--format", "csv").exit_code in (0, 1)
    assert len(history(database_url)) == 1
