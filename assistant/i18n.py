"""Interface text in the asker's language (sv, lv, fr, es, en; anything else falls back to English).

Also the question-language detector: questions are short, and the detector's near neighbours
(Norwegian and Danish for Swedish, Lithuanian for Latvian, Catalan or Portuguese for Spanish) win
too often on a dozen words, so the hub's five languages get the benefit of the doubt.
"""

from __future__ import annotations

import re
import threading

LANGS = ("sv", "lv", "fr", "es", "en")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "opening": "Here is what the documents say about “{topic}”:",
        "opening_followup": "Following up on “{previous}”, here is what the documents say about “{topic}”:",
        "not_found": "I found nothing about that in the documents.",
        "missing": "None of the passages found mentions {names}.",
        "no_money": "The closest passages give no amount.",
        "no_time": "The closest passages give no date.",
        "no_count": "The closest passages give no figure.",
        "no_score": "The closest passages give no rating.",
        "related": "Maybe related:",
        "open_document": "open document",
        "open_document_page": "open document at page {page}",
        "no_support": "No passage supports an answer.",
        "passage_lang": "language of the passage",
        "sources": "Sources: {sources}.",
        "lang_label": "in {name}",
        "page": "p. {page}",
        "unverified": "(not backed by a cited passage)",
        "llm_unreachable": "The language model could not be reached ({reason}); this answer quotes the documents directly.",
        "llm_timeout": "The language model did not answer within {seconds} s; this answer quotes the documents directly.",
        "llm_error": "The language model answered with an error ({reason}); this answer quotes the documents directly.",
        "llm_empty": "The language model's answer was empty or stated nothing; this answer quotes the documents directly.",
        "llm_refused": "The language model found no answer in the passages; this answer quotes the documents directly.",
        "llm_uncited": "The language model answered without citing any of the passages, so its answer was not used; this answer quotes the documents directly.",
        "llm_unsupported": "The passages the language model cited do not back its answer, so it was not used; this answer quotes the documents directly.",
        "llm_dropped": "Sentences without a source were removed from the model's answer.",
        "llm_unbacked": "Sentences that the passage they cite does not back were removed from the model's answer.",
        "empty_question": "Please ask a question.",
        "question": "Question",
        "references": "References",
    },
    "sv": {
        "opening": "Det här säger dokumenten om ”{topic}”:",
        "opening_followup": "Som uppföljning av ”{previous}” säger dokumenten det här om ”{topic}”:",
        "not_found": "Jag hittade inget om det i dokumenten.",
        "missing": "Inget av de funna styckena nämner {names}.",
        "no_money": "De närmaste styckena anger inget belopp.",
        "no_time": "De närmaste styckena anger inget datum.",
        "no_count": "De närmaste styckena anger ingen siffra.",
        "no_score": "De närmaste styckena anger inget betyg.",
        "related": "Kanske relaterat:",
        "open_document": "öppna dokumentet",
        "open_document_page": "öppna dokumentet på sidan {page}",
        "no_support": "Inget stycke stöder ett svar.",
        "passage_lang": "styckets språk",
        "sources": "Källor: {sources}.",
        "lang_label": "på {name}",
        "page": "s. {page}",
        "unverified": "(stöds inte av något citerat stycke)",
        "llm_unreachable": "Språkmodellen gick inte att nå ({reason}); svaret citerar dokumenten direkt.",
        "llm_timeout": "Språkmodellen svarade inte inom {seconds} s; svaret citerar dokumenten direkt.",
        "llm_error": "Språkmodellen svarade med ett fel ({reason}); svaret citerar dokumenten direkt.",
        "llm_empty": "Språkmodellens svar var tomt eller sade ingenting; svaret citerar dokumenten direkt.",
        "llm_refused": "Språkmodellen fann inget svar i styckena; svaret citerar dokumenten direkt.",
        "llm_uncited": "Språkmodellen svarade utan att hänvisa till något av styckena, så svaret användes inte; svaret citerar dokumenten direkt.",
        "llm_unsupported": "Styckena som språkmodellen hänvisade till stöder inte dess svar, så det användes inte; svaret citerar dokumenten direkt.",
        "llm_dropped": "Meningar utan källa togs bort ur modellens svar.",
        "llm_unbacked": "Meningar som stycket de hänvisar till inte stöder togs bort ur modellens svar.",
        "empty_question": "Ställ en fråga.",
        "question": "Fråga",
        "references": "Referenser",
    },
    "lv": {
        "opening": "Lūk, ko dokumenti saka par tēmu “{topic}”:",
        "opening_followup": "Turpinot jautājumu “{previous}”, lūk, ko dokumenti saka par tēmu “{topic}”:",
        "not_found": "Dokumentos par to neko neatradu.",
        "missing": "Neviens atrastais fragments nepiemin {names}.",
        "no_money": "Tuvākajos fragmentos nav norādīta summa.",
        "no_time": "Tuvākajos fragmentos nav norādīts datums.",
        "no_count": "Tuvākajos fragmentos nav norādīts skaitlis.",
        "no_score": "Tuvākajos fragmentos nav norādīts vērtējums.",
        "related": "Iespējams, saistīti:",
        "open_document": "atvērt dokumentu",
        "open_document_page": "atvērt dokumentu {page}. lappusē",
        "no_support": "Neviens fragments nepamato atbildi.",
        "passage_lang": "fragmenta valoda",
        "sources": "Avoti: {sources}.",
        "lang_label": "valodā: {name}",
        "page": "{page}. lpp.",
        "unverified": "(nav pamatots ar citētu fragmentu)",
        "llm_unreachable": "Valodas modelis nav sasniedzams ({reason}); atbilde citē dokumentus tieši.",
        "llm_timeout": "Valodas modelis neatbildēja {seconds} s laikā; atbilde citē dokumentus tieši.",
        "llm_error": "Valodas modelis atbildēja ar kļūdu ({reason}); atbilde citē dokumentus tieši.",
        "llm_empty": "Valodas modeļa atbilde bija tukša vai neko neapgalvoja; atbilde citē dokumentus tieši.",
        "llm_refused": "Valodas modelis fragmentos atbildi neatrada; atbilde citē dokumentus tieši.",
        "llm_uncited": "Valodas modelis atbildēja, neatsaucoties ne uz vienu fragmentu, tāpēc tā atbilde netika izmantota; atbilde citē dokumentus tieši.",
        "llm_unsupported": "Fragmenti, uz kuriem atsaucās valodas modelis, nepamato tā atbildi, tāpēc tā netika izmantota; atbilde citē dokumentus tieši.",
        "llm_dropped": "No modeļa atbildes izņemti teikumi bez avota.",
        "llm_unbacked": "No modeļa atbildes izņemti teikumi, ko nepamato fragments, uz kuru tie atsaucas.",
        "empty_question": "Lūdzu, uzdodiet jautājumu.",
        "question": "Jautājums",
        "references": "Atsauces",
    },
    "fr": {
        "opening": "Voici ce que disent les documents sur « {topic} » :",
        "opening_followup": "Pour faire suite à « {previous} », voici ce que disent les documents sur « {topic} » :",
        "not_found": "Je n'ai rien trouvé à ce sujet dans les documents.",
        "missing": "Aucun des passages trouvés ne mentionne {names}.",
        "no_money": "Les passages les plus proches ne donnent aucun montant.",
        "no_time": "Les passages les plus proches ne donnent aucune date.",
        "no_count": "Les passages les plus proches ne donnent aucun chiffre.",
        "no_score": "Les passages les plus proches ne donnent aucune note.",
        "related": "Peut-être en rapport :",
        "open_document": "ouvrir le document",
        "open_document_page": "ouvrir le document à la page {page}",
        "no_support": "Aucun passage n'étaye une réponse.",
        "passage_lang": "langue du passage",
        "sources": "Sources : {sources}.",
        "lang_label": "en {name}",
        "page": "p. {page}",
        "unverified": "(non étayé par un passage cité)",
        "llm_unreachable": "Le modèle de langue est injoignable ({reason}) ; cette réponse cite directement les documents.",
        "llm_timeout": "Le modèle de langue n'a pas répondu en {seconds} s ; cette réponse cite directement les documents.",
        "llm_error": "Le modèle de langue a répondu par une erreur ({reason}) ; cette réponse cite directement les documents.",
        "llm_empty": "La réponse du modèle de langue était vide ou n'affirmait rien ; cette réponse cite directement les documents.",
        "llm_refused": "Le modèle de langue n'a pas trouvé de réponse dans les passages ; cette réponse cite directement les documents.",
        "llm_uncited": "Le modèle de langue a répondu sans citer aucun des passages, sa réponse n'a donc pas été retenue ; cette réponse cite directement les documents.",
        "llm_unsupported": "Les passages cités par le modèle de langue n'étayent pas sa réponse, qui n'a donc pas été retenue ; cette réponse cite directement les documents.",
        "llm_dropped": "Les phrases sans source ont été retirées de la réponse du modèle.",
        "llm_unbacked": "Les phrases que le passage cité n'étaye pas ont été retirées de la réponse du modèle.",
        "empty_question": "Posez une question.",
        "question": "Question",
        "references": "Références",
    },
    "es": {
        "opening": "Esto es lo que dicen los documentos sobre «{topic}»:",
        "opening_followup": "Siguiendo con «{previous}», esto es lo que dicen los documentos sobre «{topic}»:",
        "not_found": "No encontré nada sobre eso en los documentos.",
        "missing": "Ninguno de los pasajes encontrados menciona {names}.",
        "no_money": "Los pasajes más cercanos no indican ninguna cantidad de dinero.",
        "no_time": "Los pasajes más cercanos no indican ninguna fecha.",
        "no_count": "Los pasajes más cercanos no indican ninguna cifra.",
        "no_score": "Los pasajes más cercanos no indican ninguna valoración.",
        "related": "Quizá relacionado:",
        "open_document": "abrir el documento",
        "open_document_page": "abrir el documento en la página {page}",
        "no_support": "Ningún pasaje respalda una respuesta.",
        "passage_lang": "idioma del pasaje",
        "sources": "Fuentes: {sources}.",
        "lang_label": "en {name}",
        "page": "p. {page}",
        "unverified": "(sin respaldo en un pasaje citado)",
        "llm_unreachable": "No se pudo contactar con el modelo de lenguaje ({reason}); esta respuesta cita los documentos directamente.",
        "llm_timeout": "El modelo de lenguaje no respondió en {seconds} s; esta respuesta cita los documentos directamente.",
        "llm_error": "El modelo de lenguaje respondió con un error ({reason}); esta respuesta cita los documentos directamente.",
        "llm_empty": "La respuesta del modelo de lenguaje estaba vacía o no afirmaba nada; esta respuesta cita los documentos directamente.",
        "llm_refused": "El modelo de lenguaje no encontró respuesta en los pasajes; esta respuesta cita los documentos directamente.",
        "llm_uncited": "El modelo de lenguaje respondió sin citar ninguno de los pasajes, así que su respuesta no se usó; esta respuesta cita los documentos directamente.",
        "llm_unsupported": "Los pasajes que citó el modelo de lenguaje no respaldan su respuesta, así que no se usó; esta respuesta cita los documentos directamente.",
        "llm_dropped": "Se eliminaron de la respuesta del modelo las frases sin fuente.",
        "llm_unbacked": "Se eliminaron de la respuesta del modelo las frases que el pasaje citado no respalda.",
        "empty_question": "Haga una pregunta.",
        "question": "Pregunta",
        "references": "Referencias",
    },
}

