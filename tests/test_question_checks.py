"""What a question asks for (an amount, a date, a figure), the places it names, and whether passages address them."""

from __future__ import annotations

import pytest

from sihub.assistant.kinds import asked, given_figures, offers
from sihub.assistant.places import cities, mentions


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What was the overall budget of the spring seminar?", "money"),
        ("Hur mycket kostade piloten per deltagare?", "money"),
        ("Cik izmaksāja pilotprojekts Gēteborgā?", "money"),
        ("Cik ES fondu līdzekļu novirzīja sociālajai inovācijai?", "money"),
        ("Quel est le montant de la subvention ?", "money"),
        ("¿Cuánto costó organizar la conferencia?", "money"),
        ("When was the agreement signed?", "time"),
        ("När bildades föreningen och vem betalade den första lokalen?", "time"),
        ("Kad stājās spēkā likums?", "time"),
        ("Depuis quand la loi est-elle en vigueur ?", "time"),
        ("¿En qué año se creó el DLA?", "time"),
        ("Cikos notika paralēlās darbnīcas?", "time"),
        ("How many partners are in the consortium?", "count"),
        ("Hur stor andel av deltagarna fick jobb?", "count"),
        ("Combien de participants à l'atelier ?", "count"),
        ("¿Cuántas familias atendió el piloto?", "count"),
        ("Tell me the budget lines, and how many people work there", "money"),
        # A contract's value is an amount; the values an organisation holds are not.
        ("What was the estimated value of the cleaning contract?", "money"),
        ("¿Cuál fue el valor total del contrato de mantenimiento?", "money"),
        ("Kāda bija iepirkuma līguma vērtība?", "money"),
        ("Quelle était la valeur estimée du marché de restauration ?", "money"),
        ("Vilket var kontraktsvärdet för städningen?", "money"),
        ("What values guide the work of the centre?", None),
        # A length of time, asked in each language; before `count`, which "cuántos" would start.
        ("How long does the mentoring last?", "duration"),
        ("For how many months are the families supported?", "duration"),
        ("Hur länge pågick piloten?", "duration"),
        ("Cik ilgi ilgst inkubācijas programma?", "duration"),
        ("Combien de temps dure l'accompagnement ?", "duration"),
        ("¿Cuántos meses dura el itinerario?", "duration"),
        ("¿Cuánto dura la incubación?", "duration"),
        # "Hur många ar…" is not "how many years": a word beginning so does not count.
        ("Hur många arbetsgivare deltog?", "count"),
        # A rating asks for a score ("4,6 no 5 punktiem"), not for how many of something.
        ("What average rating did the participants give the course?", "score"),
        ("Vilket betyg gav deltagarna utbildningen?", "score"),
        ("Kādu vidējo vērtējumu saņēma konference?", "score"),
        ("Quelle note moyenne les stagiaires ont-ils donnée à l'atelier ?", "score"),
        ("¿Qué valoración media obtuvo la conferencia final?", "score"),
        ("Quelle note de cadrage a publié Avise ?", None),  # a note (a paper), not a mark
        ("Kādu vērtējumu sniedza eksperti par plānu?", None),  # an assessment, no average
        # How and why questions about money ask for no amount; nor does a cost-benefit analysis.
        ("How should the budget of a competence centre be shared between partners?", None),
        ("¿Por qué subieron los costes del comedor?", None),
        ("What did the cost-benefit analysis of the lab show?", None),
        ("Vilket pris fick projektet 2022?", None),  # a prize, not a price
        # "when" opening no clause asks for no date; who/what/which questions get no check.
        ("What are the parts of the model that must stay fixed when other towns copy it?", None),
        ("Which organisation leads work package 3?", None),
        ("Vilka verktyg behövs för att bygga kapacitet för social innovation?", None),
        ("¿Qué funciones tendría el centro nacional?", None),
    ],
)
def test_kind_asked(question, kind):
    assert asked(question) == kind


