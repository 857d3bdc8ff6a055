import os
import subprocess
import sys

import pytest

from recbole_llmemb.cli import main, parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_help_explains_each_stage():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "run_recbole_llmemb.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for word in ("scft", "table", "pretrain", "RAT", "--model", "--dataset", "--config_files", "--key=value"):
        assert word in result.stdout


def test_unknown_model_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--model=NARM"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'NARM'" in capsys.readouterr().err


def test_settings_must_be_key_equals_value(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model=SASRec", "--epochs", "3"])
    assert "--key=value" in capsys.readouterr().err


def test_recbole_overrides_pass_through():
    args = parse_args(["--model=GRU4Rec", "--dataset=x", "--epochs=3", "--config_files=a.yaml,b.yaml"])
    assert (args.model, args.dataset, args.config_files) == ("GRU4Rec", "x", "a.yaml,b.yaml")


def test_missing_dataset_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    argv = ["--dataset=amazon-fashion", f"--data_path={tmp_path}", f"--checkpoint_dir={tmp_path}"]
    monkeypatch.setattr(sys, "argv", ["run_recbole_llmemb.py", *argv])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "amazon-fashion.inter" in err[0] and "amazon-fashion.item" in err[0]


def test_cli_runs_the_pipeline_and_prints_the_table(monkeypatch, base_config, capsys):
    settings = {
        k: v for k, v in base_config.items() if k not in ("load_col", "prompt_fields", "prompt_list_fields")
    }
    argv = ["--model=SASRec", "--dataset=tiny"] + [f"--{k}={v}" for k, v in dict(settings, epochs=1).items()]
    argv += [
        "--load_col={'inter':['user_id','item_id','timestamp']}",
        "--prompt_fields=['title','genre','year']",
    ]
    monkeypatch.setattr(sys, "argv", ["run_recbole_llmemb.py", *argv])
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| SASRec |" in out and "| LLMEmbSASRec |" in out
    assert os.path.isfile(os.path.join(base_config["results_dir"], "tiny-SASRec-full.md"))