# Language names in each interface language (the language a quoted passage is written in).
LANG_NAMES: dict[str, dict[str, str]] = {
    "en": {"sv": "Swedish", "lv": "Latvian", "fr": "French", "es": "Spanish", "en": "English"},
    "sv": {"sv": "svenska", "lv": "lettiska", "fr": "franska", "es": "spanska", "en": "engelska"},
    "lv": {"sv": "zviedru", "lv": "latviešu", "fr": "franču", "es": "spāņu", "en": "angļu"},
    "fr": {"sv": "suédois", "lv": "letton", "fr": "français", "es": "espagnol", "en": "anglais"},
    "es": {"sv": "sueco", "lv": "letón", "fr": "francés", "es": "español", "en": "inglés"},
}


def ui_lang(lang: str) -> str:
    """The interface language used for `lang`: itself when supported, else English."""
    return lang if lang in LABELS else "en"


def label(lang: str, key: str, /, **values: object) -> str:
    """The interface text `key` in `lang` (English for unsupported languages), formatted."""
    text = LABELS[ui_lang(lang)].get(key) or LABELS["en"][key]
    return text.format(**values) if values else text


def lang_name(code: str, in_lang: str) -> str:
    """The name of language `code` written in the interface language; the code itself if unknown."""
    return LANG_NAMES[ui_lang(in_lang)].get(code, code)


