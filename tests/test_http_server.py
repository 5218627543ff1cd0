"""A hostile client against a real `sihub serve` process (issue 18).

One server (a subprocess on a free loopback port, hash embedder, small limits) serves the
module; it runs in a folder other than the one its index was built in. Each test is a finding
of the issue: Gradio events that read server files, anonymous uploads, forwarded headers, host
names, cross-site writes, unbounded bodies, upload races, paths.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("gradio")

from conftest import TLS, serving  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "hub-coordinator-secret"
MARKER = "TOPSECRET-issue-18"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}
get, post, delete = (partial(f, verify=TLS) for f in (httpx.get, httpx.post, httpx.delete))
DOC = b"# Notes\n\nA cooperative bakery in Kiruna employs nine people.\n"


@dataclass
class Server:
    base: str
    site: Path
    secret: Path
    gradio_dir: Path

    def url(self, path: str) -> str:
        return self.base + path


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIHUB_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),  # this checkout's code, whatever folder the server runs in
            "SIHUB_EMBEDDER": "hash",
            "SIHUB_WARM_QUOTES": "0",
            "SIHUB_ADMIN_PASSWORD": PASSWORD,
            "SIHUB_MAX_UPLOAD_MB": "0.05",
            "SIHUB_MAX_UPLOAD_FILES": "3",
            "SIHUB_MAX_REQUEST_KB": "64",
            "GRADIO_TEMP_DIR": str(root / "gradio"),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
        }
    )
    env.update(extra)
    return env


def _build_site(root: Path) -> Path:
    """A library and an index built from it by `sihub ingest docs` in the site folder (relative paths)."""
    site = root / "site"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "riga.txt").write_text("The incubator in Riga mentors social enterprises.\n", encoding="utf-8")
    (site / "docs" / "malmo.txt").write_text("Malmö reserved five percent of contracts.\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "sihub.cli", "--index", "index", "ingest", "-q", "docs"]
    subprocess.run(cmd, cwd=site, env=_env(root), check=True, capture_output=True)
    return site


@contextmanager
def running(root: Path, site: Path, **env: str) -> Iterator[str]:
    """`sihub serve` over `site`, started in a folder of its own; yields its base URL."""
    elsewhere = root / f"cwd-{uuid.uuid4().hex[:6]}"
    elsewhere.mkdir()
    with serving(site / "index", site / "library", _env(root, **env), elsewhere) as base:
        yield base


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("server")
    site = _build_site(root)
    secret = root / "secret.txt"
    secret.write_text(f"{MARKER}\n", encoding="utf-8")
    with running(root, site) as base:
        yield Server(base, site, secret, root / "gradio")


# ---- Gradio's event API -------------------------------------------------------------------------


def gradio_call(base: str, fn_index: int, data: list, session: str | None = None) -> str:
    """Run one Gradio event through its queue (as the page does); the event stream's text."""
    session = session or uuid.uuid4().hex[:12]
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = post(f"{base}/gradio_api/queue/join", json=body, timeout=30)
    if joined.status_code != 200:
        return joined.text
    return get(f"{base}/gradio_api/queue/data", params={"session_hash": session}, timeout=60).text


def file_data(path: str | Path) -> dict:
    """How Gradio's API names a file."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def events(base: str) -> list[dict]:
    return get(f"{base}/config", timeout=30).json()["dependencies"]


def event_index(base: str, name: str) -> int:
    return next(i for i, d in enumerate(events(base)) if d.get("api_name") == name)


def fetched_files(base: str, text: str) -> list[str]:
    """The bodies behind every Gradio file URL in `text`."""
    urls = set(re.findall(r"/gradio_api/file=[^\"\\\s]+", text))
    return [get(base + u, timeout=30).text for u in urls]


def test_no_gradio_event_copies_or_returns_a_server_file(server):
    """Finding 1: a FileData naming a server file, in any input of any event, is refused."""
    payloads = []
    for path in (server.secret, "/proc/self/environ"):
        fd = file_data(path)
        payloads += [fd, [fd], [{"role": "user", "content": [{"type": "file", "file": fd}]}]]
    seen = ""
    for i, event in enumerate(events(server.base)):
        for position in range(len(event["inputs"])):
            for payload in payloads:
                data: list = [None] * len(event["inputs"])
                data[position] = payload
                out = gradio_call(server.base, i, data)
                seen += out + "".join(fetched_files(server.base, out))
    # The issue's own request: the chat history as the second value of `respond`.
    chat = [{"role": "user", "content": [{"type": "file", "file": file_data(server.secret)}]}]
    call = post(server.url("/gradio_api/call/respond"), json={"data": ["incubator", chat]}, timeout=30)
    if call.status_code == 200:
        out = get(server.url(f"/gradio_api/call/respond/{call.json()['event_id']}"), timeout=60).text
        seen += out + "".join(fetched_files(server.base, out))
    assert MARKER not in seen and PASSWORD not in seen
    copies = [p for p in server.gradio_dir.rglob("*") if p.is_file() and MARKER in p.read_text(errors="replace")]
    assert not copies, copies
    assert not (server.site / "library" / "uploads" / "secret.txt").exists()


def chat_inputs(question: str) -> list:
    """The chat event's inputs: question, conversation, one document ("Ask about it"), the
    "Compare by country" switch, the five filters."""
    return [question, None, "", False] + ["any"] * 5


def test_the_chat_refuses_an_overlong_question_at_once(server):
    """Finding 2: the chat path has the same length cap as the API."""
    out = gradio_call(server.base, event_index(server.base, "respond"), chat_inputs("Zorblax " * 400))
    assert "at most 2,000" in out and "Searching" not in out


def test_a_long_chat_keeps_answering(server):
    """The chat's history is server-side and trimmed to SIHUB_MAX_HISTORY_TURNS for each question."""
    session, respond = uuid.uuid4().hex[:12], event_index(server.base, "respond")
    for i in range(22):
        out = gradio_call(server.base, respond, chat_inputs(f"Which incubator mentors enterprises, take {i}?"), session)
        assert '"success":true' in out.replace(" ", "") and "history" not in out, out[-400:]


