"""`sihub mcp`: the hub as an MCP server over stdio (issue 23, item 6).

Desktop assistants and agents that speak the Model Context Protocol start `sihub mcp` and call
three tools: `search` (passages), `ask` (the cited answer: Markdown with numbered references as
text, the `sihub ask --json` object as structured content) and `list_documents`. A thin edge, like
the CLI: the same `Assistant`, the same limits on questions and filters (`sihub.limits`), domain
errors turned into a tool error of one line; a question `ask` finds nothing on is recorded as a gap
(`assistant.gaps`), as in the web chat. The index is read as it is at each call, so an
ingest run beside the server is seen without restarting it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from sihub import __version__
from sihub.errors import SihubError
from sihub.limits import check_filters, check_question
from sihub.settings import Settings

Filters = dict[str, str | int | list[str | int]] | None
FILTERS_HELP = 'Restrict to documents: keys lang, country, partner, type, year, file; e.g. {"country": "LV"}.'
INSTRUCTIONS = (
    "A knowledge hub of social-innovation best practices in Swedish, Latvian, French, Spanish and English. "
    "Ask in any of them: `ask` answers from the documents only, every claim with a numbered citation, and says "
    "so when the documents hold nothing on the question."
)


def build_server(settings: Settings) -> MCPServer:
    """The MCP server and its tools over the index `settings` names (opened at the first call)."""
    from sihub.assistant import Assistant
    from sihub.assistant.gaps import GapStore, gaps_path

    assistant = Assistant(settings)
    gaps = GapStore(gaps_path(settings.index))
    server = MCPServer("sihub", version=__version__, instructions=INSTRUCTIONS)

    def current() -> Any:
        """The assistant, its index caught up with commits made since the last call."""
        assistant.index.refresh()
        return assistant

    @server.tool()
    def search(
        query: Annotated[str, Field(description="What to look for, in any language.")],
        k: Annotated[int, Field(ge=1, le=100, description="Number of passages.")] = 10,
        filters: Annotated[Filters, Field(description=FILTERS_HELP)] = None,
    ) -> dict[str, Any]:
        """The passages of the hub's documents closest to `query`, best first, each with its file,
        page, language and score (the same object as `sihub search --json`)."""
        with tool_errors():
            check_question(query, settings, "query")
            check_filters(filters)
            hits = current().search(query, k, filters=filters or None)
        return {"query": query, "hits": [h.to_json() for h in hits]}

    @server.tool()
    def ask(
        question: Annotated[str, Field(description="The question, in any language.")],
        k: Annotated[int | None, Field(ge=1, le=50, description="Passages to draw from (default: the hub's).")] = None,
        filters: Annotated[Filters, Field(description=FILTERS_HELP)] = None,
    ) -> CallToolResult:
        """A cited answer from the documents: Markdown whose `[n]` markers point at numbered references
        (title, partner, country, year, file, page); the structured content holds the citations with the
        quoted passages, and `found: false` when the documents hold nothing on the question."""
        from sihub.assistant.export import to_markdown

        with tool_errors():
            check_question(question, settings)
            check_filters(filters)
            answer = current().ask(question, k, filters=filters or None)
        record_gap(gaps, answer, filters)
        text = TextContent(type="text", text=to_markdown(answer, question=False))
        return CallToolResult(content=[text], structured_content=answer.to_json())

    @server.tool()
    def list_documents() -> dict[str, Any]:
        """The indexed documents: file, title, languages, pages and the catalogue fields (partner,
        country, year, type), as `sihub docs --json`."""
        with tool_errors():
            return {"documents": [d.to_json() for d in current().documents()]}

    return server


def record_gap(gaps: Any, answer: Any, filters: Filters) -> None:
    """Keep a question the documents could not answer for `sihub gaps`, as the web chat and the
    API do; never fails the answer (a note goes to stderr, which MCP clients keep as a log)."""
    import sqlite3
    import sys

    try:
        gaps.record(answer, filters or None)
    except (sqlite3.Error, OSError) as exc:
        print(f"sihub: could not record an unanswered question: {exc}", file=sys.stderr, flush=True)


@contextmanager
def tool_errors() -> Iterator[None]:
    """A domain error (no index, a question over the limits, an unknown filter) as a tool error
    the client shows, rather than a logged traceback."""
    try:
        yield
    except SihubError as exc:
        raise ToolError(str(exc)) from exc


def serve_stdio(settings: Settings) -> None:
    """Serve until the client closes stdin."""
    build_server(settings).run("stdio")