def country_name(code: str, in_lang: str) -> str:
    """The name of country (or region) `code` in the interface language, from CLDR through Babel:
    "LV" reads "Lettland" to a Swedish asker, "EU" "Unión Europea" to a Spanish one. A value CLDR
    does not know as a territory code (a name already) is returned as it is."""
    from babel import Locale

    text = str(code).strip()
    return Locale.parse(ui_lang(in_lang)).territories.get(text.upper(), text) if text else text


# ---- question language -------------------------------------------------------------------------

_NEIGHBOURS = {"no": "sv", "nb": "sv", "nn": "sv", "da": "sv", "lt": "lv", "ca": "es", "gl": "es", "pt": "es"}
_HINTS = (
    ("lv", re.compile(r"[āēīūķļņģ]", re.IGNORECASE)),
    ("sv", re.compile(r"å", re.IGNORECASE)),
    ("es", re.compile(r"[ñ¿¡]", re.IGNORECASE)),
)
_lock = threading.Lock()


def _probabilities(text: str) -> list[tuple[str, float]]:
    from langdetect import DetectorFactory, LangDetectException, detect_langs

    with _lock:
        DetectorFactory.seed = 0  # the same text always gets the same answer
        try:
            return [(str(p.lang), float(p.prob)) for p in detect_langs(text[:2000])]
        except LangDetectException:
            return []