def test_the_file_route_fetches_no_web_address(server):
    """Gradio's file route fetched any public URL for whoever asked."""
    for path in ("/gradio_api/file=https://example.org/x.txt", "/gradio_api/file=http://203.0.113.9/a"):
        r = get(server.url(path))
        assert r.status_code == 403 and r.json()["error"], path


# ---- uploads ------------------------------------------------------------------------------------


def page_upload(server: Server, n: int = 1, size: int = len(DOC), **kwargs) -> httpx.Response:
    files = [("files", (f"n{i}.md", DOC.ljust(size, b" "), "text/markdown")) for i in range(n)]
    return post(server.url("/gradio_api/upload"), files=files, timeout=30, **kwargs)


def upload_token(server: Server) -> str:
    out = gradio_call(server.base, event_index(server.base, "unlock"), [PASSWORD])
    return re.search(r"\b\d{10}\.[0-9a-f]{64}\b", out).group(0)


def test_page_uploads_need_the_password(server):
    """Finding 4: /gradio_api/upload is refused without the upload cookie or the password."""
    before = {p for p in server.gradio_dir.rglob("*") if p.is_file()}
    for kwargs in ({}, {"headers": {"Authorization": "Bearer wrong"}}, {"cookies": {"sihub_upload": "1.x"}}):
        r = page_upload(server, **kwargs)
        assert r.status_code in (401, 403) and r.json()["error"], r.text
    stranger = page_upload(server, headers={**AUTH, "Origin": "http://evil.example"})
    assert stranger.status_code == 403
    assert {p for p in server.gradio_dir.rglob("*") if p.is_file()} == before
    token = upload_token(server)
    assert page_upload(server, cookies={"sihub_upload": token}).status_code == 200
    assert page_upload(server, headers=AUTH).status_code == 200


def test_page_uploads_are_capped_in_size_and_count(server):
    cookies = {"sihub_upload": upload_token(server)}
    assert page_upload(server, n=4, cookies=cookies).status_code == 413  # SIHUB_MAX_UPLOAD_FILES=3
    assert page_upload(server, size=80_000, cookies=cookies).status_code == 413  # SIHUB_MAX_UPLOAD_MB=0.05
    assert page_upload(server, n=3, cookies=cookies).status_code == 200


def test_adding_a_page_upload_keeps_no_copy_in_gradio(server):
    cookies = {"sihub_upload": upload_token(server)}
    paths = page_upload(server, cookies=cookies).json()
    out = gradio_call(server.base, event_index(server.base, "add_documents"), [[file_data(p) for p in paths], PASSWORD])
    assert "added 1" in out or "updated 1" in out or "unchanged 1" in out, out[-500:]
    assert not any(Path(p).exists() for p in paths)
    assert (server.site / "library" / "uploads" / "n0.md").is_file()


def api_upload(server: Server, files: list[tuple[str, bytes]]) -> httpx.Response:
    parts = [("files", (name, data, "text/markdown")) for name, data in files]
    # Uploads wait for one another (one writer): the last of eight concurrent ones on a loaded
    # two-core machine waits for the other seven ingests.
    return post(server.url("/api/documents"), files=parts, headers=AUTH, timeout=300)


def test_a_planted_temp_file_symlink_is_never_written_through(server, tmp_path):
    """Finding 5: `uploads/.<name>.part` was the fixed temporary name."""
    victim = tmp_path / "victim.md"
    victim.write_text("untouched\n", encoding="utf-8")
    uploads = server.site / "library" / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / ".planted.md.part").symlink_to(victim)
    assert api_upload(server, [("planted.md", DOC)]).status_code == 201
    assert victim.read_text(encoding="utf-8") == "untouched\n"
    assert (uploads / "planted.md").read_bytes() == DOC


