"""The table of bad inputs (docs/troubleshooting.md): each is a one-line error naming the file,
field or option and what to do, with exit code 2, and nothing already computed is lost."""

import errno
import glob
import json
import logging
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest
from conftest import write_tiny_dataset

from recbole_llmemb import cli
from recbole_llmemb.llm import item_table, table_export, table_stage
from recbole_llmemb.trainer import longtail_trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_ARGS = (
    "--load_col={'inter':['user_id','item_id','timestamp']}",
    "--prompt_fields=['title','genre','year']",
)


def run_cli(base_config, capsys, *arguments, dataset="tiny", **overrides) -> tuple[int, list[str]]:
    """``run_recbole_llmemb.py`` on the tiny data; its exit code and the lines it wrote to stderr."""
    settings = {
        k: v for k, v in {**base_config, "epochs": 1, **overrides}.items() if not isinstance(v, list | dict)
    }
    argv = [f"--dataset={dataset}", *TINY_ARGS, *(f"--{k}={v}" for k, v in settings.items()), *arguments]
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, (captured.err + captured.out).strip().splitlines()


def fails(base_config, capsys, *patterns, arguments=(), **overrides) -> str:
    """Run, expect exit code 2 and one error line holding every pattern; the line."""
    code, lines = run_cli(base_config, capsys, *arguments, **overrides)
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1, lines[-5:]
    for pattern in patterns:
        assert pattern in errors[0], errors[0]
    return errors[0]


def tiny_file(base_config, kind: str) -> str:
    return os.path.join(base_config["data_path"], "tiny", f"tiny.{kind}")


def cache(base_config) -> str:
    return os.path.join(base_config["checkpoint_dir"], "llmemb", "tiny")


# --- data files -------------------------------------------------------------------------------


def test_missing_dataset_folder(base_config, capsys):
    code, lines = run_cli(base_config, capsys, dataset="absent")
    assert (
        code == 2 and len(lines) == 1 and "absent.inter not found" in lines[0] and "absent.item" in lines[0]
    )


def test_empty_inter_file(base_config, capsys):
    open(tiny_file(base_config, "inter"), "w").close()
    fails(base_config, capsys, "tiny.inter: empty file", "'field:type' header")


def test_inter_file_without_user_column(base_config, capsys):
    path = tiny_file(base_config, "inter")
    text = open(path).read().replace("user_id:token", "customer:token", 1)
    open(path, "w").write(text)
    fails(base_config, capsys, "tiny.inter: no 'user_id' column", "USER_ID_FIELD")


def test_missing_item_file(base_config, capsys):
    os.remove(tiny_file(base_config, "item"))
    fails(base_config, capsys, "tiny.item not found", "title, genre, year")


def test_empty_item_file(base_config, capsys):
    open(tiny_file(base_config, "item"), "w").close()
    fails(base_config, capsys, "tiny.item: empty .item file")


def test_item_file_without_item_id_column(base_config, capsys):
    path = tiny_file(base_config, "item")
    text = open(path).read().replace("item_id:token", "asin:token", 1)
    open(path, "w").write(text)
    fails(base_config, capsys, "tiny.item: first column is 'asin'", "ITEM_ID_FIELD")


def test_item_file_with_duplicate_ids(base_config, capsys):
    path = tiny_file(base_config, "item")
    lines = open(path).read().splitlines()
    open(path, "w").write("\n".join([*lines, lines[1]]) + "\n")
    fails(base_config, capsys, f"tiny.item, line {len(lines) + 1}: item 'i1' again (first on line 2)")


def test_item_file_with_non_utf8_bytes(base_config, capsys):
    path = tiny_file(base_config, "item")
    data = open(path, "rb").read()
    open(path, "ab").write(b"i99\tcaf\xe9\tdrama\t1999\n")
    line = data.count(b"\n") + 1
    offset = len(data) + len("i99\tcaf")  # in the file, not in the decoder's chunk
    fails(
        base_config,
        capsys,
        f"tiny.item, line {line}: not UTF-8 text (byte 0xe9 at offset {offset})",
        "save the file as UTF-8",
    )


