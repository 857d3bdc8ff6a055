"""RecBole's sequential dataset for an ``.inter`` file without a time column: file order is the time."""

from __future__ import annotations

import numpy as np
from recbole.data.dataset import SequentialDataset
from recbole.utils import FeatureSource, FeatureType


class FileOrderSequentialDataset(SequentialDataset):
    """Each interaction's row number stands in for its timestamp, so RecBole's time ordering and
    leave-one-out split keep every user's items in the order of the file."""

    def _load_inter_feat(self, token, dataset_path):
        super()._load_inter_feat(token, dataset_path)
        field = self.time_field
        if self.inter_feat is not None and field not in self.inter_feat:
            self.inter_feat[field] = np.arange(len(self.inter_feat), dtype=np.float64)
            self.field2source[field] = FeatureSource.INTERACTION
            self.field2type[field] = FeatureType.FLOAT
            self.field2seqlen[field] = 1
            self.field2bucketnum[field] = 2
