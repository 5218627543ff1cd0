"""Answer quality on the demo corpus's gold questions, by split, with gold removal; and the fit
of the answer verdict (assistant/verdict.py).

Every gold question gets a split, dev (tune on it) or test (report only, about 40 %), fixed
by a seeded hash of its id (`split_of`). For every question the real pipeline runs
(`assistant.ask.prepare`: retrieval, evidence, verdict; then the extractive answer) and is
judged:

- answerable: `found`, and some citation is on the gold page (file + page; page null = any
  page of the file) with a quote that contains a gold fact (case- and whitespace-insensitive);
- unanswerable: `found` is false;
- gold removal: every answerable question whose facts stand in no other document is asked
  again with its gold document removed from the index, and `found` must be false;
- language: `answer.language` is the question's gold language and the answer opens with the
  opening line (or the not-found line) of that language.

`--fit` refits the verdict's logistic model on the dev cases (gold questions with their
document, without it, the unanswerable and off-topic ones) and on a sample of the public
question sets in ../shared/eval (XQuAD-R, SweQUAD-MC: each question with its paragraph
indexed and removed), writes assistant/verdict.json, and reports dev and test side by side.
`--public-test N` adds N other questions of each public set (the last N in the hash's order),
never fitted on, as a held-out column: a test of the verdict on documents and questions the gold set does not share.

    .venv/bin/python bench/answers.py                 # dev / test / removal figures
    .venv/bin/python bench/answers.py --fit           # refit the verdict, then report
    .venv/bin/python bench/answers.py --fit --public 0 --no-save
    .venv/bin/python bench/answers.py --public-test 40 --no-save   # and 200 held-out public cases
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import GOLD, ROOT, SHARED_EVAL, _jsonl, report, run_info, table  # noqa: E402

CORPUS = ROOT / "corpus"
# The dev/test split of the gold questions: a seeded hash of the id (see `split_of`).
SPLIT_SEED = "sihub-gold-v1"
TEST_SHARE = 0.4
# The public QA sets whose questions (with and without their paragraph) train the verdict.
PUBLIC_SETS = ("xquadr_en-en", "xquadr_es-es", "xquadr_en-es", "xquadr_es-en", "swequad_sv-sv")


# Questions far from anything a social-innovation hub holds, in the five languages: the answer
# threshold must turn these away with a margin (the gold set's unanswerable questions are
# near misses instead: the topic is there, the asked detail is not).
OFF_TOPIC = [
    ("sv", "Hur lång tid ska kanelbullar gräddas i ugnen?"),
    ("sv", "Vem vann herrarnas 100 meter i friidrotts-VM 1991?"),
    ("lv", "Kā pareizi nomainīt velosipēda ķēdi?"),
    ("lv", "Cik ilgi jāvāra griķi?"),
    ("fr", "Quelle est la recette traditionnelle de la tarte Tatin ?"),
    ("fr", "Combien de lunes possède la planète Jupiter ?"),
    ("es", "¿Cuál es la mejor época para plantar tomates en el huerto?"),
    ("es", "¿Quién escribió la novela Cien años de soledad?"),
    ("en", "How do I replace the battery in a wristwatch?"),
    ("en", "What is the boiling point of water at the top of Mount Everest?"),
    # Added in the second pass, after these were found answered (questions naming places or
    # numbers the documents also hold are the hard ones):
    ("sv", "Vilken är Sveriges högsta berg?"),
    ("sv", "Hur gör man surdegsbröd?"),
    ("sv", "Hur många invånare har Malmö?"),
    ("lv", "Kas uzvarēja hokeja pasaules čempionātā 2023. gadā?"),
    ("lv", "Kā iestādīt tomātus siltumnīcā?"),
    ("lv", "Cik maksā biļete uz Rīgas zooloģisko dārzu?"),
    ("fr", "Quelle est la capitale de l'Australie ?"),
    ("fr", "Comment réparer une fuite de robinet ?"),
    ("fr", "Quel est le budget de la ville de Lyon ?"),
    ("es", "¿Cuántos jugadores tiene un equipo de fútbol?"),
    ("es", "¿Cómo se prepara una paella valenciana?"),
    ("es", "¿Cuántos habitantes tiene Zaragoza?"),
    ("en", "What is the speed of light in a vacuum?"),
    ("en", "Who painted the Mona Lisa?"),
    ("en", "How much does a new electric car cost in Sweden?"),
    ("en", "When was the Eiffel Tower built?"),
]


def norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u00ad", "")
    return re.sub(r"\s+", " ", text).strip().casefold()


def rel_path(path: str) -> str:
    """A chunk's path relative to corpus/, however the corpus was ingested."""
    p = path.replace("\\", "/")
    marker = "corpus/"
    return p[p.rindex(marker) + len(marker) :] if marker in p else p


