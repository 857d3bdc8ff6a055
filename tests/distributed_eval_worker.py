"""Run by tests/test_distributed.py under torchrun: test a saved model in every process, write rank 0's results.

argv: a JSON file with ``model``, ``dataset``, ``config_dict``, ``checkpoint`` and ``out``.
"""

import json
import sys

from recbole_llmemb.data import load_data
from recbole_llmemb.distributed import is_main, world_size
from recbole_llmemb.quick_start import make_config
from recbole_llmemb.trainer.cached_training import train_and_test

job = json.load(open(sys.argv[1]))
config = make_config(job["model"], job["dataset"], config_dict=job["config_dict"])
result = train_and_test(config, config.model_class, load_data(config), job["checkpoint"], train=False)
if is_main():
    with open(job["out"], "w") as handle:
        json.dump({"world_size": world_size(), "test_results": result.test_results}, handle)
