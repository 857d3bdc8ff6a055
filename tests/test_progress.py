"""Progress off a terminal: a log line per tenth of the work, for our stages and RecBole's loops."""

import logging

import pytest

from recbole_llmemb import progress as progress_module
from recbole_llmemb import quick_start
from recbole_llmemb.progress import LogProgress


@pytest.fixture
def verbose_progress(monkeypatch):
    monkeypatch.setattr(progress_module, "QUIET_SECONDS", 0.0)
    monkeypatch.setattr(progress_module, "interactive", lambda: False)


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "recbole_llmemb.progress"]


def test_log_progress_writes_a_line_per_tenth_with_elapsed_and_eta(caplog, verbose_progress):
    with caplog.at_level(logging.INFO):
        assert list(LogProgress(range(20), desc="\x1b[1mWork\x1b[0m", unit="step")) == list(range(20))
    lines = messages(caplog)
    assert len(lines) == 10
    assert lines[0].startswith("Work: 2/20 step (10%), 0:00 elapsed, ~0:00 left")
    assert lines[-1].startswith("Work: 20/20 step (100%)")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        bar = LogProgress(total=4, initial=1, desc="SCFT", unit="step")  # a resumed run: 1 of 4 done
        bar.set_postfix(loss="0.5")
        bar.update(1)
    (line,) = messages(caplog)
    assert line.startswith("SCFT: 2/4 step (50%)") and line.endswith("left, loss=0.5")


def test_a_short_loop_stays_quiet(caplog, monkeypatch):
    monkeypatch.setattr(progress_module, "interactive", lambda: False)
    with caplog.at_level(logging.INFO):
        list(progress_module.progress(range(50), desc="quick"))
    assert messages(caplog) == []


def test_training_evaluation_and_llm_stages_log_their_progress(base_config, caplog, verbose_progress):
    settings = dict(base_config, show_progress=True, epochs=1, scft=True)
    with caplog.at_level(logging.INFO):
        quick_start.run("SASRec", "tiny", config_dict=settings)
    lines = messages(caplog)
    for stage in ("SCFT: ", "Embedding items: ", "Train     0: ", "Evaluate: "):
        assert any(line.startswith(stage) and "(100%)" in line for line in lines), stage
