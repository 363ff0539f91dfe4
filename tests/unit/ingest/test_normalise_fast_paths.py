"""The cheap paths of text normalisation give exactly what the plain definitions give.

Each reference below is the straightforward way to compute the same thing (what the module did
before it grew a fast path); the properties run both on text mixing ASCII, accented and
typographic characters, every kind of whitespace, controls and invisible characters.
"""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest import normalise
from services.ingest.normalise import canonical_url, clean_body, clean_line, sanitise_markup, split_read_lines

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every character `str.isspace` knows, the controls and invisible characters that are deleted,
# the joiners that are kept, and ordinary letters and punctuation of several scripts.
SPECIAL = (
    [chr(c) for c in range(0x00, 0x21)]
    + [chr(c) for c in range(0x7F, 0xA1)]
    + list("\u1680\u2000\u2001\u2002\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
    + sorted(normalise._INVISIBLE)
    + list("\u200c\u200d")
)
ORDINARY = [*"abcXYZ019.,;:!?'\"-()[]<>&é€“”‘’ßŁж中", "READ", "READ: ", "READ MORE:", "&amp;"]
pieces = st.sampled_from(SPECIAL) | st.sampled_from(ORDINARY) | st.text(max_size=4)
texts = st.lists(pieces, max_size=60).map("".join)
ascii_texts = st.lists(st.sampled_from([chr(c) for c in range(0x80)] + ["READ: ", "  "]), max_size=80).map(
    "".join
)
any_text = texts | ascii_texts

REFERENCE_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n\n", "\f": "\n\n"}
REFERENCE_STRIP_TABLE = {
    **dict.fromkeys((*range(0x00, 0x20), *range(0x7F, 0xA0))),
    **dict.fromkeys(ord(ch) for ch in normalise._INVISIBLE),
    ord("\t"): " ",
    ord("\n"): "\n",
}


def reference_strip_invisible(text: str) -> str:
    for old, new in REFERENCE_LINE_BREAKS.items():
        text = text.replace(old, new)
    return text.translate(REFERENCE_STRIP_TABLE)


def reference_plain(text: str) -> str:
    return reference_strip_invisible(unicodedata.normalize("NFC", sanitise_markup(text)))


@FAST
@given(any_text)
def test_strip_invisible_deletes_and_replaces_what_the_translation_table_says(text: str) -> None:
    assert normalise._strip_invisible(text) == reference_strip_invisible(text)


@FAST
@given(any_text)
def test_collapse_of_plain_text_is_whitespace_split_and_joined(text: str) -> None:
    plain = normalise._plain(text)
    assert normalise._collapse(plain) == " ".join(plain.split())


@FAST
@given(any_text)
def test_clean_line_is_plain_text_with_whitespace_collapsed(text: str) -> None:
    assert clean_line(text) == " ".join(reference_plain(text).split())


@FAST
@given(any_text)
def test_text_without_angle_brackets_or_ampersands_has_no_markup_to_sanitise(text: str) -> None:
    text = text.replace("<", "").replace("&", "")
    assert not normalise._LOOKS_LIKE_MARKUP.search(text)
    assert sanitise_markup(text) == text


def reference_split_read_lines(text: str) -> tuple[str, list[str]]:
    kept: list[str] = []
    titles: list[str] = []
    for line in text.split("\n"):
        match = normalise.READ_LINE.match(normalise._WHITESPACE.sub(" ", line.strip()))
        if match:
            titles.append(match["title"].strip())
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept), titles


@FAST
@given(any_text)
def test_read_lines_are_found_wherever_they_are(text: str) -> None:
    assert split_read_lines(text) == reference_split_read_lines(text)


@FAST
@given(st.lists(texts, max_size=6).map("\n\n".join))
def test_body_paragraphs_are_the_collapsed_blocks_between_blank_lines(text: str) -> None:
    plain, titles = reference_split_read_lines(reference_plain(text))
    blocks = [" ".join(block.split()) for block in normalise._BLANK_LINE.split(plain)]
    assert clean_body(text) == ([b for b in blocks if b], titles)


def test_every_deleted_character_is_non_printable() -> None:
    # `_collapse` relies on it for non-ASCII text: a printable text holds no whitespace but spaces.
    assert not any(ch.isprintable() for ch in normalise._STRIPPED)
    whitespace = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert [ch for ch in whitespace if ch.isprintable()] == [" "]


def test_a_typographic_body_is_cleaned_like_an_ascii_one() -> None:
    body = (
        "\u201cWe agreed,\u201d she said.\u00a0 Caf\u00e9\u200b talks\tresume.\r\n\r\n"
        "READ: Next \u2018steps\u2019"
    )
    assert clean_body(body) == (
        ["\u201cWe agreed,\u201d she said. Caf\u00e9 talks resume."],
        ["Next \u2018steps\u2019"],
    )


PRINTABLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
URL_PIECES = (
    *("http", "https", "HTTPS", "ftp", "://", ":", "/", "//", "?", "#", "@", "[", "]", "%7E", "-"),
    *("_", ".", "~", "&", "=", "é", "example.org", "EXAMPLE", "news", "8080", ":443", ":80"),
    *("utm_source=x", "a=1&b=2"),
)
url_pieces = st.sampled_from(URL_PIECES) | st.text(PRINTABLE_ASCII, max_size=3)
hosts = ("example.org", "news.example.co.uk", "a-b_c.d9", "Example.org", "", "[::1]", "user@example.org")
urls = st.lists(url_pieces, max_size=12).map("".join) | st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(["http://", "https://", "Http://", "ftp://", "http:/"]),
    st.sampled_from(hosts),
    st.sampled_from(["", "", "", ":80", ":443", ":8080", ":"]),
    st.sampled_from(["", "/", "/", "/", "//"]),
    st.text(PRINTABLE_ASCII, max_size=12) | st.text(PRINTABLE_ASCII | st.sampled_from("é€?# "), max_size=12),
)
# Near the fast path's edge: any case of host, any printable path (query and fragment included).
urls |= st.from_regex(r"https?://[a-zA-Z0-9._-]{1,12}(/[!-~]{0,16})?", fullmatch=True)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(urls)
def test_a_url_already_canonical_is_kept_as_splitting_and_reassembling_would_make_it(raw: str) -> None:
    expected = None
    stripped = raw.strip()
    if stripped and not normalise._WHITESPACE.search(stripped):
        expected = normalise._reassembled_url(stripped)
    assert canonical_url(raw) == expected
