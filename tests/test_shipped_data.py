"""The amazon-beauty copy shipped in dataset/amazon-beauty/ (compressed), unpacked on first use."""

import hashlib
import os
import shutil

from recbole_llmemb.data import require_atomic_files
from recbole_llmemb.data.stats import read_statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "dataset", "amazon-beauty")
SHA256 = {
    "amazon-beauty.inter": "91db9160460ac67ee34c33778a3fd91cd3a6b220646b43dd08a4c93a7f60b129",
    "amazon-beauty.item": "3d6f08750441908fc412d5f809ea5f67b3207c21a7d82cf279e37080a1de1399",
}


def test_shipped_files_are_small_and_unpack_to_the_recorded_dataset(tmp_path):
    folder = tmp_path / "amazon-beauty"
    folder.mkdir()
    for name in SHA256:
        assert os.path.getsize(os.path.join(SHIPPED, f"{name}.xz")) < 1.5 * 2**20  # well under 2 MiB
        shutil.copy(os.path.join(SHIPPED, f"{name}.xz"), folder)
    inter = require_atomic_files({"dataset": "amazon-beauty", "data_path": str(folder)})
    assert inter == str(folder / "amazon-beauty.inter")
    for name, digest in SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    written = sorted(f for f in os.listdir(folder) if f != ".locks")  # .locks: concurrent runs' lock files
    assert written == sorted([*SHA256, *(f"{n}.xz" for n in SHA256)])  # no temp file
    stats = read_statistics(str(folder))
    assert (stats.users, stats.items, stats.interactions) == (22363, 12101, 198502)
    assert stats.items_with_row == 12101 and stats.repeated_pairs == 0
    stamp = os.path.getmtime(inter)
    require_atomic_files({"dataset": "amazon-beauty", "data_path": str(folder)})
    assert os.path.getmtime(inter) == stamp  # unpacked once