def test_one_name_twice_in_one_upload_is_refused_for_the_second(server):
    """Finding 7: the second file of a name used to overwrite the first, reported as "added 2"."""
    r = api_upload(server, [("twice.md", DOC), ("twice.md", DOC.replace(b"nine", b"ten"))])
    assert r.status_code == 201
    results = r.json()["results"]
    assert [x["status"] for x in results].count("failed") == 1
    assert any("twice in one upload" in x["reason"] for x in results)
    assert "added 1" in r.json()["summary"]
    assert (server.site / "library" / "uploads" / "twice.md").read_bytes() == DOC


def test_concurrent_uploads_of_one_name_never_mix(server):
    """Finding 7: uploads of one name shared a temporary file (a 500, or a file mixed from both)."""
    contents = [DOC + f"Version {i}: ".encode() + bytes([65 + i]) * 45_000 for i in range(8)]
    for _ in range(3):
        codes: list[int] = []

        def send(data: bytes, codes: list[int] = codes) -> None:
            codes.append(api_upload(server, [("race.md", data)]).status_code)

        threads = [threading.Thread(target=send, args=(c,)) for c in contents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [201] * len(contents), codes
        assert (server.site / "library" / "uploads" / "race.md").read_bytes() in contents
    assert not list((server.site / "library" / "uploads").glob(".race.md*"))


def test_a_re_upload_keeps_the_document_id(server):
    """Finding 7: a replaced document kept its path but got a new id (breaking /files/{id} links)."""
    first = api_upload(server, [("again.md", DOC)]).json()["results"][0]
    second = api_upload(server, [("again.md", DOC + b"\nMore text about Kiruna.\n")]).json()["results"][0]
    assert second["status"] == "updated" and second["id"] == first["id"]


# ---- paths --------------------------------------------------------------------------------------


def test_files_are_served_whatever_folder_the_server_runs_in(server):
    """Finding 9: relative paths were resolved against the server's working folder."""
    docs = get(server.url("/api/documents")).json()["documents"]
    riga = next(d for d in docs if d["file"].endswith("riga.txt"))
    assert riga["file"] == "docs/riga.txt"
    r = get(server.url(f"/files/{riga['id']}"))
    assert r.status_code == 200 and "incubator in Riga" in r.text


def test_no_absolute_server_path_is_shown(server):
    """Finding 9: the page's config and the upload replies showed where the library lies."""
    assert str(server.site) not in get(server.url("/config")).text
    reply = api_upload(server, [("where.md", DOC)]).json()
    assert all(not Path(r["file"]).is_absolute() for r in reply["results"]), reply
    assert str(server.site) not in str(reply)


# ---- requests -----------------------------------------------------------------------------------


def test_bodies_over_the_limit_are_refused_at_once(server):
    """Finding 3: /api/ask took any body (a 47 MB history entry: 32 s, 1.4 GB)."""
    big = b'{"question": "incubator", "history": [{"role": "user", "content": "' + b"x" * 5_000_000 + b'"}]}'
    r = post(server.url("/api/ask"), content=big, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]

    def stream() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"question": "incubator", "history": [{"role": "user", "content": "'
        for _ in range(200):
            yield b"y" * 10_000
        yield b'"}]}'

    r = post(server.url("/api/ask"), content=stream(), headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]
    joined = post(server.url("/gradio_api/queue/join"), content=big, headers={"Content-Type": "application/json"})
    assert joined.status_code == 413


def test_a_host_the_server_does_not_serve_is_refused(server):
    """Finding 8: a page on a rebinding domain could reach a sihub on loopback."""
    for host in ("evil.example", "evil.example:7860", "attacker.localhost.evil"):
        r = get(server.url("/api/documents"), headers={"Host": host})
        assert r.status_code == 400 and "SIHUB_ALLOWED_HOSTS" in r.json()["error"], host
    for host in ("localhost", "127.0.0.1", "[::1]:80"):
        assert get(server.url("/api/health"), headers={"Host": host}).status_code == 200, host


def test_writes_from_another_site_are_refused(server):
    """Finding 4: a page of any site could post to the server (uploads, questions, the chat's events)."""
    body = {"question": "Which incubator mentors social enterprises?"}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        r = post(server.url("/api/ask"), json=body, headers=headers)
        assert r.status_code == 403 and r.json()["error"], headers
    same = post(server.url("/api/ask"), json=body, headers={"Origin": server.base})
    assert same.status_code == 200


def test_forwarded_headers_are_believed_only_from_trusted_proxies(tmp_path):
    """Finding 8: uvicorn believed X-Forwarded-For from loopback, so each try could name a new client."""
    site = _build_site(tmp_path)

    def wrong_tries(base: str, n: int) -> list[int]:
        headers = [{"Authorization": "Bearer wrong", "X-Forwarded-For": f"203.0.113.{i}"} for i in range(n)]
        return [delete(f"{base}/api/documents/1", headers=h).status_code for h in headers]

    with running(tmp_path, site) as base:
        assert wrong_tries(base, 7)[-2:] == [429, 429]
    with running(tmp_path, site, SIHUB_TRUSTED_PROXIES="127.0.0.1") as base:
        assert wrong_tries(base, 7) == [401] * 7  # seven clients behind the proxy, one try each