def split_of(case_id: str) -> str:
    """The split of a case: test for about TEST_SHARE of the ids, dev for the rest (a seeded hash)."""
    digest = hashlib.sha256(f"{SPLIT_SEED}:{case_id}".encode()).hexdigest()
    return "test" if int(digest[:8], 16) / 0xFFFFFFFF < TEST_SHARE else "dev"


def judge(answer: Any, gold: dict[str, Any]) -> dict[str, Any]:
    """How one answer fares against its gold row (see the module doc): language and verbatim quotes."""
    from sihub.assistant.i18n import label

    lang = gold["lang"]
    first = answer.answer.split("\n", 1)[0]
    expected = label(lang, "opening", topic="\0").split("\0")[0] if answer.found else label(lang, "not_found")
    return {
        "lang_ok": answer.language == lang and first.startswith(expected),
        "verbatim": all(c.quote and c.quote in c.text for c in answer.citations),
    }


def cited(answer: Any, gold: dict[str, Any]) -> bool:
    """Whether a citation of `answer` is on the gold page with a quote holding a gold fact."""
    facts = [norm(f) for f in gold.get("facts") or []]
    return any(
        rel_path(c.file) == gold["file"]
        and (gold.get("page") is None or c.page == gold["page"])
        and any(f in norm(c.quote) for f in facts)
        for c in answer.citations
    )


def build(index_dir: Path, folder: Path, fresh: bool = False) -> Any:
    """An Assistant over `folder` (incremental ingest; the embedding cache makes re-runs cheap),
    warmed as the chat is (= `sihub warm`)."""
    from sihub.assistant import Assistant
    from sihub.assistant.evaluate import cached_embedder
    from sihub.settings import Settings

    settings = Settings.from_env(index=index_dir).replace(llm_url="")
    assistant = Assistant(settings, embedder=cached_embedder(settings))
    report_ = assistant.ingest([folder], rebuild=fresh)
    # An index copied from another checkout holds that checkout's files beside these (a sync
    # removes only what is missing under its own folder): the gold documents would stand twice
    # and gold removal would remove one copy. Such an index is rebuilt.
    root = folder.resolve()
    if not fresh and any(not Path(d.path).resolve().is_relative_to(root) for d in assistant.documents()):
        print(f"note: {index_dir} holds files outside {folder}; rebuilding it", file=sys.stderr)
        report_ = assistant.ingest([folder], rebuild=True)
    for f in report_.failed:
        print(f"warning: {f.path}: {f.reason}", file=sys.stderr)
    assistant.warm_quotes()
    return assistant


