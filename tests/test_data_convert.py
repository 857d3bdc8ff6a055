"""Converters end to end on small raw fixtures in each public format, written by the tests."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from recbole_llmemb.data import MissingDatasetError, require_atomic_files
from recbole_llmemb.data import convert as convert_module
from recbole_llmemb.data.convert import conversion_plan, convert_dataset
from recbole_llmemb.data.stats import format_statistics, read_statistics
from recbole_llmemb.settings import overall_defaults


def write_lines(path, lines, gz: bool = True, encoding: str = "utf-8") -> str:
    """Raw file: each line a str (encoded) or bytes (written as is), gzipped if ``gz``."""
    data = b"".join((line if isinstance(line, bytes) else line.encode(encoding)) + b"\n" for line in lines)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with (gzip.open if gz else open)(path, "wb") as handle:
        handle.write(data)
    return str(path)


def read_rows(path) -> list[list[str]]:
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n").split("\t") for line in handle]


def review(user, item, time, rating=5.0, **extra) -> str:
    return json.dumps(
        {
            "reviewerID": user,
            "asin": item,
            "overall": rating,
            "unixReviewTime": time,
            "reviewText": "ok",
            **extra,
        }
    )


# --- Amazon 2014 (Beauty) -------------------------------------------------------------------

BEAUTY_REVIEWS = [
    review("U1", "B", 200, 4.0),
    review("U1", "A", 100, 5.0),
    review("U1", "C", 300, 3.0),
    review("U2", "A", 100, 1.0),
    review("U2", "B", 100, 2.0),  # same time as U2's A: stays after it
    review("U2", "C", 150),
    review("U3", "C", 50),
    review("U3", "A", 60),
    review("U3", "B", 70),
    review("U3", "D", 80),
    review("U4", "D", 10),
    review("U4", "E", 20),
    review("U4", "A", 30),
    review("U5", "A", 40),
    review("U5", "B", 50),
    review("U1", "A", 400, 2.0),  # repeated (U1, A): dropped, the earliest kept
    '{"reviewerID": "U6", "asin": "A", "overall": 5.0, "unixReviewTime": 10',  # line 17: cut off
    '{"reviewerID": "U6", "overall": 4.0, "unixReviewTime": 10}',  # no asin
    '{"reviewerID": "U6", "asin": "B", "unixReviewTime": "soon"}',  # time not a number
    "",
    "[1, 2, 3]",
]
BEAUTY_META = [
    repr(
        {
            "asin": "A",
            "title": "Rose &amp;amp; Honey\tLip Balm; 2 pack",
            "brand": "Burt&#39;s Bees",
            "categories": [["Beauty", "Skin Care", "Lips"], ["Gifts"]],
            "price": 9.99,
            "salesRank": {"Beauty": 1234},
            "description": "<b>Soft</b> lips\nall day",
        }
    ),
    repr({"asin": "B", "categories": [["Beauty"]]}),
    "{'asin': 'C', 'title': 'broken",  # line 3: malformed, a later line has C
    json.dumps({"asin": "C", "title": "Long " * 40, "price": "$1,299.00", "isNew": True}),  # JSON, not Python
    repr({"asin": "D", "title": "removed by the k-core"}),
    repr({"asin": "A", "title": "Second copy"}),
    "not a dict at all",
]


def write_beauty(raw_dir) -> None:
    write_lines(raw_dir / "reviews_Beauty_5.json.gz", BEAUTY_REVIEWS)
    write_lines(raw_dir / "meta_Beauty.json.gz", BEAUTY_META)


CONVERT_DEFAULTS = {k: v for k, v in overall_defaults().items() if k.startswith("convert_")}
BEAUTY = {
    **CONVERT_DEFAULTS,
    "convert_format": "amazon2014",
    "convert_category": "Beauty",
    "convert_kcore": 3,
}


def plan(values: dict):
    """The conversion of ``values`` over the package's ``convert_*`` defaults."""
    return conversion_plan({**CONVERT_DEFAULTS, **values})


