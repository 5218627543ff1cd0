"""`sihub mcp` (issue 23, item 6): the `mcp` SDK's own client starts the server over stdio, as a
desktop assistant does, and calls its tools over a small real index."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Hur många personer fick anställning genom upphandlingen i Malmö?"
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "ask": ("ask", {"question": QUESTION}),
    "search": ("search", {"query": "incubateur entreprises sociales", "k": 2}),
    "search_lv": ("search", {"query": "sociālie uzņēmumi", "filters": {"country": "LV"}}),
    "documents": ("list_documents", {}),
    "unanswered": ("ask", {"question": "How many libraries in Umeå open on Sundays?", "filters": {"lang": "en"}}),
    "too_long": ("ask", {"question": "x" * 2001}),
    "bad_filter": ("search", {"query": "incubateur", "filters": {"colour": "red"}}),
    "bad_k": ("search", {"query": "incubateur", "k": 0}),
}


async def _session(site: Path) -> dict[str, Any]:
    """One server process: its tool list and the result of each call in CALLS."""
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sihub.cli", "--index", "index", "mcp"],
        cwd=site,
        env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    async with Client(server, read_timeout_seconds=120) as client:
        out: dict[str, Any] = {"tools": (await client.list_tools()).tools}
        for key, (tool, arguments) in CALLS.items():
            out[key] = await client.call_tool(tool, arguments)
        return out


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Any]:
    from conftest import make_site

    site = make_site(tmp_path_factory.mktemp("mcp"))
    out = asyncio.run(asyncio.wait_for(_session(site), 300))
    return {**out, "site": site}


def text(result: Any) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


def test_the_server_offers_search_ask_and_list_documents(results) -> None:
    tools = {t.name: t for t in results["tools"]}
    assert set(tools) == {"search", "ask", "list_documents"}
    assert "question" in tools["ask"].input_schema["required"]
    assert set(tools["search"].input_schema["properties"]) == {"query", "k", "filters"}


def test_ask_gives_the_cited_answer_and_its_citations(results) -> None:
    result = results["ask"]
    assert not result.is_error
    answer = result.structured_content
    assert answer["found"] is True and answer["language"] == "sv"
    assert [c["n"] for c in answer["citations"]] == [1]
    assert answer["citations"][0]["file"] == "docs/sv/upphandling.md"
    markdown = text(result)
    assert "37 personer" in markdown and "[1]" in markdown
    assert "- [1] Sociala hänsyn i offentlig upphandling — Coompanion, Sverige, 2021" in markdown


def test_search_returns_passages_best_first(results) -> None:
    hits = results["search"].structured_content["hits"]
    assert len(hits) == 2
    assert hits[0]["file"] == "docs/fr/incubateur.md"
    assert hits[0]["score"] >= hits[1]["score"]
    assert {h["file"] for h in results["search_lv"].structured_content["hits"]} == {"docs/lv/likums.txt"}


def test_list_documents_names_the_catalogue_fields(results) -> None:
    documents = {d["file"]: d for d in results["documents"].structured_content["documents"]}
    assert set(documents) == {"docs/fr/incubateur.md", "docs/lv/likums.txt", "docs/sv/upphandling.md"}
    assert documents["docs/lv/likums.txt"]["country"] == "LV"


def test_limits_and_bad_arguments_are_tool_errors(results) -> None:
    assert results["too_long"].is_error and "2,001 characters" in text(results["too_long"])
    assert results["bad_filter"].is_error and "colour" in text(results["bad_filter"])
    assert results["bad_k"].is_error


def test_a_question_the_documents_cannot_answer_is_recorded_as_a_gap(results) -> None:
    """As in the web chat: `sihub gaps` lists what `ask` found nothing on, with its filters."""
    from sihub.assistant.gaps import GapStore, gaps_path

    assert results["unanswered"].structured_content["found"] is False
    recorded = GapStore(gaps_path(results["site"] / "index")).all()
    assert [(g["question"], g["reason"], g["filters"]) for g in recorded] == [
        ("How many libraries in Umeå open on Sundays?", "not_found", {"lang": "en"})
    ]  # the answered question is not recorded
