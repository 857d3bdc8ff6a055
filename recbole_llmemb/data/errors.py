"""The error of a dataset whose files are not where the run looks for them."""


class MissingDatasetError(FileNotFoundError):
    """Neither a dataset's ``.inter`` file nor the raw files to convert it from are there."""