def test_amazon2014_hand_computed(tmp_path):
    write_beauty(tmp_path / "raw")
    report = convert_dataset("beauty", str(tmp_path / "raw"), str(tmp_path / "out"), plan(BEAUTY))
    # After the repeat is dropped: U1 A B C, U2 A B C, U3 C A B D, U4 D E A, U5 A B. k=3 round 1:
    # A5 B4 C3 D2 E1 -> D, E go; U4 keeps [A] and U5 has 2: both go. Round 2: stable.
    assert read_rows(tmp_path / "out" / "beauty.inter") == [
        ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
        ["U1", "A", "5.0", "100"],
        ["U1", "B", "4.0", "200"],
        ["U1", "C", "3.0", "300"],
        ["U2", "A", "1.0", "100"],
        ["U2", "B", "2.0", "100"],
        ["U2", "C", "5.0", "150"],
        ["U3", "C", "5.0", "50"],
        ["U3", "A", "5.0", "60"],
        ["U3", "B", "5.0", "70"],
    ]
    assert read_rows(tmp_path / "out" / "beauty.item") == [
        [
            "item_id:token",
            "title:token_seq",
            "brand:token_seq",
            "categories:token_seq",
            "price:float",
            "sales_rank:float",
            "description:token_seq",
        ],
        [
            "A",
            "Rose & Honey Lip Balm, 2 pack",
            "Burt's Bees",
            "Beauty, Skin Care, Lips",
            "9.99",
            "1234.0",
            "Soft lips all day",
        ],
        ["B", "", "", "Beauty", "", "", ""],
        ["C", " ".join(["Long"] * 20), "", "", "1299.0", "", ""],
    ]
    reviews, meta = report.files
    assert (reviews.lines, reviews.malformed, reviews.first_malformed) == (
        21,
        4,
        (17, "neither JSON nor a Python literal"),
    )
    assert (meta.malformed, meta.first_malformed[0], meta.notes) == (
        2,
        3,
        {"repeated item rows, first kept": 1},
    )
    assert (report.read, report.duplicates, report.kcore_removed, report.kcore_rounds) == (16, 1, 6, 1)
    stats = report.stats
    assert (stats.users, stats.items, stats.interactions, stats.density) == (3, 3, 9, 1.0)
    assert (stats.min_length, stats.mean_length, stats.max_length, stats.repeated_pairs) == (3, 3.0, 3, 0)
    assert stats.coverage == {
        "title": 2,
        "brand": 1,
        "categories": 2,
        "price": 2,
        "sales_rank": 1,
        "description": 1,
    }
    assert read_statistics(str(tmp_path / "out"), "beauty") == stats
    summary = report.summary()
    assert "4 malformed, skipped (first: line 17, neither JSON nor a Python literal)" in summary
    assert "beauty: 3 users, 3 items, 9 interactions, density 100.0000%" in summary
    assert "text coverage: title 66.67%, brand 33.33%" in summary
    assert not [f for f in os.listdir(tmp_path / "out") if f.endswith(".tmp")]


def test_repeats_kept_when_switched_off(tmp_path):
    write_beauty(tmp_path / "raw")
    settings = plan({**BEAUTY, "convert_drop_duplicates": False})
    report = convert_dataset("beauty", str(tmp_path / "raw"), str(tmp_path / "out"), settings)
    u1 = [row[1:] for row in read_rows(tmp_path / "out" / "beauty.inter") if row[0] == "U1"]
    assert u1 == [["A", "5.0", "100"], ["B", "4.0", "200"], ["C", "3.0", "300"], ["A", "2.0", "400"]]
    assert (report.duplicates, report.stats.interactions, report.stats.repeated_pairs) == (0, 10, 1)
    assert read_statistics(str(tmp_path / "out"), "beauty").repeated_pairs == 1


# --- Amazon 2018 (Fashion) ------------------------------------------------------------------

