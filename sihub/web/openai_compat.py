"""The hub as a "model" for any chat client that speaks OpenAI's chat protocol (issue 23, item 6).

`POST /v1/chat/completions` reads the last message (the user's) as the question and the
user and assistant messages before it as the chat history; system messages and sampling
parameters (temperature, max_tokens, ...) are accepted and ignored: the answer comes from the
documents, not from a prompt. The reply's message is the cited answer as Markdown with its
numbered references (`assistant.export`); the extra top-level fields `citations` (as in
`POST /api/ask`), `found` and `language` carry them as data. With `"stream": true` the answer
comes as server-sent `chat.completion.chunk` events, those fields in the last one, then
`data: [DONE]`. `GET /v1/models` lists the one model, `sihub`.

Reading is open, so an API key (`Authorization: Bearer ...`) is accepted and ignored: clients
that insist on one may send anything. Errors raised under /v1 take OpenAI's shape
`{"error": {"message", "type", "param", "code"}}` (see `owns` and `error_response`).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from itertools import chain
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from sihub.errors import BadInputError, SihubError
from sihub.types import Answer

from .hub import Hub

MODEL = "sihub"
PREFIX = "/v1/"
_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class ChatMessage(BaseModel):
    """One message of OpenAI's chat schema; fields other than role and content are ignored."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The body of `POST /v1/chat/completions`; OpenAI's other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(MODEL, description=f"Always `{MODEL}` (the one model `GET /v1/models` lists).")
    messages: list[ChatMessage] = Field(..., description="The chat so far; the last one is the user's question.")
    stream: bool = Field(False, description="Send the answer as server-sent `chat.completion.chunk` events.")


def owns(path: str) -> bool:
    """Whether a request path is this protocol's, whose errors take OpenAI's shape."""
    return path.startswith(PREFIX)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object: clients read `error.message` and tell kinds apart by `error.type`."""
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers or None)


def add_routes(app: FastAPI, hub: Hub) -> None:
    """`GET /v1/models` and `POST /v1/chat/completions` on `app`, answering from `hub`."""
    started = int(time.time())

    @app.get("/v1/models", tags=["openai"])
    def models() -> dict[str, Any]:
        """The one model a chat client can pick: `sihub`, the hub's cited answers."""
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": started, "owned_by": "sihub"}]}

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    def completions(body: ChatRequest) -> JSONResponse | StreamingResponse | dict[str, Any]:
        """The cited answer to the last user message, as an OpenAI chat completion (or its stream)."""
        if body.model != MODEL:
            return JSONResponse(
                error_body(404, f"the model {body.model[:100]!r} does not exist; use {MODEL!r}", "model_not_found"),
                status_code=404,
            )
        question, history = split_messages(body.messages, hub.settings.max_history_turns)
        hub.check(question, history)
        reply = Reply(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()))
        if not body.stream:
            return reply.completion(hub.ask(question, None, history))
        items = hub.ask_stream(question, None, history)
        first = next(items)  # an index that is missing or busy answers with its status, not a broken stream
        return StreamingResponse(reply.events(chain([first], items)), media_type="text/event-stream")

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(rest: str) -> JSONResponse:
        return error_response(404, f"no such endpoint: /v1/{rest[:200]}")


def split_messages(messages: list[ChatMessage], max_turns: int) -> tuple[str, list[dict[str, str]]]:
    """The question (the last message, which must be the user's) and the history before it.

    Only user and assistant messages make the history, and only the latest `max_turns` of them:
    a chat client sends the whole conversation every time, and a follow-up leans on the latest
    turns, as in the web chat. Each kept turn is still checked against the history limits.
    """
    if not messages:
        raise BadInputError("messages is empty: send at least the user's question")
    if messages[-1].role != "user":
        raise BadInputError(f"the last message is the {messages[-1].role[:20]}'s; it must be the user's question")
    history = [{"role": m.role, "content": text_of(m)} for m in messages[:-1] if m.role in ("user", "assistant")]
    return text_of(messages[-1]), history[-max_turns:] if max_turns > 0 else []


def text_of(message: ChatMessage) -> str:
    """A message's text: its content, or the text parts of a list of parts (images are not read)."""
    if isinstance(message.content, list):
        return "\n".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return message.content or ""


class Reply:
    """One completion's id and time, and the shapes it is sent in."""

    def __init__(self, id: str, created: int) -> None:  # noqa: A002 - OpenAI's field name
        self.id = id
        self.created = created

    def completion(self, answer: Answer) -> dict[str, Any]:
        """A `chat.completion` whose message is the cited answer, its citations beside it."""
        from sihub.assistant.export import to_markdown

        message = {"role": "assistant", "content": to_markdown(answer, question=False)}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return {**self._head("chat.completion"), "choices": [choice], **extra(answer)}

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **fields: Any) -> str:
        """One server-sent `chat.completion.chunk` event."""
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse({**self._head("chat.completion.chunk"), "choices": [choice], **fields})

    def events(self, items: Iterator[str | Answer]) -> Iterator[str]:
        """The stream: the text as it grows, then what the final Answer adds to it (its
        references), the citations in the last chunk, then `[DONE]`.

        `items` is `Hub.ask_stream`: the text so far, then the Answer. Should the final answer
        not continue what was sent (a language model's draft replaced by the checked answer),
        it follows after a rule: a sent delta cannot be taken back.
        """
        from sihub.assistant.export import to_markdown

        yield self.chunk({"role": "assistant", "content": ""})
        sent = ""
        try:
            for item in items:
                if isinstance(item, Answer):
                    final = to_markdown(item, question=False)
                    rest = final[len(sent) :] if final.startswith(sent) else "\n\n---\n\n" + final
                    if rest:
                        yield self.chunk({"content": rest})
                    yield self.chunk({}, "stop", **extra(item))
                    break
                if item.startswith(sent) and len(item) > len(sent):
                    yield self.chunk({"content": item[len(sent) :]})
                    sent = item
        except (SihubError, sqlite3.Error) as exc:  # the status is sent already: say it in the stream
            status = 400 if isinstance(exc, BadInputError) else 503
            yield sse(error_body(status, str(exc) if isinstance(exc, SihubError) else "the index cannot answer now"))
        yield "data: [DONE]\n\n"

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": MODEL}


def extra(answer: Answer) -> dict[str, Any]:
    """The fields a completion adds to OpenAI's: the citations as data, whether the documents answer."""
    return {"citations": [c.to_json() for c in answer.citations], "found": answer.found, "language": answer.language}


def sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