OFFERS = {
    # Money needs a currency next to a figure.
    "money": (
        ["about 62,000 euros", "642 000 €", "EUR 1 860 000", "9,4 miljoner kronor", "€15k", "380 000 couronnes"],
        ["42 projets en 2022", "The euro area grew", "12 européens ont participé", "Personāls (7 slodzes) | 300 000"],
    ),
    "time": (
        ["28 June 2021", "grundades 2010", "2023. gada 16. februārī", "13.45–15.15", "en août", "el 17 de abril"],
        ["The market grew a lot", "la mairie a approuvé", "maybe later"],
    ),
    "score": (
        ["Vidējais vērtējums bija 4,6 no 5 punktiem.", "rated 4 out of 5", "8/10", "89 % respondentu", "3.9", "12,5 %"],
        [
            # A count, a thousands separator, a year or a figure of another thing is no score.
            "three needs came up",
            "1,000 people took part",
            "a budget of 1,500,000 euros",
            "in 2023",
            "7 partners of 12 countries",
        ],
    ),
    # A figure before a unit of time, in any case of the unit's name (CLDR's words, by stem), or
    # a span of years; a figure of something else, or a single year, is no length of time.
    "duration": (
        [
            "El itinerario dura nueve meses.",
            "Programma ilgst deviņus mēnešus.",
            "a six-month pilot",
            "Projektet pågick 2021–2023.",
            "pendant 18 mois",
            "mentors meet the family every week for 6 months",
            "stödet varar i två år",
        ],
        ["14 personer anställdes", "El comité selecciona 16 proyectos", "launched in 2021", "9 gadījumos no 12"],
    ),
    "count": (
        [
            "seven partners from four Member States",
            "asistieron 23 empresas",
            "Dalībnieki klātienē | 138",
            "Il a réuni 24 jeunes le 3 mars.",
            "The 3 main findings",
            "5 majors",
            "The number of participants was 46. Most came from towns.",
            "Module 4 had 23 participants.",
            "3 modules",
            "fase 2: 14 nodos",
        ],
        [
            # Articles are no figures.
            "un projet et une entreprise",
            # Nor is the day of a date, nor a Latvian ordinal: they say when and which, not how many.
            "The conference took place in Riga on 16 and 17 February 2023.",
            "It opened on February 16, 2023.",
            "se celebró el 17 de abril de 2023",
            "notika 2023. gada 12. jūnijā",
            "Rīgā 16.–17. februārī",
            "sagatavota projekta 5. darba paketē (WP5)",
            # Nor is the number that names a part.
            "It is hosted by the Society Integration Foundation, which leads Work Package 5.",
            "Arbetspaket 4, som leds av Mötesplats Social Innovation (MSI)",
            "con marco legal propio desde la Ley 5/2011 de Economía Social",
            "participants rated module 4 on impact measurement",
        ],
    ),
}


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (kind, text, expected)
        for kind, (yes, no) in OFFERS.items()
        for expected, texts in ((True, yes), (False, no))
        for text in texts
    ],
)
def test_what_a_span_offers(kind, text, expected):
    assert offers(text, kind) is expected


def test_a_figure_the_question_states_is_not_its_answer():
    given = given_figures("How many of the 35 best practices came from each country, and how many of the three?")
    assert given == {"35", "three"}
    assert not offers("the collection of 35 best practices of support", "count", given=given)
    assert not offers("three countries took part", "count", given=given)
    assert offers("35 practices: 14 from France, 4 from Latvia", "count", given=given)
    assert offers("the collection of 35 best practices of support", "count")
    assert given_figures("Cik 2022. gadā, 1 000 vai 1\u00a0000 eiro?") == {"1000"}


def test_a_figure_counts_what_the_words_beside_it_name():
    from sihub.assistant.kinds import figure_of
    from sihub.assistant.terms import keys

    tools = keys("How many tools did the knowledge hub hold?")
    # The figure beside the asked-for word, before or after it, in a sentence or a table row.
    assert figure_of("By 2023 the hub held 62 tools and methods.", tools)
    assert figure_of("Tools collected | 62", tools)
    # A figure of something else, a year, a date or a label is no answer however close the words.
    assert not figure_of("The knowledge hub, launched in 2021, presents a report on 35 best practices.", tools)
    assert not figure_of("Tools were presented on 16 February and in work package 4.", tools)
    # The figure the question states itself is not what it asks for.
    assert not figure_of("35 tools were planned.", tools, given=frozenset({"35"}))
    # Another language: the words the translations give.
    assert figure_of("• 163 candidatures reçues", keys("candidatures"))
    assert not figure_of("• 163 candidatures reçues", keys("pieteikumu"))


def test_a_table_row_is_money_under_a_currency_header():
    row = "Personāls (7 slodzes) | 300 000"
    assert offers(row, "money", context="Izdevumu pozīcija (EUR) | 2025\n" + row)
    assert offers("anything at all", None)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Which German organisations took part?", {"DE"}),
        ("Kura Vācijas federālā zeme piedalījās?", {"DE"}),
        ("Finns det ett kompetenscentrum i Danmark?", {"DK"}),
        ("Quels critères l'Italie applique-t-elle ?", {"IT"}),
        ("¿Qué caso portugués se presentó?", {"PT"}),
        ("Spānijas ceļvedis un det lettiska centret", {"ES", "LV"}),
        ("el Reino Unido y los Países Bajos", {"GB", "NL"}),
        # Common words that only look like country names.
        ("som en del av projektet, es un ejemplo", set()),
        ("an island of calm in the market", set()),
        ("how to polish the final report", set()),
    ],
)
def test_country_mentions(text, codes):
    assert set(mentions(text)) == codes


