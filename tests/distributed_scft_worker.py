"""Run by tests/test_distributed.py under torchrun: SCFT on the tiny data, optionally stopped after a step.

argv: a JSON file with ``config`` (the scft settings dict), ``tokens``, ``out_dir``, ``stop_after``
(0: never) and ``out`` (rank 0 writes the LoRA weights' sum of squares and the losses there).
"""

import json
import sys

from recbole_llmemb.distributed import init_from_environment, is_main
from recbole_llmemb.llm.loading import load_llm
from recbole_llmemb.llm.prompts import PromptTemplate, dataset_attributes
from recbole_llmemb.llm.scft_trainer import train_scft
from recbole_llmemb.settings import SCFTSettings

job = json.load(open(sys.argv[1]))
init_from_environment()
config = job["config"]
attributes = dataset_attributes(config, job["tokens"])
model, tokenizer = load_llm(config["llm_path"])


def stop(step, loss):
    if step == job["stop_after"]:
        sys.exit(3)  # as a killed run would, after its checkpoint


result = train_scft(
    model, tokenizer, [attributes[t] for t in job["tokens"]], PromptTemplate.from_config(config),
    SCFTSettings.from_config(config), job["out_dir"], show_progress=False, on_step=stop,
)  # fmt: skip
if is_main():
    lora = {k: v.double().pow(2).sum().item() for k, v in result.model.state_dict().items() if "lora_" in k}
    json.dump({"losses": result.losses, "lora": lora}, open(job["out"], "w"))