FASHION_REVIEWS = [
    review("u1", "a", 1, verified=True, style={"Size:": " M"}),
    review("u1", "b", 2),
    review("u1", "z", 3),
    review("u2", "a", 1),
    review("u2", "b", 2),
    review("u2", "b", 9),  # a repeat, kept in this test
    review("u3", "b", 5),
    review("u3", "c", 6),
    review("u4", "c", 7),
    review("u4", "y", 8),
    json.dumps({"reviewerID": "u5", "asin": "", "overall": 5.0, "unixReviewTime": 3}),  # empty asin
]
FASHION_META = [
    json.dumps(
        {
            "asin": "a",
            "title": '<span class="x">Silk&nbsp;Scarf</span>',
            "brand": "Acme",
            "price": "$12.99",
            "feature": ["100% silk", "Hand wash; dry flat"],
            "description": ["Light.", "Soft &amp; warm."],
            "details": {"Material:": "Silk", "ASIN:": "a", "Item model number:": "S-1"},
            "category": ["Clothing", "Scarves"],
        }
    ),
    '{"asin": "b", "title": ',  # cut off; b's full line follows
    json.dumps(
        {"asin": "b", "title": "Belt", "price": ".a-box-inner{background-color:#fff}", "details": "Imported"}
    ),
    json.dumps({"asin": "b", "title": "Belt again"}),
    json.dumps({"asin": "c", "title": "removed"}),
    json.dumps({"title": "no asin"}),
]


def test_amazon2018_hand_computed_with_repeats(tmp_path):
    raw = tmp_path / "raw"
    write_lines(raw / "AMAZON_FASHION_5.json.gz", FASHION_REVIEWS)
    write_lines(raw / "meta_AMAZON_FASHION.json.gz", FASHION_META)
    settings = plan(
        {
            "convert_format": "amazon2018",
            "convert_category": "AMAZON_FASHION",
            "convert_kcore": 2,
            "convert_drop_duplicates": False,
        }
    )
    report = convert_dataset("fashion", str(raw), str(tmp_path / "out"), settings)
    # k=2, repeats kept (u2: a b b). Round 1: a2 b4 c2 z1 y1 -> z, y go; u4 keeps [c] and goes.
    # Round 2: c1 -> goes; u3 keeps [b] and goes. Round 3: stable.
    inter = read_rows(tmp_path / "out" / "fashion.inter")
    assert [row[:2] for row in inter[1:]] == [["u1", "a"], ["u1", "b"], ["u2", "a"], ["u2", "b"], ["u2", "b"]]
    assert report.kcore_rounds == 2
    header, row_a, row_b = read_rows(tmp_path / "out" / "fashion.item")
    assert header[1:] == [
        "title:token_seq",
        "brand:token_seq",
        "categories:token_seq",
        "price:float",
        "details:token_seq",
        "feature:token_seq",
        "description:token_seq",
    ]
    assert row_a == [
        "a",
        "Silk Scarf",
        "Acme",
        "Clothing, Scarves",
        "12.99",
        "Material: Silk, Item model number: S-1",
        "100% silk, Hand wash, dry flat",
        "Light. Soft & warm.",
    ]
    assert row_b == ["b", "Belt", "", "", "", "Imported", "", ""]
    reviews, meta = report.files
    assert (reviews.malformed, reviews.first_malformed) == (1, (11, "missing or empty field 'asin'"))
    assert (meta.malformed, meta.first_malformed[0], meta.notes) == (
        2,
        2,
        {"repeated item rows, first kept": 1},
    )
    assert (report.stats.repeated_pairs, report.stats.interactions) == (1, 5)


# --- Yelp -----------------------------------------------------------------------------------


def yelp_review(user, business, date, stars=4.0) -> str:
    return json.dumps(
        {"review_id": "r", "user_id": user, "business_id": business, "stars": stars, "date": date}
    )