def test_country_mentions_keep_the_words_and_filter_codes():
    assert mentions("Kura Vācijas federālā zeme?") == {"DE": "Vācijas"}
    assert mentions("Spain and Sweden", {"SE"}) == {"SE": "Sweden"}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("pilotprojekts Gēteborgā", {"Gothenburg"}),
        ("le pilote de Göteborg", {"Gothenburg"}),
        ("the West Coast network in Gothenburg", {"Gothenburg"}),
        ("pilotprojektā Malmē", {"Malmö"}),
        ("Kāds inkubators darbojas Parīzē un Briselē?", {"Paris", "Brussels"}),
        ("Varšavas, Madridē un Rīgā", {"Warsaw", "Madrid", "Riga"}),
        ("i Göteborgs kommun, en Séville", {"Gothenburg", "Sevilla"}),
        ("une conférence à Bruxelles et à Lisbonne", {"Brussels", "Lisbon"}),
        # Words that begin like a city's name but are none.
        ("atender a las familias con un enfoque pragmático", set()),
        ("viena no metodēm", set()),
    ],
)
def test_city_mentions(text, names):
    assert set(cities(text)) == names


@pytest.mark.parametrize(
    "text",
    [
        "Kāds inkubators darbojas Parīzē un Briselē? Pilotprojekts Gēteborgā, Varšavas un Rīgā.",
        "i Göteborgs kommun, en Séville, une conférence à Bruxelles et à Lisbonne; le pilote de Göteborg",
        "Francijā un Spānijā, i Frankrike och Lettland, en France et en Lettonie, the EU and Europe",
    ],
)
def test_places_looked_for_among_given_ones_are_found_as_among_all(text):
    """A search for given places (the passages of an answer, long) skips the words that cannot
    begin one of their names; it finds what the search for every place finds among them."""
    every_city, every_country = cities(text), mentions(text)
    assert len(every_city) + len(every_country) >= 4
    for wanted in [set(every_city), {"Paris"}, {"Brussels", "Riga"}, {"Oslo"}]:
        assert cities(text, wanted) == {k: v for k, v in every_city.items() if k in wanted}
    for codes in [set(every_country), {"FR"}, {"LV", "EU"}, {"DE"}]:
        assert mentions(text, codes) == {k: v for k, v in every_country.items() if k in codes}


def test_names_the_passages_do_not_address():
    from sihub.assistant.names import names_in, unsupported
    from sihub.types import Chunk, Hit

    def hit(text: str, country: str = "") -> Hit:
        return Hit(Chunk(path="d.md", text=text, lang="sv"), 1.0, doc_meta={"country": country} if country else {})

    swedish = [hit("Kompetenscentret i Sverige leds av Mötesplats Social Innovation.", "SE")]
    assert unsupported("Finns det ett kompetenscentrum i Danmark?", swedish) == ["Danmark"]
    # A country named in another language, or the country a document comes from, is addressed.
    spanish = [hit("España no cuenta todavía con un centro nacional.")]
    assert unsupported("Cik mezglu paredz Spānijas ceļvedis?", spanish) == []
    assert unsupported("Vem leder centret i Sverige?", [hit("Centret leds av MSI.", "SE")]) == []
    # Other names: absent from every passage -> not addressed.
    assert unsupported("Hur många anställda har Vinnova?", swedish) == ["Vinnova"]
    assert names_in("Hur många projekt stödde Reach for Change 2022?") == ["Reach", "Change", "2022"]


@pytest.mark.parametrize(
    ("question", "several"),
    [
        ("Which projects were launched in the pilot?", True),
        ("What are the core elements that cannot change?", True),
        ("What conditions did a practice have to meet?", True),
        ("Vilka teman hade rundabordssamtalen?", True),
        ("Quels modules les participants ont-ils jugés utiles ?", True),
        ("Quelles sont les fonctions prévues ?", True),
        ("¿Qué funciones tendría el centro?", True),
        ("¿Cuáles son los objetivos del plan?", True),
        ("Kādus soļus ietver cikls?", True),
        ("Kādi projekti tika uzsākti?", True),
        # One thing asked for, or a name that only ends in "s".
        ("Which Erasmus work package did the agency lead?", False),
        ("What is the provisional name of the centre?", False),
        ("Vilken kommun samordnar arbetspaket 2?", False),
        ("Quel montant la commune a-t-elle réservé ?", False),
        ("¿Qué presupuesto anual tendrá el centro?", False),
        ("Kura valsts vada WP5?", False),
        ("How many partners are there?", False),
        ("What does Avise do?", False),
        ("What was the total budget?", False),
        ("Which organisation leads WP3?", False),
        ("¿Qué recomienda el informe?", False),
    ],
)
def test_questions_that_ask_for_several_things(question, several):
    from sihub.assistant.kinds import asks_several

    assert asks_several(question) is several


def test_years_no_quoted_passage_mentions():
    from sihub.assistant.names import years_unmentioned

    texts = ["The hub's website will be kept online until the end of the project.", "Budget 2024–2026: 1.2 M€"]
    assert years_unmentioned("Will the portal still be online in 2025?", texts) == ["2025"]
    assert years_unmentioned("What is the budget for 2024?", texts) == []
    assert years_unmentioned("Cik dalībnieku bija 2022. gadā un 2024. gadā?", texts) == ["2022"]
    # Only whole years: a figure or a code holding one is not a year.
    assert years_unmentioned("How many projects since 2019?", ["120190 visitors, WP2019"]) == ["2019"]
    assert years_unmentioned("What does the hub offer?", texts) == []