def edit_inter_line(base_config, line_no: int, edit) -> None:
    """Replace line ``line_no`` (1 = the header) of tiny.inter by ``edit(line)``."""
    path = tiny_file(base_config, "inter")
    lines = open(path).read().splitlines()
    lines[line_no - 1] = edit(lines[line_no - 1])
    open(path, "w").write("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda line: line.rsplit("\t", 1)[0], "line 7: 2 columns, header has 3 (timestamp missing); fix the line"),
        (lambda line: line + "\t5", "line 7: 4 columns, header has 3; fix the line or the field_separator option"),
        (lambda line: line.rsplit("\t", 1)[0] + "\tyesterday", "line 7: timestamp is 'yesterday', not a number"),
        (lambda line: line.rsplit("\t", 1)[0] + "\t", "line 7: no timestamp; fill it in or remove the line"),
        (lambda line: "\t" + line.split("\t", 1)[1], "line 7: no user_id; fill it in or remove the line"),
    ],
)  # fmt: skip
def test_an_inter_row_that_recbole_would_misread(base_config, capsys, edit, message):
    # RecBole kept a row without its timestamp (giving it the mean time) and one with an extra field.
    edit_inter_line(base_config, 7, edit)
    fails(base_config, capsys, f"tiny.inter, {message}")
    assert not os.path.exists(cache(base_config))  # stopped before any stage


def test_inter_file_with_a_bad_header_type(base_config, capsys):
    edit_inter_line(base_config, 1, lambda line: line.replace("timestamp:float", "timestamp:date"))
    fails(base_config, capsys, "tiny.inter, line 1: column 3 is 'timestamp:date', not 'name:type'")


def test_inter_file_with_non_utf8_bytes(base_config, capsys):
    path = tiny_file(base_config, "inter")
    lines = open(path).read().count("\n")
    open(path, "ab").write(b"u1\tcaf\xe9\t99\n")
    fails(
        base_config,
        capsys,
        f"tiny.inter, line {lines + 1}: not UTF-8 text (byte 0xe9",
        "save the file as UTF-8",
    )


def test_item_file_with_a_row_of_the_wrong_column_count(base_config, capsys):
    path = tiny_file(base_config, "item")
    lines = open(path).read().splitlines()
    lines[6] = lines[6].rsplit("\t", 1)[0]  # the year dropped
    open(path, "w").write("\n".join(lines) + "\n")
    fails(
        base_config,
        capsys,
        "tiny.item, line 7: 3 columns, header has 4; fix the line or the field_separator option",
    )


def test_a_dataset_given_as_a_path(base_config, capsys):
    # RecBole's log file name holds the dataset name: '../tiny' failed there, with a traceback.
    code, lines = run_cli(base_config, capsys, dataset="../tiny")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: dataset: '../tiny' is a path, not a name"), lines
    assert "pass --dataset=tiny --data_path=.." in lines[0]


def test_items_without_text_or_row_are_counted_in_one_warning_and_the_run_goes_on(
    base_config, capsys, caplog
):
    # tiny: item 30 has no row in .item, item 29 only empty fields; by design a warning, not an error.
    with caplog.at_level(logging.WARNING):
        assert run_cli(base_config, capsys, "--stage=table")[0] == 0
    warnings = [r.getMessage() for r in caplog.records if "items have no row in" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("1 of 30 items have no row in")
    assert "and 1 only empty text fields" in warnings[0]


def test_dataset_too_small_for_leave_one_out(base_config, capsys):
    open(tiny_file(base_config, "inter"), "w").write(
        "user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t1\nu1\ti2\t2\n"
    )
    fails(base_config, capsys, "dataset 'tiny': no user has the 3 interactions that leave-one-out needs")


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argument, message",
    [
        ("--epochs=abc", "epochs: 'abc' is not a whole number >= 1"),  # was a TypeError in RecBole's Trainer
        ("--learning_rate=abc", "learning_rate: 'abc' is not a number in (0, inf)"),  # in torch's Adam
        ("--epochs=0", "epochs: 0 is not a whole number >= 1"),  # trained nothing and cached it as done
        ("--epochs=1/0", "epochs: '1/0' is not a whole number >= 1"),  # ZeroDivisionError in RecBole's Config
        ("--metrics=['Hit','Foo']", "metrics: ['Hit', 'Foo'] is not a list of RecBole ranking metrics"),
        ("--valid_metric=Recall@10", "valid_metric: 'Recall@10' is not a computed result (hit@10, ndcg@10)"),
    ],
)  # fmt: skip
def test_a_recbole_setting_of_the_wrong_type_stops_before_any_stage(base_config, capsys, argument, message):
    fails(base_config, capsys, f"error: {message}", arguments=[argument])
    assert not os.path.exists(cache(base_config))  # no LLM table, no model