YELP_REVIEWS = [
    yelp_review("ua", "b1", "2010-01-01 10:00:00"),
    yelp_review("ua", "b2", "2010-01-02 10:00:00", 5.0),
    yelp_review("ub", "b2", "2011-05-01 09:00:00"),
    yelp_review("ub", "b1", "2011-04-01 09:00:00"),
    yelp_review("uc", "b1", "1999-12-31 23:59:59"),  # before 2000
    yelp_review("uc", "b2", "2020-01-01 00:00:00"),  # after 2019
    yelp_review("ud", "b1", "2019-12-31 23:59:59"),  # last second kept
    yelp_review("ud", "b3", "2019-06-01 12:00:00"),
    yelp_review("ue", "b1", "2015-01-01 00:00:00", 1.0),  # below the rating
    yelp_review("uf", "b1", "yesterday"),
    json.dumps({"review_id": "r", "business_id": "b1", "stars": 3, "date": "2012-01-01 00:00:00"}),
    # Not UTF-8: cp1252 quotes in the text. The line is still read.
    b'{"review_id": "r", "user_id": "ug", "business_id": "b2", "stars": 3, "date": "2012-01-01 00:00:00",'
    b' "text": "\x93great\x94"}',
]
YELP_BUSINESSES = [
    json.dumps(
        {
            "business_id": "b1",
            "name": "Joe&#39;s Caf\u00e9",
            "city": "Las Vegas",
            "state": "NV",
            "categories": "Coffee & Tea, Food",
            "stars": 4.5,
            "attributes": {
                "WiFi": "u'free'",
                "RestaurantsTakeOut": "True",
                "HasTV": "False",
                "BusinessParking": "{'garage': False, 'street': True, 'lot': True}",
                "Alcohol": "u'none'",
                "NoiseLevel": "None",
            },
        }
    ),
    json.dumps(
        {"business_id": "b2", "name": "Tacos", "city": None, "state": "AZ", "categories": None, "stars": 3}
    ),
    json.dumps({"business_id": "b3", "name": "removed"}),
]


def test_yelp_dates_ratings_and_attributes(tmp_path):
    raw = tmp_path / "raw"
    write_lines(raw / "yelp_academic_dataset_review.json", YELP_REVIEWS, gz=False)
    write_lines(raw / "yelp_academic_dataset_business.json", YELP_BUSINESSES, gz=False)
    config = {
        "convert_format": "yelp",
        "convert_kcore": 2,
        "convert_min_date": 2000,
        "convert_max_date": 2019,
        "convert_min_rating": 2,
    }
    report = convert_dataset("yelp", str(raw), str(tmp_path / "out"), plan(config))
    # In range and rated >= 2: ua b1 b2, ub b1 b2 (ordered by date), ud b1 b3, ug b2.
    # k=2 round 1: b1 3, b2 3, b3 1 -> b3 goes; ud and ug have 1 item and go. Round 2: stable.
    inter = read_rows(tmp_path / "out" / "yelp.inter")
    assert inter[1:] == [
        ["ua", "b1", "4.0", "1262340000"],
        ["ua", "b2", "5.0", "1262426400"],
        ["ub", "b1", "4.0", "1301648400"],
        ["ub", "b2", "4.0", "1304240400"],
    ]
    assert (report.outside_dates, report.below_rating) == (2, 1)
    reviews = report.files[0]
    assert (reviews.malformed, reviews.first_malformed) == (
        2,
        (10, "field 'date' is not a date: 'yesterday'"),
    )
    assert (reviews.redecoded, reviews.first_redecoded) == (1, 12)
    assert read_rows(tmp_path / "out" / "yelp.item")[1:] == [
        [
            "b1",
            "Joe's Café",
            "Las Vegas",
            "NV",
            "Coffee & Tea, Food",
            "4.5",
            "WiFi: free, RestaurantsTakeOut, BusinessParking: street/lot",
        ],
        ["b2", "Tacos", "", "AZ", "", "3.0", ""],
    ]


# --- MovieLens-1M ---------------------------------------------------------------------------


