"""The web page in a real browser: Playwright drives Debian's Chromium against `sihub serve`.

One server (a subprocess on a free loopback port, over a small index) serves the whole module.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.common import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

PASSWORD = "hub-coordinator"
HOSTILE_NAME = "<img src=x onerror=window.__xss=3>.txt"
HOSTILE = {
    f"en/{HOSTILE_NAME}": (
        "<script>window.__xss = 1</script> Hostile title\n\n"
        "The cooperative <b>Bold</b> in Tartu <script>window.__xss = 2</script> grows vegetables "
        "with twelve volunteers every summer.\n"
    )
}

if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (make system-browser installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`sihub serve` over the tiny folder plus a document full of HTML; yields (base url, library)."""
    from conftest import make_tiny_folder, serving, write_tree

    from sihub.assistant import Assistant
    from sihub.settings import Settings

    root = tmp_path_factory.mktemp("browser")
    folder = make_tiny_folder(root / "docs")
    write_tree(folder, HOSTILE)
    a = Assistant(Settings.from_env(env={}, index=root / "index"))
    assert not a.ingest([folder]).failed
    a.close()
    env = {
        **os.environ,
        "SIHUB_ADMIN_PASSWORD": PASSWORD,
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),  # this checkout's code, from any folder
    }
    env.pop("SIHUB_LIBRARY", None)
    with serving(root / "index", root / "library", env, root) as base:
        yield base, root / "library"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(server[0] + "/", wait_until="domcontentloaded")
    pg.wait_for_selector("#question textarea")
    pg.page_errors = errors
    yield pg
    context.close()