def test_a_config_file_that_is_not_valid_yaml(base_config, capsys, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("epochs: 2\nlearning_rate: [0.1\n")
    fails(
        base_config,
        capsys,
        f"error: config_files: {path}: not valid YAML (line 3, column 1: expected ',' or ']'",
        "fix the file",
        arguments=[f"--config_files={path}"],
    )


# --- the LLM ----------------------------------------------------------------------------------


def test_llm_path_that_does_not_exist(base_config, capsys, tmp_path):
    fails(
        base_config,
        capsys,
        f"llm_path: {tmp_path / 'nope'} is neither a .gguf file",
        llm_path=tmp_path / "nope",
    )


def test_llm_path_that_is_not_a_model(base_config, capsys, tmp_path):
    folder = tmp_path / "not-a-model"
    shutil.copytree(base_config["llm_path"], folder)
    (folder / "config.json").write_text('{"model_type": "not-a-model"}')
    fails(base_config, capsys, f"llm_path: {folder}: ", "give a complete Hugging Face model", llm_path=folder)


def test_llm_without_tokenizer(base_config, capsys, tmp_path):
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(base_config["llm_path"], name), folder)
    fails(base_config, capsys, f"llm_path: {folder}: no usable tokenizer", llm_path=folder)


def test_an_llm_returning_nan_names_the_items_and_stops_before_pca(base_config, capsys, monkeypatch):
    pool = table_export.pool

    def nan_for_some(hidden, mask, pooling):
        vectors = pool(hidden, mask, pooling)
        vectors[0] = float("nan")  # the first prompt of each batch
        return vectors

    monkeypatch.setattr(table_export, "pool", nan_for_some)
    fails(
        base_config,
        capsys,
        "the LLM returned NaN or Inf for 4 of 30 items (e.g. ",
        "float32",
        llm_batch_size=8,
    )
    assert not glob.glob(os.path.join(cache(base_config), "*.npz"))  # no table, no PCA of NaN rows


def test_a_pca_size_above_the_item_count_stops_before_the_llm_runs(base_config, capsys, monkeypatch):
    def the_llm(*args, **kwargs):
        raise AssertionError("the LLM ran before the PCA size was checked")

    monkeypatch.setattr(table_stage, "run_scft", the_llm)
    monkeypatch.setattr(table_stage, "export_item_vectors", the_llm)
    fails(
        base_config,
        capsys,
        "llm_pca_dim: 31 must be between 1 and 30 (PCA of 30 items and LLM size 32)",
        "set llm_pca_dim to at most 30, or to 0",
        arguments=["--stage=table"],
        llm_pca_dim=31,  # tiny: 30 items, an LLM of size 32
        scft=True,
    )


# --- damaged caches ---------------------------------------------------------------------------


def truncate(path: str) -> None:
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


@pytest.mark.parametrize(
    "pattern", ["pca-*.npz", "llm-table-*.npz", "pretrained-SASRec-*.pth", "LLMEmbSASRec-*.pth"]
)
def test_a_truncated_table_or_checkpoint(base_config, capsys, pattern):
    assert run_cli(base_config, capsys)[0] == 0
    (path,) = glob.glob(os.path.join(cache(base_config), pattern))
    if pattern.startswith("llm-table"):
        os.remove(glob.glob(os.path.join(cache(base_config), "pca-*.npz"))[0])  # so the raw table is read
    truncate(path)
    fails(base_config, capsys, f"{path}: its bytes changed since it was written", "delete")


