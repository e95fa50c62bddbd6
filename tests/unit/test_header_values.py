"""Header names and values of a job, its fallbacks included, follow RFC 9110's field grammar at submit:
control characters other than HTAB and non-ASCII are refused (422), never sent raw or retried to `dead`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.jobs.models import JobSpec

BAD_VALUES = ["a\x01b", "a\x7fb", "a\x0bb", "a\x0cb", "\x00", "a\rb", "a\nb", "abc\n", "é", "Bearer tök", "\u2028",
              "\ufeffx", "a\x1bb", "\x85"]


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("where", ["request", "fallback"])
def test_a_value_outside_the_field_grammar_is_refused(value: str, where: str) -> None:
    spec: dict[str, object] = {"request": {"url": "https://example.com/", "headers": {"x-a": "ok"}}}
    if where == "request":
        spec["request"] = {"url": "https://example.com/", "headers": {"x-a": value}}
    else:
        spec["fallbacks"] = [{"url": "https://example.org/", "headers": {"x-a": value}}]
    with pytest.raises(ValidationError, match="control or non-ASCII"):
        JobSpec.model_validate(spec)


@pytest.mark.parametrize("name", ["X-Foo\n", "X Foo", "X-Föo", "X:Foo", ""])
def test_a_name_that_is_no_token_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"request": {"url": "https://example.com/", "headers": {name: "v"}}})


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"), max_size=200))
def test_visible_ascii_space_and_tab_are_accepted(value: str) -> None:
    spec = JobSpec.model_validate({"request": {"url": "https://example.com/", "headers": {"x-a": value}}})
    assert spec.request.headers["x-a"] == value


@given(st.text(min_size=1, max_size=20).filter(lambda v: any(not (c == "\t" or " " <= c <= "~") for c in v)))
def test_any_other_character_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"request": {"url": "https://example.com/", "headers": {"x-a": value}}})
