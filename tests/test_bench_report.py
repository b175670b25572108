"""The targets table of docs/PERFORMANCE.md: a run rewrites the rows it measured and keeps the others."""
from bench import report
from bench.report import Report, Target, merge_targets, parse_targets, replace_targets

DOC = """# Performance

{begin}
| what | target | figure | met? | date (UTC) | command |
| --- | --- | --- | --- | --- | --- |
| POST ÷ raw | ≤ 1.5 | 1.20 | met | 2026-12-01 10:00 | `python3 dev.py bench --parts post` |
| export rows/s ÷ pymongo | ≥ 0.5 | 0.96 | met | 2026-12-02 11:00 | `python3 dev.py bench` |
| pages, a \\| in a cell | ≤ 250 ms | 30 ms | met | 2026-12-03 12:00 | by hand |
{end}

Prose the run leaves alone.

## Latest benchmark run

{run_begin}
### Run of the old run
{run_end}
""".format(begin=report.TARGETS_BEGIN, end=report.TARGETS_END, run_begin=report.BEGIN, run_end=report.END)


def _row(what, figure, date="2026-12-07 23:00"):
    return Target(what, "t", figure, report.MET, date, "`cmd`")


def test_parse_reads_every_row_and_unescapes_pipes():
    rows = parse_targets(DOC)
    assert [row.what for row in rows] == ["POST ÷ raw", "export rows/s ÷ pymongo", "pages, a | in a cell"]
    assert rows[0] == Target("POST ÷ raw", "≤ 1.5", "1.20", "met", "2026-12-01 10:00",
                             "`python3 dev.py bench --parts post`")
    assert parse_targets("# no table here") == []


def test_merge_replaces_measured_rows_in_place_keeps_the_others_and_appends_new_ones():
    old = parse_targets(DOC)
    merged = merge_targets(old, [_row("new target", "1"), _row("POST ÷ raw", "1.05")])
    assert [row.what for row in merged] == ["POST ÷ raw", "export rows/s ÷ pymongo", "pages, a | in a cell",
                                            "new target"]
    assert merged[0].figure == "1.05" and merged[0].date == "2026-12-07 23:00"
    assert merged[1] == old[1] and merged[2] == old[2]      # not measured: own date and command kept


def test_a_row_measured_twice_in_one_run_keeps_the_last_figure():
    merged = merge_targets([], [_row("a", "1"), _row("b", "2"), _row("a", "3")])
    assert [(row.what, row.figure) for row in merged] == [("a", "3"), ("b", "2")]


def test_render_then_parse_round_trips():
    rows = parse_targets(DOC)
    again = parse_targets(replace_targets(DOC, rows))
    assert again == rows
    assert "a \\| in a cell" in replace_targets(DOC, rows)


def test_write_merges_targets_and_replaces_the_latest_run(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    path.write_text(DOC)
    run = Report("python3 dev.py bench --parts post")
    run.target("POST ÷ raw", "≤ 1.5", "1.61", False)
    run.target("throughput", "≥ 0.7", "0.6 at 100,000 only", None)
    run.note("a note of this run")
    run.write(60.0, path=path)
    text = path.read_text()
    rows = {row.what: row for row in parse_targets(text)}
    assert rows["POST ÷ raw"].figure == "1.61" and rows["POST ÷ raw"].met == report.NOT_MET
    assert rows["POST ÷ raw"].command == "`python3 dev.py bench --parts post`"
    assert rows["throughput"].met == report.UNMEASURED
    assert rows["export rows/s ÷ pymongo"].date == "2026-12-02 11:00"
    assert "Prose the run leaves alone." in text
    assert "a note of this run" in text and "### Run of the old run" not in text
    assert text.count(report.TARGETS_BEGIN) == 1 and text.count(report.BEGIN) == 1


def test_a_quick_run_records_no_targets(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    path.write_text(DOC)
    run = Report("python3 dev.py bench --quick", record_targets=False)
    run.target("POST ÷ raw", "≤ 1.5", "9.99", False)
    run.write(1.0, path=path)
    assert parse_targets(path.read_text()) == parse_targets(DOC)


def test_a_file_without_the_table_gets_it_under_its_title(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    path.write_text("# Performance\n\nIntro.\n")
    run = Report("python3 dev.py bench")
    run.target("a", "≤ 1", "0.5", True)
    run.write(1.0, path=path)
    text = path.read_text()
    assert text.index(report.TARGETS_BEGIN) < text.index("Intro.") < text.index(report.BEGIN)
    assert [row.what for row in parse_targets(text)] == ["a"]
