"""Dataset files: checks that a dataset's RecBole atomic files are where RecBole will look."""

from .atomic_files import MissingDatasetError, require_atomic_files

__all__ = ["MissingDatasetError", "require_atomic_files"]
