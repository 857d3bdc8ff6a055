"""Time and peak memory of each dataset converter on a synthetic raw dump of N reviews.

    nice -n 19 python benchmarks/convert_benchmark.py                 # 1,000,000 reviews, 4 formats
    python benchmarks/convert_benchmark.py --reviews=20000 --formats=yelp

For each format it writes synthetic raw files shaped like the public dump (same file names,
keys, encodings and compression; skewed user and item activity so that the k-core has work; a
metadata line for twice as many items as are reviewed, as the real metadata covers every
product), then runs the converter with that dataset's YAML settings in a fresh subprocess and
reads the subprocess's peak resident memory (``getrusage``). The subprocess imports the package
(torch and RecBole come with it), so its resident memory after the imports is reported too and
the difference is the converter's own.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# Which public dump each dataset name converts from (their properties/dataset/<name>.yaml).
DATASETS = {
    "amazon2014": "amazon-beauty",
    "amazon2018": "amazon-fashion",
    "yelp": "yelp",
    "movielens": "ml-1m",
}
WORDS = (
    "great product love color skin hair smell nice works well price quality shipping fast size fit "
    "soft bottle cream brush daily recommend would again bought gift small large light dark "
    "easy use after weeks really good bad okay not worth money"
).split()


def skewed(rng: random.Random, n: int, power: float) -> int:
    """An index in [0, n) with a few very frequent values (power > 1 skews towards 0)."""
    return int(n * rng.random() ** power)


def vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    """Random lower-case words: fresh text from them compresses about as well as English does."""
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    return ["".join(rng.choices(letters, weights=range(26, 0, -1), k=rng.randint(2, 9))) for _ in range(size)]


def text(rng: random.Random, words: list[str], mean: int) -> str:
    """A review text of about ``mean`` words, drawn afresh (no pool: gzip sees no repeats)."""
    return " ".join(rng.choices(words, k=rng.randint(mean // 2, mean * 3 // 2)))


def interactions(rng: random.Random, n: int) -> tuple[int, int, list[tuple[int, int]]]:
    """``(users, items, [(user, item)] * n)``: ~8 reviews per user and ~20 per item, skewed."""
    n_users, n_items = max(n // 8, 10), max(n // 20, 10)
    return n_users, n_items, [(skewed(rng, n_users, 1.3), skewed(rng, n_items, 1.6)) for _ in range(n)]


def write_amazon(folder: str, n: int, rng: random.Random, year: int) -> None:
    """``reviews_Beauty_5.json.gz`` + ``meta_Beauty.json.gz`` (2014) or the 2018 names."""
    n_users, n_items, pairs = interactions(rng, n)
    words = vocabulary(rng)
    reviews = "reviews_Beauty_5.json.gz" if year == 2014 else "AMAZON_FASHION_5.json.gz"
    meta = "meta_Beauty.json.gz" if year == 2014 else "meta_AMAZON_FASHION.json.gz"
    with gzip.open(os.path.join(folder, reviews), "wt", encoding="utf-8", compresslevel=6) as handle:
        for user, item in pairs:
            time_ = 1_100_000_000 + rng.randrange(400_000_000)
            record = {
                "reviewerID": f"A{user:013d}",
                "asin": f"B{item:09d}",
                "reviewerName": "Jane D.",
                "helpful": [rng.randrange(5), rng.randrange(5, 9)],
                "reviewText": text(rng, words, 60),
                "overall": float(rng.randint(1, 5)),
                "summary": text(rng, words, 4),
                "unixReviewTime": time_ - time_ % 86400,  # Amazon times are whole days
                "reviewTime": "01 1, 2014",
            }
            if year == 2018:
                record["verified"] = True
                record["style"] = {"Size:": " Large"}
            handle.write(json.dumps(record) + "\n")
    with gzip.open(os.path.join(folder, meta), "wt", encoding="utf-8", compresslevel=6) as handle:
        for item in range(2 * n_items):
            title = " ".join(rng.choices(WORDS, k=8)).title() + " &amp; More"
            if year == 2014:
                record = {
                    "asin": f"B{item:09d}",
                    "description": text(rng, words, 40),
                    "title": title,
                    "imUrl": "http://ecx.images-amazon.com/images/I/x.jpg",
                    "related": {"also_bought": [f"B{rng.randrange(n_items):09d}" for _ in range(10)]},
                    "salesRank": {"Beauty": rng.randrange(1, 500_000)},
                    "categories": [["Beauty", "Skin Care", "Face"], ["Gifts"]],
                    "price": round(rng.uniform(1, 80), 2),
                    "brand": rng.choice(WORDS).title(),
                }
                handle.write(repr(record) + "\n")  # Python literals, like the 2014 dump
            else:
                record = {
                    "category": ["Clothing, Shoes & Jewelry", "Women"],
                    "description": [text(rng, words, 40)],
                    "title": title,
                    "also_buy": [f"B{rng.randrange(n_items):09d}" for _ in range(5)],
                    "brand": rng.choice(WORDS).title(),
                    "feature": ["100% Cotton", "Imported", "Machine wash"],
                    "details": {"Package Dimensions:": "10 x 8 x 1 inches", "ASIN:": f"B{item:09d}"},
                    "price": f"${rng.uniform(1, 80):.2f}",
                    "asin": f"B{item:09d}",
                }
                handle.write(json.dumps(record) + "\n")


def write_yelp(folder: str, n: int, rng: random.Random) -> None:
    """The two Yelp JSON files, plain text as in ``yelp_dataset.tar``; dates 1998-2021."""
    n_users, n_items, pairs = interactions(rng, n)
    words = vocabulary(rng)
    with open(os.path.join(folder, "yelp_academic_dataset_review.json"), "w", encoding="utf-8") as handle:
        for number, (user, item) in enumerate(pairs):
            date = f"{rng.randint(1998, 2021)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            record = {
                "review_id": f"r{number:021d}",
                "user_id": f"u{user:021d}",
                "business_id": f"b{item:021d}",
                "stars": float(rng.randint(1, 5)),
                "useful": 0,
                "funny": 0,
                "cool": 0,
                "text": text(rng, words, 90),
                "date": f"{date} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
            }
            handle.write(json.dumps(record) + "\n")
    with open(os.path.join(folder, "yelp_academic_dataset_business.json"), "w", encoding="utf-8") as handle:
        for item in range(2 * n_items):
            record = {
                "business_id": f"b{item:021d}",
                "name": " ".join(rng.choices(WORDS, k=2)).title(),
                "address": "1 Main St",
                "city": "Phoenix",
                "state": "AZ",
                "stars": rng.randint(2, 10) / 2,
                "review_count": 10,
                "is_open": 1,
                "attributes": {"WiFi": "u'free'", "BusinessParking": "{'garage': False, 'lot': True}"},
                "categories": "Restaurants, Mexican, Bars",
                "hours": {"Monday": "8:0-22:0"},
            }
            handle.write(json.dumps(record) + "\n")


def write_movielens(folder: str, n: int, rng: random.Random) -> None:
    """``ratings.dat`` and ``movies.dat`` in latin-1 with ``::`` separators."""
    _, n_items, pairs = interactions(rng, n)
    with open(os.path.join(folder, "ratings.dat"), "w", encoding="latin-1") as handle:
        for user, item in pairs:
            handle.write(
                f"{user + 1}::{item + 1}::{rng.randint(1, 5)}::{956_703_932 + rng.randrange(90_000_000)}\n"
            )
    with open(os.path.join(folder, "movies.dat"), "w", encoding="latin-1") as handle:
        for item in range(2 * n_items):
            title = " ".join(rng.choices(WORDS, k=3)).title() + ", Les"
            handle.write(f"{item + 1}::{title} (19{rng.randint(30, 99)})::Drama|Children's|Sci-Fi\n")


def generate(fmt: str, folder: str, n: int, seed: int) -> None:
    rng = random.Random(seed)
    if fmt in ("amazon2014", "amazon2018"):
        write_amazon(folder, n, rng, 2014 if fmt == "amazon2014" else 2018)
    elif fmt == "yelp":
        write_yelp(folder, n, rng)
    else:
        write_movielens(folder, n, rng)


def rss_kib() -> int:
    """Current resident memory of this process in KiB (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def run_one(fmt: str, raw_dir: str, out_dir: str) -> None:
    """Child process: convert, then print one JSON line with times and memory."""
    from recbole_llmemb.data.__main__ import dataset_settings
    from recbole_llmemb.data.convert import conversion_plan, convert_dataset

    name = DATASETS[fmt]
    settings = conversion_plan(dataset_settings(name, []))
    after_imports = rss_kib()
    start, cpu_start = time.perf_counter(), time.process_time()
    report = convert_dataset(name, raw_dir, out_dir, settings)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,  # the wall time can be longer on a shared machine
                "peak_rss_mib": peak / 1024,
                "rss_after_imports_mib": after_imports / 1024,
                "read": report.read,
                "malformed": sum(f.malformed for f in report.files),
                "outside_dates": report.outside_dates,
                "duplicates": report.duplicates,
                "kcore_removed": report.kcore_removed,
                "users": report.stats.users,
                "items": report.stats.items,
                "interactions": report.stats.interactions,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=1_000_000, help="synthetic reviews per format")
    parser.add_argument(
        "--formats", default=",".join(DATASETS), help="comma-separated: " + ", ".join(DATASETS)
    )
    parser.add_argument("--workdir", default=None, help="where the synthetic files go (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--run-one", nargs=3, metavar=("FORMAT", "RAW_DIR", "OUT_DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.run_one:
        run_one(*args.run_one)
        return 0
    root = tempfile.mkdtemp(prefix="convert-bench-", dir=args.workdir)
    rows = []
    try:
        for fmt in args.formats.split(","):
            raw_dir, out_dir = os.path.join(root, fmt, "raw"), os.path.join(root, fmt, "out")
            os.makedirs(raw_dir)
            start = time.perf_counter()
            generate(fmt, raw_dir, args.reviews, args.seed)
            made = time.perf_counter() - start
            size = sum(os.path.getsize(os.path.join(raw_dir, f)) for f in os.listdir(raw_dir))
            child = [sys.executable, os.path.abspath(__file__), "--run-one", fmt, raw_dir, out_dir]
            done = subprocess.run(child, capture_output=True, text=True, check=False)
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result.update(format=fmt, generate_s=made, raw_mib=size / 2**20)
            rows.append(result)
            print(json.dumps(result), flush=True)
            shutil.rmtree(os.path.join(root, fmt))  # the next format needs the disk more than we do
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.reviews:,} synthetic reviews per format\n")
    print(
        "| converter | raw files | wall time | CPU time | peak RSS | RSS after imports"
        " | kept users / items / interactions |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['format']} ({DATASETS[r['format']]}) | {r['raw_mib']:.0f} MiB | {r['seconds']:.1f} s"
            f" | {r['cpu_seconds']:.1f} s"
            f" | {r['peak_rss_mib']:.0f} MiB | {r['rss_after_imports_mib']:.0f} MiB"
            f" | {r['users']:,} / {r['items']:,} / {r['interactions']:,} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
