"""Run LLMEmb on RecBole: ``python run_recbole_llmemb.py --model=SASRec --dataset=ml-100k``."""

import sys

from recbole_llmemb.cli import main

if __name__ == "__main__":
    sys.exit(main())
