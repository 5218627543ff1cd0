"""The analyzer's language knowledge is data (index/lang/<code>.json), shared by the lexical
index and the answer stage (assistant/terms.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sihub.index import lexical


def _clear() -> None:
    for f in (
        lexical.languages,
        lexical.language,
        lexical.all_stop_words,
        lexical.answer_stop_words,
        lexical.strip_ending,
    ):
        f.cache_clear()


@pytest.fixture
def lang_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An analyzer reading its data from an empty folder (caches cleared before and after)."""
    monkeypatch.setattr(lexical, "LANG_DIR", tmp_path)
    _clear()
    yield tmp_path
    monkeypatch.undo()
    _clear()


def test_every_language_file_names_a_stemmer_and_stop_words() -> None:
    import Stemmer

    assert set(lexical.languages()) >= {"sv", "lv", "fr", "es", "en"}
    for code in lexical.languages():
        spec = lexical.language(code)
        assert spec.snowball in Stemmer.algorithms() or (spec.snowball is None and spec.endings), code
        assert spec.stop_words and all(w == w.lower() and w.isalpha() for w in spec.stop_words), code
        data = json.loads((lexical.LANG_DIR / f"{code}.json").read_text(encoding="utf-8"))
        assert all(part.get("source") for part in data["stop_words"]), f"{code}: each list says where it comes from"
    assert lexical.stem_all(["Häuser"], "xx") == ["Häuser"]  # a language without a file: as written


def test_adding_a_language_is_adding_a_file(lang_dir: Path) -> None:
    (lang_dir / "de.json").write_text(
        json.dumps({"stemmer": {"snowball": "german"}, "stop_words": [{"source": "test", "words": ["Der", "und"]}]}),
        encoding="utf-8",
    )
    (lang_dir / "xx.json").write_text(
        json.dumps(
            {
                "stemmer": {"endings": ["en", "s"], "min_stem": 3},
                "stop_words": [
                    {"source": "test", "words": ["ka"]},
                    {"source": "test", "only": "search", "words": ["ko"]},
                    {"source": "test", "only": "answers", "words": ["ku"]},
                ],
            }
        ),
        encoding="utf-8",
    )
    assert lexical.languages() == ("de", "xx")
    assert lexical.query_terms("Der Hund und die Häuser", "de") == ["hund", "die", "haus"]
    assert lexical.query_terms("ka ko ku katzen kats", "xx") == ["ku", "katz", "kat"]
    assert lexical.stem_all(["ken", "kens"], "xx") == ["ken", "ken"]  # an ending leaves three letters
    assert lexical.all_stop_words() == {"der", "und", "ka", "ko"}
    assert lexical.answer_stop_words() == {"der", "und", "ka", "ku"}  # a part marked for the other reader is not read
    assert lexical.query_terms("Der Hund", "en") == ["der", "hund"]  # English is not known here


def test_the_answer_stage_reads_the_stop_words_of_every_language() -> None:
    from sihub.assistant import terms
    from sihub.assistant.i18n import cues

    for code in lexical.languages():
        assert lexical.language(code).answer_stop_words <= terms.STOPWORDS, code
    for code, words in cues("function_words").items():  # the language detector's cue words
        assert set(words) <= lexical.stop_words(code) | lexical.language(code).answer_stop_words, code
    assert terms.content_words("Vilka kommuner deltog och när?") == ["kommuner", "deltog"]
    assert terms.content_words("¿Cuántos municipios participaron?") == ["municipios", "participaron"]


def test_a_broken_language_file_is_named(lang_dir: Path) -> None:
    from sihub.errors import SihubError

    (lang_dir / "xx.json").write_text('{"stop_words": [{"words": "ka"', encoding="utf-8")
    with pytest.raises(SihubError, match="xx.json"):
        lexical.query_terms("ka", "xx")


def test_fold_is_nfkd_without_combining_marks_for_every_character():
    """`fold` (fast paths for ASCII and one `str.translate`) folds as its definition says."""
    import unicodedata

    def reference(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text.lower())
        return "".join(ch for ch in decomposed if not unicodedata.combining(ch))

    chars = [chr(c) for c in range(0x30000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 512):
        block = "".join(chars[start : start + 512])
        assert lexical.fold(block) == reference(block)
    for word in ("Rīgā", "Göteborg", "Déploiement", "ÅNGSTRÖM", "ﬁnance", "İstanbul", "Ωμέγα", "йод", "x²", "plain"):
        assert lexical.fold(word) == reference(word)
        assert lexical._has_digit(word) == any(ch.isdigit() for ch in word)