def test_a_partial_checkpoint_without_its_record(base_config, capsys):
    assert run_cli(base_config, capsys, "--stage=pretrain")[0] == 0
    (done,) = glob.glob(os.path.join(cache(base_config), "pretrained-SASRec-*.pth"))
    partial = done.replace(".pth", ".partial.pth")
    shutil.move(done, partial)
    os.remove(f"{done}.json")
    fails(base_config, capsys, f"{partial}: no record of its inputs", arguments=["--stage=pretrain"])


def test_an_artifact_of_another_cache_format(base_config, capsys):
    assert run_cli(base_config, capsys, "--stage=pretrain")[0] == 0
    (done,) = glob.glob(os.path.join(cache(base_config), "pretrained-SASRec-*.pth"))
    record = json.load(open(f"{done}.json"))
    record["format_version"] -= 1  # written by an older version of the package
    json.dump(record, open(f"{done}.json", "w"))
    fails(
        base_config,
        capsys,
        f"{done}: cache format {record['format_version']}, this version reads {record['format_version'] + 1}",
        f"delete {done} and its .json to rebuild it",
        arguments=["--stage=pretrain"],
    )


def test_an_unreadable_scft_checkpoint(base_config, capsys):
    assert run_cli(base_config, capsys, "--stage=scft", scft=True)[0] == 0
    (run,) = glob.glob(os.path.join(cache(base_config), "scft-*"))
    shutil.rmtree(os.path.join(run, "adapter"))  # an interrupted run: its checkpoint is what is left
    os.remove(os.path.join(run, "scft.json"))
    truncate(os.path.join(run, "checkpoint.pt"))
    fails(
        base_config,
        capsys,
        "checkpoint.pt: unreadable SCFT checkpoint",
        "delete it",
        arguments=["--stage=scft"],
        scft=True,
    )


def test_a_damaged_lora_adapter(base_config, capsys):
    assert run_cli(base_config, capsys, "--stage=scft", scft=True)[0] == 0
    (adapter,) = glob.glob(os.path.join(cache(base_config), "scft-*", "adapter", "adapter_model.safetensors"))
    truncate(adapter)
    fails(
        base_config,
        capsys,
        "unreadable SCFT adapter",
        "to fine-tune again",
        arguments=["--stage=table"],
        scft=True,
    )


# --- alignment target, disk ---------------------------------------------------------------------


def test_a_pretrained_srs_file_of_another_dataset(base_config, capsys):
    assert run_cli(base_config, capsys, "--stage=pretrain")[0] == 0
    (plain,) = glob.glob(os.path.join(cache(base_config), "pretrained-SASRec-*.pth"))
    path = tiny_file(base_config, "inter")  # another dataset: the same users with fewer items
    lines = [line for line in open(path).read().splitlines() if not line.split("\t")[1] == "i3"]
    open(path, "w").write("\n".join(lines) + "\n")
    fails(
        base_config, capsys, f"pretrained_srs_file: {plain} has 30 items, dataset has 29",
        arguments=["--model=LLMEmbSASRec", f"--pretrained_srs_file={plain}"],
    )  # fmt: skip


def test_a_pretrained_srs_file_of_a_dataset_of_another_name(base_config, capsys, tmp_path):
    write_tiny_dataset(tmp_path / "data", name="other")  # the same items, under another name
    assert run_cli(base_config, capsys, "--stage=pretrain", dataset="other")[0] == 0
    (plain,) = glob.glob(os.path.join(base_config["checkpoint_dir"], "llmemb", "other", "pretrained-*.pth"))
    fails(
        base_config, capsys, f"pretrained_srs_file: {plain} is a model of dataset 'other', this run's is 'tiny'",
        arguments=["--model=LLMEmbSASRec", f"--pretrained_srs_file={plain}"],
    )  # fmt: skip