def hinted_language(text: str) -> str | None:
    """The hub language whose own letters `text` uses (Latvian long vowels, Swedish å, Spanish ñ ¿ ¡)."""
    for lang, pattern in _HINTS:
        if pattern.search(text):
            return lang
    return None


def question_language(text: str, fallback: str = "en") -> str:
    """ISO 639-1 code of a question; the hub's five languages win close calls.

    Names keep their own letters inside any language ("Zaļā adata", "Umeå"), so when only a
    few words hold a language's own letters, the detector first reads the question without
    them; when that is clear, it decides. Otherwise those letters (Latvian long vowels, Swedish å, Spanish ñ
    and inverted marks) decide, then the detector on the whole text, a neighbour of a hub
    language mapped to it; `fallback` when the text is too short to tell.
    """
    words = text.split()
    named = [w for w in words if hinted_language(w)]
    plain = " ".join(w for w in words if not hinted_language(w))
    if named and 3 * len(named) <= len(words) and sum(ch.isalpha() for ch in plain) >= 12:
        probs = _probabilities(plain)
        if probs and probs[0][1] >= 0.9 and probs[0][0] in LANGS:
            return probs[0][0]
    hinted = hinted_language(text)
    if hinted:
        return hinted
    if sum(ch.isalpha() for ch in text) < 8:
        return fallback
    probs = _probabilities(text)
    if not probs:
        return fallback
    top, p = probs[0]
    if top in LANGS:
        return top
    for lang, q in probs:
        if lang in LANGS and q >= 0.2:
            return lang
    if top in _NEIGHBOURS:
        return _NEIGHBOURS[top]
    return top if p >= 0.6 else fallback
