import logging

import pytest

from recbole_llmemb.llm.prompts import PromptTemplate, build_item_prompts, read_item_file
from recbole_llmemb.settings import overall_defaults


def write_items(tmp_path, text):
    path = tmp_path / "d.item"
    path.write_text(text)
    return str(path)


def test_dataset_template_fields_names_lists_and_order(tmp_path):
    path = write_items(
        tmp_path,
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1\tToy Story\t1995\tAnimation Children's Comedy\n",
    )
    template = PromptTemplate.from_defaults(
        instruction="The movie has the following attributes: \n",
        fields=["movie_title", "release_year", "class"],
        field_names={"movie_title": "title", "release_year": "year", "class": "genres"},
        list_fields=["class"],
    )
    prompts = build_item_prompts(["1"], path, template)
    assert prompts == {
        "1": "The movie has the following attributes: \n"
        "title is Toy Story; year is 1995; genres is Animation, Children's, Comedy"
    }


def test_generic_fallback_uses_every_column_and_caps_and_escapes(tmp_path):
    long_title = "x" * 150
    path = write_items(
        tmp_path, f"item_id:token\ttitle:token_seq\tnote:token_seq\na\t{long_title}\tone; two\n"
    )
    prompt = build_item_prompts(["a"], path, PromptTemplate.from_defaults(max_value_chars=100))["a"]
    assert prompt == overall_defaults()["prompt_instruction"] + f"title is {'x' * 100}; note is one, two"


def test_items_without_text_get_id_prompt_and_are_counted(tmp_path, caplog):
    path = write_items(tmp_path, "item_id:token\ttitle:token_seq\na\tRed\nb\t\n")
    with caplog.at_level(logging.WARNING):
        prompts = build_item_prompts(["a", "b", "c"], path, PromptTemplate.from_defaults())
    assert prompts["a"].endswith("title is Red")
    assert prompts["b"].endswith("item id is b")
    assert prompts["c"].endswith("item id is c")
    assert "1 of 3 items have no row in" in caplog.text and "and 1 only empty text fields" in caplog.text
    assert len(caplog.records) == 1  # one warning for all of them


def test_missing_or_empty_item_file_is_a_one_line_error_naming_file_and_columns(tmp_path):
    for template, columns in (
        (PromptTemplate.from_defaults(), "every column but the id"),
        (PromptTemplate.from_defaults(fields=["t"]), "t"),
    ):
        with pytest.raises(FileNotFoundError, match="absent.item not found") as missing:
            build_item_prompts(["a"], str(tmp_path / "absent.item"), template)
        assert columns in str(missing.value) and len(str(missing.value).splitlines()) == 1
    header_only = write_items(tmp_path, "item_id:token\ttitle:token_seq\n")
    with pytest.raises(ValueError, match=r"d\.item: no item rows under the header.*every column but the id"):
        build_item_prompts(["a"], header_only, PromptTemplate.from_defaults())
    with pytest.raises(ValueError, match="empty .item file"):
        build_item_prompts(["a"], write_items(tmp_path, ""), PromptTemplate.from_defaults())


def test_unknown_prompt_field_names_option(tmp_path):
    path = write_items(tmp_path, "item_id:token\ttitle:token_seq\na\tRed\n")
    with pytest.raises(ValueError, match="prompt_fields.*brand"):
        build_item_prompts(["a"], path, PromptTemplate.from_defaults(fields=["title", "brand"]))


def test_malformed_line_names_file_and_line(tmp_path):
    path = write_items(tmp_path, "item_id:token\ttitle:token_seq\na\tRed\textra\n")
    with pytest.raises(ValueError, match=r"d\.item, line 2"):
        read_item_file(path)


def test_template_from_recbole_config_values():
    values = {**overall_defaults(), "prompt_instruction": "X: ", "prompt_fields": ["t"]}
    template = PromptTemplate.from_config(values)
    assert template.instruction == "X: " and template.fields == ["t"] and template.field_names == {}
    with pytest.raises(ValueError, match="prompt_field_names: None is not a dict"):
        PromptTemplate.from_config({**values, "prompt_field_names": None})