def test_a_full_disk_while_writing_a_table_names_the_file_and_keeps_what_was_computed(
    base_config, capsys, monkeypatch
):
    atomic_write = item_table.atomic_write

    class FullDisk:
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    @contextmanager
    def full_for_pca(path, mode="w"):
        with atomic_write(path, mode) as handle:  # the real temp-file-and-rename, failing inside
            yield FullDisk() if os.path.basename(path).startswith("pca-") else handle

    monkeypatch.setattr(item_table, "atomic_write", full_for_pca)
    line = fails(
        base_config,
        capsys,
        "pca-",
        ".npz: cannot write (No space left on device)",
        arguments=["--stage=table"],
    )
    assert "previous file is kept" in line
    assert glob.glob(os.path.join(cache(base_config), "llm-table-*.npz"))  # the LLM's work is kept
    assert not [f for f in os.listdir(cache(base_config)) if f.endswith(".tmp")]


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_last_epoch_and_the_next_run_resumes(
    base_config, capsys, monkeypatch
):
    atomic_write, saves = longtail_trainer.atomic_write, []

    class FullDisk:
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    @contextmanager
    def full_at_second_save(path, mode="w"):
        if path.endswith(".partial.pth"):
            saves.append(path)
        with atomic_write(path, mode) as handle:  # the real temp-file-and-rename, failing inside
            yield FullDisk() if len(saves) == 2 and path.endswith(".partial.pth") else handle

    monkeypatch.setattr(longtail_trainer, "atomic_write", full_at_second_save)
    arguments = ["--stage=pretrain", "--eval_step=0"]  # eval_step 0: RecBole saves after every epoch
    line = fails(
        base_config,
        capsys,
        ".partial.pth: cannot write (No space left on device)",
        arguments=arguments,
        epochs=2,
    )
    assert line.startswith("error: [Errno 28] ") and line.endswith("the previous file is kept")
    (partial,) = glob.glob(os.path.join(cache(base_config), "pretrained-SASRec-*.partial.pth"))
    assert json.load(open(f"{partial}.json"))["epoch"] == 0  # the first epoch's checkpoint, intact
    assert not [f for f in os.listdir(cache(base_config)) if f.endswith(".tmp")]
    monkeypatch.undo()
    assert run_cli(base_config, capsys, *arguments, epochs=2)[0] == 0  # room again: resumed from there
    (done,) = glob.glob(os.path.join(cache(base_config), "pretrained-SASRec-*.pth"))
    assert json.load(open(f"{done}.json"))["resumed_at_epoch"] == 1 and not os.path.exists(partial)


def _without_write_permission() -> list[str]:
    """The command prefix under which files' permissions hold: root ignores them unless it drops
    the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root ignores file permissions, and setpriv is not there to drop that")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


@pytest.mark.slow
def test_a_read_only_saved_folder_serves_a_rerun_that_only_reads(base_config, capsys, tmp_path):
    code, first = run_cli(base_config, capsys)
    assert code == 0
    saved = base_config["checkpoint_dir"]
    for folder, _, files in os.walk(saved):  # chmod -R a-w
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            os.chmod(path, os.stat(path).st_mode & ~0o222)
    before = sorted((p, os.stat(p).st_mtime_ns) for p in glob.glob(f"{saved}/**", recursive=True))
    settings = {k: v for k, v in dict(base_config, epochs=1).items() if not isinstance(v, list | dict)}
    argv = ["--dataset=tiny", *TINY_ARGS, *(f"--{k}={v}" for k, v in settings.items())]
    environment = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    try:

        def run(*more):
            command = [*_without_write_permission(), sys.executable, "-m", "recbole_llmemb", *argv, *more]
            return subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True)

        again = run()
        assert again.returncode == 0 and "error" not in again.stderr, again.stderr[-2000:]
        table = [line for line in first if line.startswith("| ")]
        assert "| LLMEmbSASRec |" in "".join(table)
        assert [line for line in again.stdout.splitlines() if line.startswith("| ")] == table  # same models
        # Something new to build there: one line that says the folder is not writable.
        new = run("--stage=pretrain", "--epochs=2")
        errors = [line for line in new.stderr.splitlines() if line.startswith("error: ")]
        assert new.returncode == 2 and len(errors) == 1, new.stderr[-2000:]
        assert "pretrained-SASRec-" in errors[0] and "is not writable (Permission denied)" in errors[0]
        assert "set checkpoint_dir (or llmemb_cache_dir) to a writable folder" in errors[0]
    finally:
        for folder, _, files in os.walk(saved):
            for path in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chmod(path, os.stat(path).st_mode | 0o200)
    assert sorted((p, os.stat(p).st_mtime_ns) for p in glob.glob(f"{saved}/**", recursive=True)) == before
