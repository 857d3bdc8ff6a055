"""Dataset files: RecBole atomic files found, or converted once from a public raw dump; loading.

``python -m recbole_llmemb.data convert <name>`` converts without training; see docs/datasets.md.
"""

from .dataset_files import require_atomic_files
from .errors import MissingDatasetError
from .loading import load_data

__all__ = ["MissingDatasetError", "load_data", "require_atomic_files"]
