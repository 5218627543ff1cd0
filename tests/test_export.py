"""Taking an answer away (issue 23, item 5): Markdown with numbered references, from the
renderer itself, `sihub ask --markdown` and `POST /api/ask?format=markdown`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sihub.assistant.export import to_markdown
from sihub.types import Answer, Citation

QUESTION = "Hur många personer fick anställning genom upphandlingen i Malmö?"
LOCAL = "http://127.0.0.1"


def citation(n: int, **fields) -> Citation:
    base = dict(n=n, file=f"docs/{n}.pdf", title=f"Report {n}", page=n + 1, lang="lv", heading="", score=0.5)
    base.update(text="The law entered into force.", quote="The law entered into force.")
    return Citation(**{**base, **fields})


def markers(text: str) -> list[int]:
    """The `[n]` markers of an exported answer's text (the part before its references)."""
    return sorted({int(n) for n in re.findall(r"\[(\d+)\]", text)})


def reference_numbers(markdown: str) -> list[int]:
    return [int(n) for n in re.findall(r"^- \[(\d+)\] ", markdown, re.MULTILINE)]


def body_of(markdown: str, heading: str) -> str:
    return markdown.split(f"**{heading}**")[0]


# ---- the renderer -----------------------------------------------------------------------------


def test_references_are_numbered_as_the_markers_and_name_the_source() -> None:
    meta = {"partner": "LSUA", "country": "LV", "year": 2021, "type": "report"}
    answer = Answer(
        QUESTION,
        "en",
        True,
        "The law took effect in 2018 [1]; 200 firms registered [2].",
        [citation(1, meta=meta), citation(2)],
    )
    md = to_markdown(answer)
    assert md.startswith(f"**Question:** {QUESTION}\n\n")
    assert markers(body_of(md, "References")) == reference_numbers(md) == [1, 2]
    assert "- [1] Report 1 — LSUA, Latvia, 2021 — docs/1.pdf, p. 2" in md
    assert "- [2] Report 2 — docs/2.pdf, p. 3" in md  # no catalogue fields: none shown empty


def test_labels_and_country_names_follow_the_answers_language() -> None:
    answer = Answer(QUESTION, "sv", True, "Lagen [1].", [citation(1, meta={"country": "LV", "year": 2021})])
    md = to_markdown(answer)
    assert "**Fråga:**" in md and "**Referenser**" in md
    assert "Lettland, 2021" in md and "s. 2" in md
    assert "Letonia" in to_markdown(Answer(QUESTION, "es", True, "[1]", answer.citations))


def test_document_fields_are_text_not_markup() -> None:
    title = "[click](javascript:alert(1)) <b>*bold*</b>"
    md = to_markdown(Answer("q", "en", True, "x [1]", [citation(1, title=title, page=None)]))
    line = md.splitlines()[-1]
    assert "](" not in line.replace("\\]", "") and "<b>" not in line
    assert line.startswith("- [1] \\[click\\](javascript:alert(1)) \\<b\\>\\*bold\\*\\</b\\>")


def test_a_chat_reply_leaves_the_question_out_and_keeps_the_note() -> None:
    answer = Answer(QUESTION, "en", False, "I found nothing about that in the documents.", note="filters ignored")
    md = to_markdown(answer, question=False)
    assert md == "I found nothing about that in the documents.\n\n*filters ignored*\n"


# ---- the CLI and the API over a real index --------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from conftest import make_site

    return make_site(tmp_path_factory.mktemp("export"))


def test_cli_prints_the_answer_with_its_references(site: Path) -> None:
    from sihub.cli import main

    run = CliRunner().invoke(main, ["--index", str(site / "index"), "ask", QUESTION, "--markdown"])
    assert run.exit_code == 0, run.output
    md = run.output
    assert md.startswith(f"**Fråga:** {QUESTION}")
    assert "37 personer" in md
    assert markers(body_of(md, "Referenser")) == reference_numbers(md) == [1]
    assert "- [1] Sociala hänsyn i offentlig upphandling — Coompanion, Sverige, 2021 — docs/sv/upphandling.md" in md


def test_cli_refuses_json_and_markdown_together(site: Path) -> None:
    from sihub.cli import main

    run = CliRunner().invoke(main, ["--index", str(site / "index"), "ask", QUESTION, "--markdown", "--json"])
    assert run.exit_code == 2
    assert "one of --json and --markdown" in run.output


@pytest.fixture(scope="module")
def client(site: Path):
    pytest.importorskip("gradio")
    from fastapi.testclient import TestClient

    from sihub.settings import Settings
    from sihub.web import create_app

    settings = Settings.from_env(env={}, index=site / "index", library=site / "library")
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        yield c


def test_api_returns_markdown_as_text_markdown(client) -> None:
    r = client.post("/api/ask", params={"format": "markdown"}, json={"question": QUESTION})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    as_json = client.post("/api/ask", json={"question": QUESTION}).json()
    assert reference_numbers(r.text) == [c["n"] for c in as_json["citations"]] == [1]
    assert as_json["answer"] in r.text


def test_api_refuses_an_unknown_format(client) -> None:
    r = client.post("/api/ask", params={"format": "pdf"}, json={"question": QUESTION})
    assert r.status_code == 400
    assert "format" in r.json()["error"]
