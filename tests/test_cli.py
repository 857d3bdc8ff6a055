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


def test_recbole_settings_become_the_config_dict():
    args, settings = parse_args(
        [
            "--model=LLMEmbGRU4Rec",
            "--dataset=x",
            "--epochs=3",
            "--config_files=a.yaml,b.yaml",
            "--eval_args={'a':1}",
        ]
    )
    assert (args.model, args.dataset, args.config_files) == ("LLMEmbGRU4Rec", "x", "a.yaml,b.yaml")
    assert settings == {"epochs": "3", "eval_args": "{'a':1}"}  # RecBole's Config parses the texts


def test_main_passes_every_setting_on_and_reads_no_other_argv(monkeypatch):
    from recbole_llmemb import cli

    calls = []
    monkeypatch.setattr(sys, "argv", ["run_recbole_llmemb.py", "--seed=99"])
    monkeypatch.setattr(cli, "run", lambda *args, **kwargs: calls.append((args, kwargs)) or {})
    assert main(["--model=LLMEmbSASRec", "--dataset=tiny", "--epochs=1", "--config_files=llm2x"]) == 0
    (args, kwargs) = calls[0]
    assert args == ("LLMEmbSASRec", "tiny", ["llm2x"], {"epochs": "1"})
    assert kwargs == {"stage": "all", "baselines": []}


def test_missing_dataset_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    argv = ["--dataset=amazon-fashion", f"--data_path={tmp_path}", f"--checkpoint_dir={tmp_path}"]
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
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| SASRec |" in out and "| LLMEmbSASRec |" in out
    assert os.path.isfile(os.path.join(base_config["results_dir"], "tiny-SASRec-latest.md"))