def test_movielens_latin1_titles_and_genres(tmp_path):
    raw = tmp_path / "raw"
    write_lines(
        raw / "ratings.dat",
        [
            "1::10::5::978300760",
            "1::20::3::978300761",
            "2::10::4::978300800",
            "2::20::2::978300700",
            "3::30::5::978300000",
            "1::20::x::y",
            "hello",
        ],
        gz=False,
    )
    write_lines(
        raw / "movies.dat",
        [
            "10::Misérables, Les (1995)::Drama|Musical",
            "20::Toy Story (1995)::Animation|Children's|Comedy",
            "30::Heat (1995)::Action",
        ],
        gz=False,
        encoding="latin-1",
    )
    report = convert_dataset(
        "ml",
        str(raw),
        str(tmp_path / "out"),
        plan({"convert_format": "movielens", "convert_kcore": 2}),
    )
    assert read_rows(tmp_path / "out" / "ml.inter")[1:] == [
        ["1", "10", "5.0", "978300760"],
        ["1", "20", "3.0", "978300761"],
        ["2", "20", "2.0", "978300700"],
        ["2", "10", "4.0", "978300800"],
    ]
    assert read_rows(tmp_path / "out" / "ml.item") == [
        ["item_id:token", "movie_title:token_seq", "release_year:token", "genre:token_seq"],
        ["10", "Misérables, Les", "1995", "Drama Musical"],
        ["20", "Toy Story", "1995", "Animation Children's Comedy"],
    ]
    ratings = report.files[0]
    assert (ratings.malformed, ratings.first_malformed) == (2, (6, "Rating or Timestamp is not a number"))
    assert ratings.redecoded == 0


# --- interrupted writes, pipeline hook, settings --------------------------------------------


def test_interrupted_conversion_leaves_no_partial_file(tmp_path, monkeypatch):
    write_beauty(tmp_path / "raw")
    real_atomic_write = convert_module.atomic_write

    class Interrupting:
        """Passes writes through, then interrupts the .inter file after its header."""

        def __init__(self, handle):
            self.handle, self.writes = handle, 0

        def write(self, text):
            self.writes += 1
            if self.writes > 1:
                raise KeyboardInterrupt
            return self.handle.write(text)

    def interrupted_inter(path, mode="w"):
        from contextlib import contextmanager

        @contextmanager
        def manager():
            with real_atomic_write(path, mode) as handle:
                yield Interrupting(handle) if path.endswith(".inter") else handle

        return manager()

    monkeypatch.setattr(convert_module, "atomic_write", interrupted_inter)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        convert_dataset("beauty", str(tmp_path / "raw"), str(out), plan(BEAUTY))
    assert sorted(os.listdir(out)) == ["beauty.item"]  # complete; no .inter, no temp file
    assert len(read_rows(out / "beauty.item")) == 4
    monkeypatch.setattr(convert_module, "atomic_write", real_atomic_write)
    config = {"dataset": "beauty", "data_path": str(out), **BEAUTY}
    os.rename(tmp_path / "raw", out / "raw")
    assert require_atomic_files(config) == str(out / "beauty.inter")
    assert len(read_rows(out / "beauty.inter")) == 10


def test_require_atomic_files_converts_once(tmp_path, monkeypatch):
    folder = tmp_path / "beauty"
    write_beauty(folder / "raw")
    config = {"dataset": "beauty", "data_path": str(folder), **BEAUTY}
    assert require_atomic_files(config) == str(folder / "beauty.inter")
    assert read_statistics(str(folder)).interactions == 9

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr(convert_module, "convert_dataset", no_second_conversion)
    assert require_atomic_files(config) == str(folder / "beauty.inter")


