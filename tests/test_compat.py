import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import recbole_llmemb  # noqa: F401  (applies the compatibility fixes)
from recbole_llmemb.artifacts.fingerprints import file_sha256
from recbole_llmemb.artifacts.records import write_record
from recbole_llmemb.compat import load_recbole_checkpoint


def test_anomaly_detection_is_off_after_recbole_models_are_imported():
    from recbole.model.sequential_recommender import SINE  # noqa: F401

    assert not torch.is_anomaly_enabled()


def test_numpy_aliases_that_recbole_config_reads_exist():
    for name in ("float_", "complex_", "unicode_"):
        assert hasattr(np, name)
    from recbole.config import Config

    Config.compatibility_settings(None)  # raises AttributeError on numpy 2 without the fix


def test_package_never_imports_recbole_quick_start():
    code = "import sys, recbole_llmemb.quick_start, recbole_llmemb.cli; print('recbole.quick_start' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_recbole_checkpoint_is_read_without_torch_weights_only_and_without_running_code(
    tmp_path, base_config
):
    from recbole.config import Config

    from recbole_llmemb.quick_start import make_config

    config = make_config("SASRec", "tiny", config_dict=base_config)
    path = tmp_path / "ckpt.pth"
    torch.save({"config": config, "state_dict": {"w": torch.ones(2)}}, path, pickle_protocol=4)  # as RecBole
    with pytest.raises(Exception, match="weights_only"):
        torch.load(path)  # torch >= 2.6 default: why the fix exists
    # A cached file is read only after its record matches; a file the user names needs none.
    with pytest.raises(ValueError, match="no record of its inputs"):
        load_recbole_checkpoint(str(path))
    loaded = load_recbole_checkpoint(str(path), users_own=True)
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2))
    # The Config is RecBole's class again, built from the file's settings without running __init__.
    assert isinstance(loaded["config"], Config) and loaded["config"]["dataset"] == "tiny"
    assert (
        loaded["config"].model_class is config.model_class and loaded["config"]["device"] == config["device"]
    )
    write_record(str(path), "k1", file_sha256(str(path)))
    assert torch.equal(load_recbole_checkpoint(str(path), key="k1")["state_dict"]["w"], torch.ones(2))
    with pytest.raises(ValueError, match="recorded key k1 is not k2"):
        load_recbole_checkpoint(str(path), key="k2")
    path.write_bytes(path.read_bytes()[:-10])  # cut short after its record was written
    for users_own in (False, True):  # a file with a record is checked even when it is the user's
        with pytest.raises(ValueError, match="bytes changed since it was written"):
            load_recbole_checkpoint(str(path), users_own=users_own)


def test_a_given_data_path_is_used_for_ml_100k_too(tmp_path):
    from recbole_llmemb.quick_start import make_config

    given = make_config("SASRec", "ml-100k", config_dict={"data_path": str(tmp_path), "state": "WARNING"})
    assert given["data_path"] == str(tmp_path / "ml-100k")
    bundled = make_config("SASRec", "ml-100k", config_dict={"state": "WARNING"})
    assert bundled["data_path"].endswith(os.path.join("dataset_example", "ml-100k"))  # RecBole's own copy