def ask_case(assistant: Any, question: str, gold: dict[str, Any] | None = None) -> dict[str, Any]:
    """One question through the pipeline: the verdict's features and probability, and (with a gold
    row) whether the extractive answer would cite right were it found."""
    from sihub.assistant.ask import extractive, prepare

    t0 = time.perf_counter()
    p = prepare(assistant, question)
    answer = extractive(assistant, question, p)
    row: dict[str, Any] = {
        "found": p.verdict.found,
        "p": p.verdict.probability,
        "features": p.verdict.features,
        "seconds": time.perf_counter() - t0,
    }
    if gold is not None:
        row.update(judge(answer, gold))
        if gold.get("answerable"):
            if not answer.found:  # judged as it would be answered if the verdict said found
                from sihub.assistant.compose import compose

                answer = compose(
                    question, p.lang, p.hits, assistant.embedder, query=p.resolved.query, evidence=p.evidence
                )
            row["cited"] = cited(answer, gold)
    return row


def gold_cases(assistant: Any) -> list[dict[str, Any]]:
    """The gold questions (answerable and not) and the off-topic ones, each asked once."""
    questions = _jsonl(GOLD) + [
        {"id": f"off-{n}", "question": q, "lang": lang, "answerable": False, "off_topic": True}
        for n, (lang, q) in enumerate(OFF_TOPIC, start=1)
    ]
    rows = []
    for g in questions:
        group = "answerable" if g.get("answerable") else "off-topic" if g.get("off_topic") else "unanswerable"
        rows.append(
            {
                "id": g["id"],
                "lang": g["lang"],
                "split": split_of(g["id"]),
                "group": group,
                "source": "gold",
                "label": int(group == "answerable"),
                **ask_case(assistant, g["question"], g),
            }
        )
    return rows


def numbers(text: str) -> set[str]:
    """The numbers of a text, digits only ("6.000" and "6 000" are "6000"), in any language."""
    return {re.sub(r"\D", "", m) for m in re.findall(r"\d+(?:[ .,\u00a0]\d{3})*", text)}


def stands_in(fact: str, passages: list[str]) -> bool:
    """Whether a gold fact also stands in one of `passages` (normalised texts): word for word, or,
    in any language, all its numbers in one passage when one of them has two digits or more
    ("2023. gada 16. un 17. februārī" stands in "on 16 and 17 February 2023")."""
    f = norm(fact)
    if any(f in t for t in passages):
        return True
    nums = numbers(f)
    if not nums or max(len(n) for n in nums) < 2:
        return False
    return any(nums <= numbers(t) for t in passages)


def removal_cases(assistant: Any, folder: Path) -> list[dict[str, Any]]:
    """Each answerable gold question again, its gold document removed (then put back); left out
    when one of its facts also stands in another document."""
    docs = {rel_path(d.path): d.path for d in assistant.documents()}
    passages = {rel: [norm(c.text) for c in assistant.chunks(path)] for rel, path in docs.items()}
    by_file: dict[str, list[dict[str, Any]]] = {}
    for g in _jsonl(GOLD):
        if not g.get("answerable") or g["file"] not in docs:
            continue
        others = [t for rel, ts in passages.items() if rel != g["file"] for t in ts]
        if not any(stands_in(f, others) for f in g.get("facts") or []):
            by_file.setdefault(g["file"], []).append(g)
    rows = []
    for file, golds in by_file.items():
        assistant.remove([docs[file]])
        try:
            for g in golds:
                rows.append(
                    {
                        "id": g["id"],
                        "lang": g["lang"],
                        "split": split_of(g["id"]),
                        "group": "removed",
                        "source": "gold",
                        "label": 0,
                        **ask_case(assistant, g["question"]),
                    }
                )
        finally:
            assistant.ingest([folder])
    return rows


