"""Dataset files: RecBole atomic files found, or converted once from a public raw dump.

``python -m recbole_llmemb.data convert <name>`` converts without training; see docs/datasets.md.
"""

from .atomic_files import MissingDatasetError, require_atomic_files

__all__ = ["MissingDatasetError", "require_atomic_files"]
