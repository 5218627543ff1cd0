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
    from conftest import make_hub_folder, serving, write_tree

    from sihub.assistant import Assistant
    from sihub.settings import Settings

    root = tmp_path_factory.mktemp("browser")
    folder = make_hub_folder(root / "docs")  # four countries and a catalogue
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

    pdf_link = page.locator(f"#{target} a.open-file")
    href = pdf_link.get_attribute("href")
    assert "#page=2" in href
    r = page.request.get(server[0] + href.split("#")[0])
    assert r.status == 200 and r.headers["content-type"] == "application/pdf"
    assert r.body().startswith(b"%PDF")
    page.screenshot(path=str(tmp_path / "chat.png"))
    assert not page.page_errors

    # Issue 23, item 4: the source opens inside the app, PDF.js at the cited page, the quote outlined.
    with page.context.expect_page() as opened:
        page.locator(f"#{target} a.open-doc").click()
    viewer = opened.value
    viewer.wait_for_selector("body[data-highlighted]:not([data-highlighted='0'])", timeout=30_000)
    assert viewer.get_attribute("body", "data-page") == "2"
    assert viewer.get_attribute("body", "data-view") == "pdf"
    assert "Page 2 of 2" in viewer.inner_text("#page-info")
    mark = viewer.locator(".quote-mark").first.bounding_box()
    stage = viewer.locator("#stage").bounding_box()
    assert mark["width"] > 20 and stage["y"] <= mark["y"] <= stage["y"] + stage["height"]
    viewer.keyboard.press("ArrowLeft")  # keyboard: the previous page, without the quote
    viewer.wait_for_selector("body[data-page='1']")
    assert viewer.locator(".quote-mark").count() == 0
    viewer.close()


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
    _open_tab(pg, "Best practices")  # the catalogue's cards stack in one column
    pg.wait_for_selector("#practice-cards .practice-card")
    boxes = [c.bounding_box() for c in pg.locator("#practice-cards .practice-card").all()[:2]]
    assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"] - 1
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390 + 2
    context.close()


def _choose(page, dropdown: str, option: str) -> None:
    page.click(f"{dropdown} input")
    page.get_by_role("option", name=option, exact=True).click()


def test_catalogue_filters_to_one_country_opens_a_card_and_asks_about_it(page, server) -> None:
    """Issue 23, item 1: filter the best practices to Latvia, open its card, ask about it."""
    _open_tab(page, "Best practices")
    page.wait_for_selector("#practice-cards .practice-card")
    total = page.locator("#practice-cards .practice-card").count()
    assert total >= 5 and f"{total} of {total} documents" in page.inner_text("#practice-cards .practice-count")
    _choose(page, "#practice-country", "Latvia (1)")
    page.wait_for_function("document.querySelectorAll('#practice-cards .practice-card').length === 1")
    card = page.locator("#practice-cards .practice-card")
    text = card.inner_text()
    assert "LSUA" in text and "Latvia" in text and "2021" in text and "law" in text and "Latvian" in text
    assert "Sociālā uzņēmuma likums" in card.locator(".practice-abstract").inner_text()
    # The other filters count within Latvia: one law, one Latvian document.
    page.click("#practice-type input")
    assert page.get_by_role("option", name="law (1)", exact=True).is_visible()
    page.keyboard.press("Escape")

    with page.context.expect_page() as opened:
        card.locator("a.open-doc").click()
    doc = opened.value
    doc.wait_for_selector("body[data-view='text']")
    assert "Sociālā uzņēmuma likums stājās spēkā" in doc.inner_text("main")
    doc.close()

    card.locator("a.ask-doc").focus()
    page.keyboard.press("Enter")  # keyboard-usable
    page.wait_for_function(
        "(document.querySelector('#ask-about textarea, #ask-about input') || {}).value?.endsWith('likums.txt')"
    )
    # Asked about that document only: a question another document answers finds nothing else.
    _ask(page, "How many best practices did the partners collect, and from which countries?")
    page.wait_for_selector("#sources .src-card, #sources .src-empty >> text=No passage supports an answer")
    files = page.locator("#sources .src-file").all_inner_texts()
    assert all("likums.txt" in f for f in files) and "35 best practices" not in page.inner_text("#sources")
    assert not page.page_errors


def test_a_comparison_question_is_answered_country_by_country(page) -> None:
    """Issue 23, item 2: a question asking to compare gets a section per country, without the switch."""
    _ask(page, "Compare how the partner countries measure the social impact of incubated enterprises")
    page.wait_for_selector("#sources .src-group")
    groups = page.locator("#sources .src-group")
    assert groups.count() == 4
    assert [g.inner_text().split("\n")[0] for g in groups.all()] == ["France", "Latvia", "Spain", "Sweden"]
    assert page.locator("#sources .src-group[data-key='FR'][data-found='true'] .src-card").count() >= 1
    reply = page.locator("#chat .message-row").last.inner_text()
    assert "France" in reply and "The documents hold nothing on this question for:" in reply and "Latvia" in reply

    page.click("#new-conversation")
    page.wait_for_function("document.querySelectorAll('#chat .message-row').length == 0")
    page.check("#compare-by-country input")  # the switch groups any question
    _ask(page, "How do incubated enterprises measure their social impact?")
    page.wait_for_selector("#sources .src-group[data-key='FR'][data-found='true']")
    assert page.locator("#sources .src-group").count() == 4


