"""``python -m recbole_llmemb --model=SASRec --dataset=ml-100k``: the same as run_recbole_llmemb.py."""

import sys

from .cli import main

sys.exit(main())
