// The PDF view of /view/{id}: PDF.js renders the cited page and outlines the lines that hold
// the quoted passage. Served by sihub (viewer.py) beside PDF.js itself; the page's data
// (file, page, quote) comes in the JSON block #viewer-data.
import * as pdfjsLib from "/viewer/pdfjs/pdf.min.mjs";

const data = JSON.parse(document.getElementById("viewer-data").textContent);
const canvas = document.getElementById("page-canvas");
const marks = document.getElementById("marks");
const stage = document.getElementById("stage");
const info = document.getElementById("page-info");
pdfjsLib.GlobalWorkerOptions.workerSrc = "/viewer/pdfjs/pdf.worker.min.mjs";

const squash = (s) => s.replace(/\s+/g, "").replace(/\u00ad/g, "");

// The text items that hold `quote`: found in the page's text without white space (PDF lines
// break where the chunk did not); failing that, from the quote's first to its last 40 letters
// (a hyphenated word or a ligature in between).
function locate(items, quote) {
  let flat = "";
  const owner = [];
  items.forEach((item, i) => {
    const s = squash(item.str);
    flat += s;
    for (let k = 0; k < s.length; k++) owner.push(i);
  });
  const q = squash(quote);
  if (!q) return [];
  let at = flat.indexOf(q);
  let length = q.length;
  if (at < 0) {
    const head = q.slice(0, 40);
    const tail = q.slice(-40);
    const a = flat.indexOf(head);
    const b = a >= 0 ? flat.indexOf(tail, a) : -1;
    if (a < 0) return [];
    at = a;
    length = b >= 0 ? b + tail.length - a : head.length;
  }
  return [...new Set(owner.slice(at, at + length))];
}

async function main() {
  const pdf = await pdfjsLib.getDocument({
    url: data.file,
    isEvalSupported: false,
    standardFontDataUrl: "/viewer/pdfjs/standard_fonts/",
  }).promise;
  let current = Math.min(Math.max(1, data.page || 1), pdf.numPages);

  async function show(n) {
    const page = await pdf.getPage(n);
    const base = page.getViewport({ scale: 1 });
    const room = Math.min(stage.parentElement.clientWidth || base.width, 1100);
    const viewport = page.getViewport({ scale: room / base.width });
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.floor(viewport.width * ratio);
    canvas.height = Math.floor(viewport.height * ratio);
    canvas.style.width = `${viewport.width}px`;
    canvas.style.height = `${viewport.height}px`;
    stage.style.width = `${viewport.width}px`;
    stage.style.height = `${viewport.height}px`;
    await page.render({
      canvasContext: canvas.getContext("2d"),
      viewport,
      transform: ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : null,
    }).promise;
    marks.replaceChildren();
    let found = 0;
    if (data.quote && n === data.page) {
      const text = await page.getTextContent();
      const items = text.items.filter((item) => "str" in item);
      for (const i of locate(items, data.quote)) {
        const item = items[i];
        const tx = pdfjsLib.Util.transform(viewport.transform, item.transform);
        const height = Math.hypot(tx[2], tx[3]);
        const box = document.createElement("div");
        box.className = "quote-mark";
        box.style.left = `${tx[4]}px`;
        box.style.top = `${tx[5] - height}px`;
        box.style.width = `${item.width * viewport.scale}px`;
        box.style.height = `${height * 1.2}px`;
        marks.appendChild(box);
        found += 1;
      }
    }
    current = n;
    info.textContent = data.pageLabel.replace("{page}", n).replace("{pages}", pdf.numPages);
    document.getElementById("prev").disabled = n <= 1;
    document.getElementById("next").disabled = n >= pdf.numPages;
    document.body.dataset.page = String(n);
    document.body.dataset.highlighted = String(found);
    if (found) marks.firstChild.scrollIntoView({ block: "center" });
  }

  document.getElementById("prev").addEventListener("click", () => current > 1 && show(current - 1));
  document.getElementById("next").addEventListener("click", () => current < pdf.numPages && show(current + 1));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowLeft" && current > 1) show(current - 1);
    if (ev.key === "ArrowRight" && current < pdf.numPages) show(current + 1);
  });
  await show(current);
}

main().catch((err) => {
  document.body.dataset.error = String(err);
  info.textContent = data.failed;
});