def _ask(page, question: str) -> None:
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_answer_streams_in_with_cited_sources_and_links(page, server, tmp_path) -> None:
    page.evaluate(
        """() => {
          window.__lengths = [];
          new MutationObserver(() => {
            const rows = document.querySelectorAll('#chat .message-row');
            const last = rows[rows.length - 1];
            if (last) window.__lengths.push(last.innerText.length);
          }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )
    _ask(page, "How many best practices did the partners collect, and from which countries?")
    page.wait_for_selector("#sources .src-card mark")
    lengths = sorted(set(page.evaluate("window.__lengths")))
    assert len(lengths) >= 3, f"the answer arrived in one piece: {lengths}"

    cards = page.locator("#sources .src-card")
    assert cards.count() >= 1
    first = cards.first
    assert "BuiCaSuS overview" in first.inner_text()
    assert "EN" in first.locator(".src-lang").inner_text()
    assert "35 best practices" in first.locator("mark").inner_text()

    link = page.locator("#chat a.cite-link").first
    target = link.get_attribute("href").lstrip("#")
    page.evaluate("document.querySelector('#sources .src-list').scrollTop = 10000")
    link.click()
    page.wait_for_selector(f"#{target}.flash")
    box = page.locator(f"#{target}").bounding_box()
    assert box is not None and 0 <= box["y"] < 900
    assert page.url.rstrip("/") == server[0]

    pdf_link = page.locator(f"#{target} a.open-doc")
    href = pdf_link.get_attribute("href")
    assert "#page=2" in href
    r = page.request.get(server[0] + href.split("#")[0])
    assert r.status == 200 and r.headers["content-type"] == "application/pdf"
    assert r.body().startswith(b"%PDF")
    page.screenshot(path=str(tmp_path / "chat.png"))
    assert not page.page_errors


def test_follow_up_keeps_context_and_new_conversation_clears(page) -> None:
    _ask(page, "When did the social enterprise law enter into force in Latvia?")
    page.wait_for_selector("#sources .src-card")
    _ask(page, "And how many social enterprises were registered by 2022?")
    page.wait_for_function("document.querySelectorAll('#chat .message-row').length >= 4")
    page.wait_for_selector("#sources .src-card[id^='src-2-']")
    page.click("#new-conversation")
    page.wait_for_function("document.querySelectorAll('#chat .message-row').length == 0")
    assert page.locator("#sources .src-card").count() == 0


def test_the_answer_is_copied_and_downloaded_with_its_references(browser, server, tmp_path) -> None:
    """Issue 23, item 5, from the keyboard: the buttons act on the latest answer's Markdown."""
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"], accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(server[0] + "/", wait_until="domcontentloaded")
    _ask(page, "When did the social enterprise law enter into force in Latvia?")
    page.wait_for_selector("#sources .src-card")
    page.wait_for_selector("#download-answer:not([disabled])")  # the Markdown is there (its box stays folded)

    page.focus("#download-answer")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    saved = tmp_path / "answer.md"
    download.value.save_as(saved)
    markdown = saved.read_text(encoding="utf-8")
    assert download.value.suggested_filename == "sihub-answer.md"
    assert markdown.startswith("**Question:** When did the social enterprise law")
    assert "**References**" in markdown and "- [1] " in markdown

    page.focus("#copy-answer")
    page.keyboard.press("Enter")
    page.wait_for_function("async () => (await navigator.clipboard.readText()).includes('**References**')")
    assert page.evaluate("navigator.clipboard.readText()") == markdown
    context.close()


def test_coordinator_uploads_a_file_and_finds_it_in_documents(page, server, tmp_path) -> None:
    doc = tmp_path / "Kiruna-rapport.md"
    doc.write_text(
        "# Kiruna rapport\n\nDen sociala kooperativa bageriet i Kiruna anställde nio personer under 2022.\n",
        encoding="utf-8",
    )
    _open_tab(page, "Add documents")
    assert page.locator("#upload-files input[type=file]").count() == 0  # locked until the password is checked
    page.fill("#upload-password input", "not the password")
    page.click("#unlock")
    page.wait_for_selector("#upload-result >> text=wrong coordinator password")
    page.fill("#upload-password input", PASSWORD)
    page.click("#unlock")
    page.wait_for_selector("#upload-result >> text=unlocked")
    page.set_input_files("#upload-files input[type=file]", str(doc))
    page.wait_for_selector("#upload-files >> text=Kiruna-rapport.md")
    page.click("#upload")
    page.wait_for_selector("#upload-result >> text=added 1", timeout=30_000)
    assert (server[1] / "uploads" / "Kiruna-rapport.md").is_file()

    _open_tab(page, "Documents")
    page.fill("#doc-search textarea, #doc-search input", "Kiruna")
    page.wait_for_selector("#doc-table td.doc-file >> text=Kiruna-rapport.md")
    # The table re-renders when the search applies: wait for the filtered count, not the first paint.
    page.wait_for_function(
        "(document.querySelector('#doc-table p') || {}).innerText?.includes('1 document')", timeout=10_000
    )


def test_document_html_is_shown_as_text_everywhere(page) -> None:
    _open_tab(page, "Documents")
    page.fill("#doc-search textarea, #doc-search input", "onerror")
    row = page.locator("#doc-table tbody tr").first
    row.wait_for()
    assert HOSTILE_NAME in row.locator("td.doc-file").inner_text()

    _open_tab(page, "Chat")
    _ask(page, "Which cooperative in Tartu grows vegetables with volunteers?")
    page.wait_for_selector("#sources .src-card")
    sources = page.locator("#sources").inner_text()
    assert "<script>window.__xss = 2</script>" in sources and "<b>Bold</b>" in sources
    assert HOSTILE_NAME in page.locator("#sources .src-file").first.inner_text()
    assert (
        page.locator(
            "#sources script, #sources b, #sources img, #doc-table script, #doc-table img, #chat .message-row script, #chat .message-row img"
        ).count()
        == 0
    )
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_phone_width_stacks_sources_under_the_chat(browser, server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    pg.goto(server[0] + "/", wait_until="domcontentloaded")
    pg.wait_for_selector("#question textarea")
    chat, sources = pg.locator("#chat").bounding_box(), pg.locator("#sources").bounding_box()
    assert sources["y"] > chat["y"] + chat["height"] - 1
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390 + 2
    context.close()