def public_cases(
    per_set: int, sets: tuple[str, ...] = PUBLIC_SETS, held_out: int = 0, fitting: bool = True
) -> list[dict[str, Any]]:
    """Questions of the public QA sets, each with its paragraph indexed (answerable) and removed
    (not): the first `per_set` of each set in the seeded hash's order, for the fit (split "dev";
    asked only when `fitting`), and the last `held_out`, never fitted on (split "test"). Skipped
    when ../shared/eval is absent."""
    from sihub.assistant.evaluate import corpus_key, load_beir, write_corpus

    rows: list[dict[str, Any]] = []
    for name in sets:
        folder = SHARED_EVAL / name
        if (per_set if fitting else 0) + held_out <= 0 or not folder.is_dir():
            continue
        evalset = load_beir(folder)
        base = ROOT / ".sihub" / "bench" / f"public-{corpus_key(evalset)}"
        names = write_corpus(evalset, base / "docs")
        file_of = {doc_id: fname for fname, doc_id in names.items()}
        assistant = build(base / "index", base / "docs")
        paths = {Path(d.path).name: d.path for d in assistant.documents()}
        ordered = sorted(
            (q for q in evalset.queries if evalset.qrels.get(str(q["_id"]))),
            key=lambda q: hashlib.sha256(f"{SPLIT_SEED}:{q['_id']}".encode()).hexdigest(),
        )
        # The held-out questions come from the other end of the order: the same ones whatever
        # number the fit takes (as long as the two do not meet).
        fit_part = ordered[: min(per_set, len(ordered) - held_out)]
        queries = fit_part + (ordered[len(ordered) - held_out :] if held_out else [])
        per_set = len(fit_part)
        for n, q in enumerate(queries):
            doc = next(iter(evalset.qrels[str(q["_id"])]))
            path = paths.get(file_of.get(doc, ""))
            if path is None:
                continue
            split = "dev" if n < per_set else "test"
            if split == "dev" and not fitting:
                continue
            base_row = {"id": f"{name}:{q['_id']}", "lang": q.get("lang") or "", "split": split, "source": name}
            rows.append({**base_row, "group": "answerable", "label": 1, **ask_case(assistant, str(q["text"]))})
            assistant.remove([path])
            try:
                rows.append({**base_row, "group": "removed", "label": 0, **ask_case(assistant, str(q["text"]))})
            finally:
                assistant.ingest([base / "docs"])
        assistant.close()
        print(f"{name}: {per_set if fitting else 0} questions for the fit, {held_out} held out", file=sys.stderr)
    return rows


# ---- fitting and figures -----------------------------------------------------------------------


def fit_verdict(rows: list[dict[str, Any]], l2: float) -> Any:
    """The verdict's model fitted on the dev rows: each (source kind, label) group weighs the same
    in all, so hundreds of public cases do not drown the gold ones; the threshold balances the
    dev rates of answerable found and unanswerable turned away."""
    from sihub.assistant.verdict import choose_threshold, fit, vetoed

    # The cases a veto turns away are decided without the model: it is fitted on the others.
    train = [r for r in rows if r["split"] == "dev" and not vetoed(r["features"])]
    groups: dict[tuple[str, int], int] = {}
    for r in train:
        key = ("gold" if r["source"] == "gold" else "public", r["label"])
        groups[key] = groups.get(key, 0) + 1
    weights = [
        len(train) / (len(groups) * groups[("gold" if r["source"] == "gold" else "public", r["label"])]) for r in train
    ]
    params = fit([r["features"] for r in train], [r["label"] for r in train], weights, l2=l2)
    gold_dev = [r for r in train if r["source"] == "gold"]
    threshold = choose_threshold(
        params,
        [r["features"] for r in gold_dev if r["label"] == 1],
        [r["features"] for r in gold_dev if r["label"] == 0],
    )
    from dataclasses import replace

    return replace(
        params,
        threshold=threshold,
        fitted={
            "command": "python bench/answers.py --fit",
            "cases": {f"{k[0]}:{'answerable' if k[1] else 'not'}": n for k, n in sorted(groups.items())},
            "l2": l2,
            "split": {"seed": SPLIT_SEED, "test_share": TEST_SHARE},
            "date": run_info()["date"],
        },
    )


def redecide(rows: list[dict[str, Any]], params: Any, threshold: float | None = None) -> None:
    """Each row's `found` and `p` as `params` decide on its stored features."""
    from sihub.assistant.verdict import vetoed

    cut = params.threshold if threshold is None else threshold
    for r in rows:
        r["p"] = params.probability(r["features"]) if any(r["features"].values()) else 0.0
        r["found"] = r["p"] >= cut and not vetoed(r["features"])


def rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one column: answerable cited right and found, unanswerable and removed
    turned away, off-topic turned away, opening line in the question's language."""

    def share(sub: list[dict[str, Any]], ok: Any) -> tuple[float | None, int]:
        return (sum(bool(ok(r)) for r in sub) / len(sub) if sub else None), len(sub)

    ans = [r for r in rows if r["group"] == "answerable"]
    return {
        "cited": share([r for r in ans if "cited" in r], lambda r: r["found"] and r["cited"]),
        "answered": share(ans, lambda r: r["found"]),
        "unanswerable": share([r for r in rows if r["group"] == "unanswerable"], lambda r: not r["found"]),
        "removed": share([r for r in rows if r["group"] == "removed"], lambda r: not r["found"]),
        "off_topic": share([r for r in rows if r["group"] == "off-topic"], lambda r: not r["found"]),
        "lang_ok": share([r for r in rows if "lang_ok" in r], lambda r: r["lang_ok"]),
    }


def _cell(x: tuple[float | None, int]) -> str:
    return "-" if x[0] is None else f"{x[0]:.3f} ({x[1]})"


def figures_table(rows: list[dict[str, Any]]) -> str:
    gold = [r for r in rows if r["source"] == "gold"]
    public = [r for r in rows if r["source"] != "gold"]
    cols = {
        "dev": rates([r for r in gold if r["split"] == "dev"]),
        "test": rates([r for r in gold if r["split"] == "test"]),
    }
    if any(r["split"] == "dev" for r in public):
        cols["public (fit)"] = rates([r for r in public if r["split"] == "dev"])
    if any(r["split"] == "test" for r in public):
        cols["public (held out)"] = rates([r for r in public if r["split"] == "test"])
    labels = {
        "cited": ("answerable: cited on the gold page with a gold fact", ">= 0.90"),
        "answered": ("answerable: found", ">= 0.95"),
        "unanswerable": ("unanswerable: found = false", ">= 0.80"),
        "removed": ("gold removed: found = false", ">= 0.80"),
        "off_topic": ("off-topic: found = false", ""),
        "lang_ok": ("opening line in the question's language", "1.00"),
    }
    out = [[text, *(_cell(c[key]) for c in cols.values()), goal] for key, (text, goal) in labels.items()]
    gaps = []
    for key in labels:
        d, t = cols["dev"][key][0], cols["test"][key][0]
        if d is not None and t is not None:
            gaps.append(abs(d - t))
    out.append(["largest dev-test gap", "", f"{max(gaps):.3f}" if gaps else "-", *[""] * (len(cols) - 2), "<= 0.03"])
    return table(["figure", *cols, "goal"], out)


def sweep_table(rows: list[dict[str, Any]], params: Any) -> str:
    """Dev and test figures at thresholds around the fitted one (the rows keep their features)."""
    out = []
    for t in [round(params.threshold + d, 2) for d in (-0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15)]:
        redecide(rows, params, t)
        gold = [r for r in rows if r["source"] == "gold"]
        cells = []
        for split in ("dev", "test"):
            r = rates([x for x in gold if x["split"] == split])
            cells += [
                _cell(r["answered"]).split()[0],
                _cell(r["removed"]).split()[0],
                _cell(r["unanswerable"]).split()[0],
            ]
        out.append([t, *cells])
    redecide(rows, params)
    head = [
        "threshold",
        "dev found",
        "dev removed away",
        "dev unans. away",
        "test found",
        "test removed away",
        "test unans. away",
    ]
    return table(head, out)


