"""Two runs at once on the same saved/ folder: each artifact is built by one of them, used by both."""

import json
import subprocess
import sys

import pytest

BUILD_TABLE = """
import json, sys
from recbole_llmemb import build_table
print(json.dumps(build_table("SASRec", "tiny", config_dict=json.loads(sys.argv[1]))))
"""


@pytest.mark.slow
def test_two_runs_at_once_build_scft_and_the_table_once_and_share_them(base_config, tmp_path):
    settings = dict(base_config, scft=True, state="INFO")  # INFO: the logs say who built what
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_TABLE, json.dumps(settings)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    logs = "".join(err for _, err in outputs)
    assert logs.count("SCFT: fine-tuning") == 1 and logs.count("LLM item table: building") == 1
    tables = {json.loads(out.strip().splitlines()[-1])["table_file"] for out, _ in outputs}
    assert len(tables) == 1
