"""The hub as a "model" (issue 23, item 6): the official `openai` client against a real
`sihub serve` process on a free loopback port, over a small real index."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("gradio")


ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Combien de projets l'incubateur Ruche Solidaire a-t-il accompagnés ?"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from conftest import make_site

    return make_site(tmp_path_factory.mktemp("openai"))


@pytest.fixture(scope="module")
def base(site: Path) -> Iterator[str]:
    """`sihub serve` over the catalogued test site; yields its base URL."""
    from conftest import serving

    env = {k: v for k, v in os.environ.items() if not k.startswith("SIHUB_")}
    env.update({"PYTHONPATH": str(ROOT), "SIHUB_WARM_QUOTES": "0", "HF_HUB_OFFLINE": "1"})
    env["GRADIO_TEMP_DIR"] = str(site / "gradio")
    with serving(site / "index", site / "library", env, site) as url:
        yield url


@pytest.fixture
def client(base: str):
    # Reading is open: the key is sent (the client insists on one) and ignored.
    return openai.OpenAI(base_url=f"{base}/v1", api_key="anything", max_retries=0, timeout=60)


def references(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^- \[(\d+)\] ", text, re.MULTILINE)]


def test_the_hub_is_listed_as_one_model(client) -> None:
    assert [m.id for m in client.models.list()] == ["sihub"]


def test_a_completion_is_the_cited_answer_with_its_citations(client) -> None:
    reply = client.chat.completions.create(
        model="sihub",
        messages=[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": QUESTION}],
        temperature=0.2,  # accepted and ignored
    )
    assert reply.object == "chat.completion" and reply.model == "sihub"
    text = reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert "42 projets" in text and "**Références**" in text
    extra = reply.model_extra
    assert extra["found"] is True and extra["language"] == "fr"
    assert references(text) == [c["n"] for c in extra["citations"]] == [1]
    assert extra["citations"][0]["file"] == "docs/fr/incubateur.md"
    assert "Avise, France, 2022 — docs/fr/incubateur.md" in text


def test_a_streamed_completion_carries_the_citations_in_its_last_chunk(client) -> None:
    chunks = list(
        client.chat.completions.create(model="sihub", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 2  # the text comes in as it grows, not in one piece
    text = "".join(pieces)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["found"] is True
    assert references(text) == [c["n"] for c in last.model_extra["citations"]] == [1]
    whole = client.chat.completions.create(model="sihub", messages=[{"role": "user", "content": QUESTION}])
    assert text == whole.choices[0].message.content


def test_questions_the_documents_cannot_answer_are_recorded_as_gaps(client, site: Path) -> None:
    """As in the web chat: a not-found completion, streamed or not, is kept for `sihub gaps`."""
    from sihub.assistant.gaps import GapStore, gaps_path

    asked = ["How many libraries in Umeå open on Sundays?", "Combien de piscines à Riga ouvrent le dimanche ?"]
    reply = client.chat.completions.create(model="sihub", messages=[{"role": "user", "content": asked[0]}])
    assert reply.model_extra["found"] is False
    chunks = list(
        client.chat.completions.create(model="sihub", messages=[{"role": "user", "content": asked[1]}], stream=True)
    )
    assert chunks[-1].model_extra["found"] is False
    recorded = [(g["question"], g["reason"]) for g in GapStore(gaps_path(site / "index")).all()]
    assert [(q, "not_found") for q in asked] == [r for r in recorded if r[0] in asked]
    assert QUESTION not in {q for q, _ in recorded}  # answered questions are not gaps


def test_earlier_turns_are_the_history_of_a_follow_up(client) -> None:
    first = client.chat.completions.create(model="sihub", messages=[{"role": "user", "content": QUESTION}])
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": "Et la bourse ?"}]},
    ]
    reply = client.chat.completions.create(model="sihub", messages=messages)
    assert reply.model_extra["found"] is True
    text = reply.choices[0].message.content
    assert text.startswith(f"Pour faire suite à « {QUESTION.rstrip(' ?')} »")  # read with the turn before
    assert "15 000 euros" in text


def test_an_over_long_question_is_400_in_openais_error_shape(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="sihub", messages=[{"role": "user", "content": "x" * 2001}])
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert "2,001 characters" in error["message"]


def test_empty_messages_are_400(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="sihub", messages=[])
    assert "messages is empty" in caught.value.body["message"]


def test_a_last_message_that_is_not_the_users_is_400(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="sihub", messages=[{"role": "assistant", "content": "Hello"}])
    assert "must be the user's question" in caught.value.body["message"]


def test_a_malformed_body_is_400_in_openais_error_shape(base: str) -> None:
    import httpx

    r = httpx.post(f"{base}/v1/chat/completions", json={"model": "sihub"}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "messages" in r.json()["error"]["message"]


def test_an_unknown_model_is_404(client) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert caught.value.body["code"] == "model_not_found"


def test_history_beyond_the_limit_keeps_the_latest_turns() -> None:
    from sihub.web.openai_compat import ChatMessage, split_messages

    turns = [ChatMessage(role="system", content="be brief")]
    turns += [ChatMessage(role=("user", "assistant")[i % 2], content=f"turn {i}") for i in range(30)]
    question, history = split_messages([*turns, ChatMessage(role="user", content="and now?")], max_turns=4)
    assert question == "and now?"
    assert [h["content"] for h in history] == ["turn 26", "turn 27", "turn 28", "turn 29"]