def main() -> None:
    from sihub.assistant.verdict import PARAMS_PATH, VerdictParams

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=ROOT / ".sihub" / "bench" / "answers-index")
    ap.add_argument("--fresh", action="store_true", help="rebuild the corpus index from scratch")
    ap.add_argument("--fit", action="store_true", help="refit the verdict on the dev cases and write it")
    ap.add_argument("--out", type=Path, default=PARAMS_PATH, help="where --fit writes the model")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the fit")
    ap.add_argument("--public", type=int, default=40, help="questions per public set for --fit (0 = none)")
    ap.add_argument(
        "--public-test",
        type=int,
        default=0,
        help="further questions per public set, never fitted on, reported apart (with or without --fit)",
    )
    ap.add_argument("--rows", type=Path, help="save the cases' features here (JSON)")
    ap.add_argument("--from-rows", type=Path, help="use saved cases instead of asking again")
    ap.add_argument("--no-removal", action="store_true", help="skip the gold-removal cases")
    ap.add_argument("--sweep", action="store_true", help="the figures at other verdict thresholds")
    ap.add_argument("--verbose", action="store_true", help="one line per case")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true", help="do not append to bench/RESULTS.md")
    args = ap.parse_args()

    t0 = time.perf_counter()
    if args.from_rows:
        rows = json.loads(args.from_rows.read_text(encoding="utf-8"))
    else:
        assistant = build(args.index, CORPUS, args.fresh)
        rows = gold_cases(assistant)
        if not args.no_removal:
            rows += removal_cases(assistant, CORPUS)
        assistant.close()
        if args.fit or args.public_test:
            rows += public_cases(args.public, held_out=args.public_test, fitting=args.fit)
    if args.rows:
        args.rows.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    params = VerdictParams.load(args.out if args.out.exists() else PARAMS_PATH)
    if args.fit:
        params = fit_verdict(rows, args.l2)
        params.fitted["figures"] = {}
    redecide(rows, params)
    if args.fit:
        gold = [r for r in rows if r["source"] == "gold"]
        params.fitted["figures"] = {
            split: {k: v[0] for k, v in rates([r for r in gold if r["split"] == split]).items()}
            for split in ("dev", "test")
        }
        params.save(args.out)
    seconds = time.perf_counter() - t0
    body = [
        f"{sum(r['source'] == 'gold' and r['group'] != 'removed' for r in rows)} gold and off-topic questions, "
        f"{sum(r['source'] == 'gold' and r['group'] == 'removed' for r in rows)} gold-removal cases, "
        f"{sum(r['source'] != 'gold' for r in rows)} public cases; split seed {SPLIT_SEED!r}, "
        f"test share {TEST_SHARE}; verdict threshold {params.threshold}; {seconds:.0f} s.",
        "",
        figures_table(rows),
        "",
        "Verdict weights (standardised features): "
        + ", ".join(f"{n} {w:+.2f}" for n, w in zip(params.features, params.weights, strict=True))
        + f"; bias {params.bias:+.2f}.",
    ]
    if args.sweep:
        body += ["", sweep_table(rows, params)]
    misses = [
        r
        for r in rows
        if r["source"] == "gold"
        and (
            (r["group"] == "answerable" and not (r["found"] and r.get("cited")))
            or (r["group"] != "answerable" and r["found"])
        )
    ]
    if misses:
        body += [
            "",
            "Misses (id, split, group, p): "
            + ", ".join(f"{r['id']}/{r['split']}/{r['group']}/{r['p']:.2f}" for r in misses),
        ]
    if args.verbose:
        for r in rows:
            f = r["features"]
            print(
                f"{r['id'][:28]:28} {r['split']:4} {r['group']:12} found={r['found']!s:5} cited={r.get('cited', '-')!s:5} p={r['p']:.2f} "
                + " ".join(f"{k}=-" if v is None else f"{k}={v:.2f}" for k, v in f.items())
            )
    report(
        "Answers (gold questions, dev / test, gold removal)",
        "\n".join(body),
        run_info(),
        {"params": params.fitted, "rows": rows},
        args.json,
        save=not args.no_save,
    )


if __name__ == "__main__":
    main()