def test_missing_files_error_names_files_source_and_folders(tmp_path):
    folder = tmp_path / "beauty"
    config = {"dataset": "beauty", "data_path": str(folder), **BEAUTY}
    with pytest.raises(MissingDatasetError) as error:
        require_atomic_files(config)
    message = str(error.value)
    assert "\n" not in message
    for part in (
        "reviews_Beauty_5.json.gz and meta_Beauty.json.gz",
        "https://jmcauley.ucsd.edu/data/amazon/links.html",
        f"in {folder}/raw/",
        f"atomic files beauty.inter and beauty.item in {folder}/",
    ):
        assert part in message
    write_lines(folder / "raw" / "reviews_Beauty_5.json", BEAUTY_REVIEWS, gz=False)  # gunzipped is fine
    with pytest.raises(
        MissingDatasetError, match=r"has reviews_Beauty_5.json.gz but lacks meta_Beauty.json.gz"
    ):
        require_atomic_files(config)
    write_lines(folder / "raw" / "meta_Beauty.json.gz", BEAUTY_META)
    assert require_atomic_files(config) == str(folder / "beauty.inter")


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("amazon-fashion", "https://nijianmo.github.io/amazon/index.html"),
        ("yelp", "https://www.yelp.com/dataset"),
        ("ml-1m", "https://grouplens.org/datasets/movielens/1m/"),
    ],
)
def test_dataset_yaml_gives_each_dataset_its_source(tmp_path, name, url):
    from recbole_llmemb.data.__main__ import dataset_settings
    from recbole_llmemb.data.convert import missing_files_message

    settings = conversion_plan(dataset_settings(name, []))
    assert url in missing_files_message(name, str(tmp_path), settings, list(settings.raw_files))


def test_pipeline_config_converts_with_dataset_yaml(tmp_path):
    """A RecBole Config for amazon-beauty reads the YAML's convert_* keys (k=5) and converts."""
    from recbole_llmemb.config import LLMEmbConfig

    # 6 users x 6 items, each user rating every item: a 5-core as it stands; plus a user with 4.
    lines = [review(f"U{u}", f"I{i}", 10 * i + u) for u in range(6) for i in range(6)]
    lines += [review("Ushort", f"I{i}", 1) for i in range(4)]
    raw = tmp_path / "amazon-beauty" / "raw"
    write_lines(raw / "reviews_Beauty_5.json.gz", lines)
    write_lines(raw / "meta_Beauty.json.gz", [repr({"asin": "I0", "title": "Zero"})])
    config = LLMEmbConfig(
        model="SASRec", dataset="amazon-beauty", config_dict={"data_path": str(tmp_path), "use_gpu": False}
    )
    inter = require_atomic_files(config)
    stats = read_statistics(os.path.dirname(inter))
    assert (stats.users, stats.items, stats.interactions) == (6, 6, 36)
    assert stats.coverage["title"] == 1
    assert "amazon-beauty: 6 users, 6 items, 36 interactions" in format_statistics("amazon-beauty", stats)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"convert_format": "csv"}, "convert_format: 'csv' is not one of"),
        ({"convert_category": None}, "convert_category: format amazon2014 needs"),
        ({"convert_kcore": -1}, "convert_kcore: -1 is not a whole number"),
        ({"convert_min_date": "soon"}, "convert_min_date: 'soon' is not a date"),
        ({"convert_item_fields": ["title", "colour"]}, r"convert_item_fields: \['colour'\] not produced"),
        ({"convert_encoding": "klingon"}, "convert_encoding: unknown encoding 'klingon'"),
        ({"convert_files": "reviews.json"}, "convert_files: 'reviews.json' is not"),
        ({"convert_min_rating": "high"}, "convert_min_rating: 'high' is not a number"),
    ],
)
def test_bad_settings_name_the_option(override, message):
    with pytest.raises(ValueError, match=message):
        plan({**BEAUTY, **override})


def test_date_bounds():
    from datetime import date

    def bounds(low, high):
        settings = plan({**BEAUTY, "convert_min_date": low, "convert_max_date": high})
        return settings.min_time, settings.end_time

    assert bounds(2000, 2019) == (946684800, 1577836800)  # 2000-01-01, 2020-01-01 UTC
    assert bounds("2000", "2019-12-31") == (946684800, 1577836800)
    assert bounds(date(2000, 1, 1), date(2019, 12, 30)) == (946684800, 1577750400)
    assert bounds(None, None) == (None, None)
