"""The demo corpus and its gold questions agree with each other.

For every answerable gold question, each fact must appear (case-insensitive, whitespace-normalised,
soft hyphens ignored) in the text of the gold page of the rendered file, as read by sihub's own
reader (``ingest.read_document``).
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
GOLD_SOURCES = ROOT / "corpus_sources" / "gold"
QUESTIONS = ROOT / "tests" / "gold" / "questions.jsonl"
LANGS = ("en", "es", "fr", "sv", "lv")
FIELDS = ("id", "question", "lang", "file", "page", "facts", "tags", "answerable")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.answers import norm  # noqa: E402 - one normalisation for gold facts everywhere
from sihub.ingest import read_document  # noqa: E402


def load_questions() -> list[dict]:
    if not QUESTIONS.exists():
        return []
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_catalog() -> dict:
    return yaml.safe_load((CORPUS / "catalog.yaml").read_text(encoding="utf-8")) or {}


QUESTIONS_LIST = load_questions()
ANSWERABLE = [q for q in QUESTIONS_LIST if q.get("answerable")]


def doc_langs(lang: str) -> list[str]:
    """Languages of a document: "en+lv" is an English summary before a Latvian text."""
    return str(lang).split("+")


def is_scanned(rel: str) -> bool:
    """A PDF without a text layer (the scanned documents of the corpus)."""
    if not rel.endswith(".pdf"):
        return False
    from pypdf import PdfReader

    reader = PdfReader(str(CORPUS / rel))
    return not any((p.extract_text() or "").strip() for p in reader.pages)


# ------------------------------------------------------------------ text of a rendered file


@functools.cache
def pages_of(rel: str) -> tuple[tuple[int | None, str], ...]:
    return tuple((p.number, p.text) for p in read_document(CORPUS / rel).pages)


def gold_text(q: dict) -> str:
    pages = pages_of(q["file"])
    if q["page"] is None:
        return "\n".join(text for _, text in pages)
    return "\n".join(text for number, text in pages if number == q["page"])


# ------------------------------------------------------------------ facts on the gold page


@pytest.mark.parametrize("q", ANSWERABLE, ids=[q["id"] for q in ANSWERABLE])
def test_gold_facts_on_gold_page(q):
    if is_scanned(q["file"]) and not shutil.which("tesseract"):
        pytest.skip("scanned PDF and no tesseract on PATH")
    text = norm(gold_text(q))
    assert text, f"{q['file']} page {q['page']}: no text read"
    missing = [fact for fact in q["facts"] if norm(fact) not in text]
    assert not missing, f"{q['id']}: {missing} not found in {q['file']} page {q['page']}"


# ------------------------------------------------------------------ catalog and gold file shape


def test_catalog_lists_every_corpus_file():
    catalog = load_catalog()
    files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file() and p.name != "catalog.yaml"}
    assert files - set(catalog) == set(), "files missing from catalog.yaml"
    assert set(catalog) - files == set(), "catalog.yaml lists files that do not exist"
    for rel, entry in catalog.items():
        for key in ("title", "partner", "country", "year", "type", "lang"):
            assert entry.get(key) not in (None, ""), f"{rel}: no {key}"
        assert set(doc_langs(entry["lang"])) <= set(LANGS), rel


def test_corpus_shape():
    catalog = load_catalog()
    per_lang = Counter(lang for e in catalog.values() for lang in doc_langs(e["lang"]))
    for lang in LANGS:
        assert per_lang[lang] >= 5, f"only {per_lang[lang]} documents in {lang}"
    ext = Counter(Path(rel).suffix.lower() for rel in catalog)
    assert ext[".pdf"] >= 12
    assert ext[".docx"] >= 4
    assert ext[".html"] >= 3
    assert any(is_scanned(rel) for rel in catalog if rel.endswith(".pdf")), "no scanned PDF"


def test_gold_shape():
    qs = QUESTIONS_LIST
    assert len(qs) >= 80
    assert sum("crosslingual" in q["tags"] for q in qs) >= 30
    assert sum("exact" in q["tags"] for q in qs) >= 10
    assert sum(not q["answerable"] for q in qs) >= 10
    assert {q["lang"] for q in qs} == set(LANGS)


def test_gold_questions_are_well_formed():
    from pypdf import PdfReader

    catalog = load_catalog()
    ids = Counter(q["id"] for q in QUESTIONS_LIST)
    problems = [f"{i}: duplicate id" for i, n in ids.items() if n > 1]
    for q in QUESTIONS_LIST:
        qid = q.get("id")
        if not all(k in q for k in FIELDS):
            problems.append(f"{qid}: missing fields")
            continue
        if q["lang"] not in LANGS:
            problems.append(f"{qid}: lang {q['lang']!r}")
        if not set(q["tags"]) <= {"crosslingual", "exact"}:
            problems.append(f"{qid}: tags {q['tags']}")
        if not q["answerable"]:
            if q["file"] is not None or q["page"] is not None or q["facts"] != []:
                problems.append(f"{qid}: unanswerable needs file, page null and no facts")
            continue
        if q["file"] not in catalog:
            problems.append(f"{qid}: {q['file']} not in catalog")
            continue
        if not 1 <= len(q["facts"]) <= 3:
            problems.append(f"{qid}: {len(q['facts'])} facts")
        # Cross-lingual: the question's language is none of the document's languages.
        langs = doc_langs(catalog[q["file"]]["lang"])
        if ("crosslingual" in q["tags"]) != (q["lang"] not in langs):
            problems.append(f"{qid}: question in {q['lang']}, document in {'+'.join(langs)}: crosslingual tag wrong")
        if q["file"].endswith(".pdf"):
            n = len(PdfReader(str(CORPUS / q["file"])).pages)
            if not (isinstance(q["page"], int) and 1 <= q["page"] <= n):
                problems.append(f"{qid}: page {q['page']} not in 1..{n}")
        elif q["page"] is not None:
            problems.append(f"{qid}: page must be null for {q['file']}")
    assert problems == []


def test_questions_file_is_merged_from_sources():
    merged = []
    for f in sorted(GOLD_SOURCES.glob("*.jsonl")):
        merged += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    merged.sort(key=lambda q: q["id"])
    assert merged == QUESTIONS_LIST, "run corpus_sources/render.py to refresh tests/gold/questions.jsonl"
