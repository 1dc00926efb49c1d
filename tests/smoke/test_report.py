"""smoke/report: the lint's line shape, the verdict, the JSON the Dagger runner prints."""

from __future__ import annotations

from pipeline.checks.problem import Outcome
from pipeline.executors.report import status_line
from pipeline.smoke.report import Line, exit_code, from_json, not_run, render_text, to_json, verdict

LINES = [Line("prometheus ready", Outcome.PASSED, "answered 200", 0.04),
         Line("targets up", Outcome.FAILED, "backend: down", 12.0, "[prometheus] level=error x"),
         Line("grafana healthy", Outcome.SKIPPED, "no grafana here")]


def test_lines_survive_the_json_between_runner_and_function():
    again = from_json(to_json(LINES))
    assert again == LINES and all(isinstance(line.status, Outcome) for line in again)


def test_the_text_report_uses_the_lint_line_shape():
    text = render_text(LINES).splitlines()
    assert text[0] == "PASSED  prometheus ready (0.0s): answered 200"
    assert text[0] == status_line("passed", "prometheus ready", 0.04, "answered 200")
    assert text[3:5] == ["--- last log lines for targets up:", "[prometheus] level=error x"]
    assert text[-1] == verdict(LINES) == "smoke: 1 of 3 checks failed: targets up"
    assert exit_code(LINES) == 1


def test_skipped_lines_do_not_fail_the_run():
    lines = [LINES[0], *not_run(("targets up",), "prometheus not ready")]
    assert lines[1].detail == "not run: prometheus not ready"
    assert verdict(lines) == "smoke: 1 check passed, 1 skipped" and exit_code(lines) == 0