def test_unanswered_questions_are_grouped_in_the_gaps_tab(browser, server, tmp_path) -> None:
    """Issue 23, item 3: not-found questions asked in the chat, grouped by topic for coordinators."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(server[0] + "/", wait_until="domcontentloaded")
    for question in (
        "Hur många bibliotek i Umeå har öppet på söndagar?",
        "How many libraries in Umeå open on Sundays?",
    ):
        rows = page.locator("#chat .message-row").count()
        _ask(page, question)
        page.wait_for_function(
            """(rows) => {
              const all = document.querySelectorAll('#chat .message-row');
              const last = all[all.length - 1];
              return all.length >= rows + 2 && !/Searching|▍/.test(last.innerText);
            }""",
            arg=rows,
        )
        assert page.locator("#sources .src-card").count() == 0  # not found
    _open_tab(page, "Gaps")
    page.fill("#gaps-password input", "not the password")
    page.click("#gaps-show")
    page.wait_for_selector("#gaps-table >> text=wrong coordinator password")
    page.fill("#gaps-password input", PASSWORD)
    page.click("#gaps-show")
    page.wait_for_selector("#gaps-table tr.gap-topic")
    top = page.locator("#gaps-table tr.gap-topic").first
    assert top.locator(".gap-count").inner_text() == "2"  # one topic across Swedish and English
    assert "Umeå" in top.inner_text() and "Swedish 1" in top.inner_text() and "English 1" in top.inner_text()
    with page.expect_download() as download:
        page.click("#gaps-download")
    saved = tmp_path / "gaps.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("topic,count,languages") and ",2," in lines[1]
    context.close()


def test_the_page_speaks_the_browsers_language_and_keeps_a_chosen_one(browser, server) -> None:
    """Everything in the asker's language: a Swedish browser gets Swedish tabs, buttons, filters,
    catalogue cards (country names from CLDR); the language menu switches to French and the
    choice holds on the next visit."""
    from sihub.assistant.i18n import ui_texts

    sv, fr = ui_texts("sv"), ui_texts("fr")
    context = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(server[0] + "/", wait_until="domcontentloaded")
    page.wait_for_selector("#question textarea")
    tabs = [sv[k] for k in ("tab_chat", "tab_practices", "tab_documents", "tab_add", "tab_gaps")]
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('[role=tab]')].some(t => t.innerText.trim() === name)", arg=tabs[1]
    )
    assert [t.inner_text().strip() for t in page.get_by_role("tab").all()] == tabs
    assert page.inner_text("#ask").strip() == sv["ask"] == "Fråga"
    assert page.inner_text("#new-conversation").strip() == sv["new_conversation"]
    assert sv["compare_switch"] in page.inner_text("#compare-by-country")
    # The panel shows Gradio's "processing" overlay while the page-load event runs: wait it out.
    page.wait_for_function(
        "(text) => document.querySelector('#sources').innerText.includes(text)", arg=sv["sources_empty"]
    )
    _open_tab(page, sv["tab_practices"])
    page.wait_for_selector("#practice-cards .practice-card")
    assert sv["filter_country"] in page.inner_text("#practice-country")
    card = page.locator("#practice-cards .practice-card[data-country='LV']")
    assert "Lettland" in card.inner_text() and card.locator("a.open-doc").inner_text() == sv["open"]
    _choose(page, "#ui-language", "français")
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('[role=tab]')].some(t => t.innerText.trim() === name)",
        arg=fr["tab_practices"],
    )
    assert page.inner_text("#ask").strip() == fr["ask"]
    again = context.new_page()  # the choice is kept (a cookie), whatever the browser's language
    again.goto(server[0] + "/", wait_until="domcontentloaded")
    again.wait_for_function(
        "(name) => [...document.querySelectorAll('[role=tab]')].some(t => t.innerText.trim() === name)",
        arg=fr["tab_gaps"],
    )
    assert again.evaluate("document.documentElement.lang") == "fr"
    context.close()


def test_every_answer_has_its_own_copy_and_download(browser, server, tmp_path) -> None:
    """Issue 23, item 5, for each answer: the first answer's links take the first answer away,
    even after a second one came."""
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"], accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(server[0] + "/", wait_until="domcontentloaded")
    questions = [
        "When did the social enterprise law enter into force in Latvia?",
        "How many best practices did the partners collect?",
    ]
    for i, question in enumerate(questions, 1):
        _ask(page, question)
        page.wait_for_function("(n) => document.querySelectorAll('#chat a.take-away-download').length === n", arg=i)
    first = page.locator("#chat .message-row").nth(1)
    with page.expect_download() as download:
        first.locator("a.take-away-download").click()
    saved = tmp_path / "first.md"
    download.value.save_as(saved)
    markdown = saved.read_text(encoding="utf-8")
    assert download.value.suggested_filename == "sihub-answer-1.md"
    assert markdown.startswith(f"**Question:** {questions[0]}") and "- [1] " in markdown
    first.locator("a.take-away-copy").focus()
    page.keyboard.press("Enter")  # keyboard-usable
    page.wait_for_function("async () => (await navigator.clipboard.readText()).includes('**References**')")
    assert page.evaluate("navigator.clipboard.readText()") == markdown
    second = page.locator("#chat .message-row").nth(3).locator("a.take-away-download")
    assert second.get_attribute("href") != first.locator("a.take-away-download").get_attribute("href")
    context.close()
