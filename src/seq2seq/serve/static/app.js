"use strict";
// The page of `seq2seq serve`: calls /v1/translate and draws the first output's attention as SVG.
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const FONT = 'system-ui, "Noto Sans", "Noto Sans CJK KR", "Apple SD Gothic Neo", "Malgun Gothic", "NanumGothic", sans-serif';

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function errorText(status, body) {
  const d = body && body.detail;
  if (Array.isArray(d)) {
    return `${status}: ` + d.map((e) => `${(e.loc || []).filter((x) => x !== "body").join(".")}: ${e.msg}`).join("; ");
  }
  return `${status}: ${d || "request failed"}`;
}

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function heatmap(sourceTokens, outputTokens, attention) {
  const cell = 26, labelPad = 8;
  const measure = (tokens) => Math.max(30, ...tokens.map((t) => 9 * [...t].length + 12));
  const left = measure(outputTokens), top = measure(sourceTokens);
  const width = left + cell * sourceTokens.length + 4, height = top + cell * outputTokens.length + 4;
  const svg = el("svg", { id: "heatmap", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                          "aria-label": "attention heatmap", "font-family": FONT });
  sourceTokens.forEach((tok, j) => {
    const x = left + j * cell + cell / 2, y = top - labelPad;
    svg.appendChild(el("text", { x, y, transform: `rotate(-60 ${x} ${y})`, class: "source-label" }, tok === " " ? "␣" : tok));
  });
  outputTokens.forEach((tok, i) => {
    const y = top + i * cell + cell / 2 + 4;
    svg.appendChild(el("text", { x: left - labelPad, y, "text-anchor": "end", class: "output-label" }, tok === " " ? "␣" : tok));
    (attention[i] || []).forEach((w, j) => {
      const shade = Math.round(255 * (1 - Math.max(0, Math.min(1, w))));
      const rect = el("rect", { x: left + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1,
                                fill: `rgb(${shade},${shade},${Math.min(255, shade + 40)})` });
      rect.appendChild(el("title", {}, `${tok} ← ${sourceTokens[j]}: ${w.toFixed(3)}`));
      svg.appendChild(rect);
    });
  });
  return svg;
}

function render(inputs, data) {
  const results = $("results");
  results.replaceChildren();
  data.outputs.forEach((hyps, k) => {
    const box = document.createElement("div");
    box.className = "result";
    const src = document.createElement("div");
    src.className = "source";
    src.textContent = inputs[k];
    const list = document.createElement("ol");
    for (const h of hyps) {
      const li = document.createElement("li");
      const text = document.createElement("span");
      text.className = "output-text";
      text.textContent = h.text;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = h.score.toFixed(3);
      li.append(text, score);
      list.appendChild(li);
    }
    box.append(src, list);
    results.appendChild(box);
  });
  $("elapsed").textContent = `${data.elapsed_ms.toFixed(1)} ms`;
  const first = data.outputs[0] && data.outputs[0][0];
  const shown = first && first.attention && first.attention.length && first.source_tokens.length;
  $("attention").hidden = !shown;
  const heads = (shown && first.head_attention) || [];
  const select = $("head");
  select.replaceChildren(...["mean of the heads", ...heads.map((_, h) => `head ${h + 1}`)].map((label, k) => {
    const option = document.createElement("option");
    option.value = String(k - 1);
    option.textContent = label;
    return option;
  }));
  $("head-choice").hidden = heads.length === 0;
  // -1: the mean (`attention`); h >= 0: that head's own map.
  const draw = () => {
    const h = parseInt(select.value, 10);
    $("heatmap-box").replaceChildren(...(shown ? [heatmap(first.source_tokens, [...first.tokens, "</s>"],
                                                         h >= 0 ? heads[h] : first.attention)] : []));
  };
  select.onchange = draw;
  draw();
}

async function translate(event) {
  event.preventDefault();
  const inputs = $("input").value.split("\n").map((s) => s.replace(/\r$/, "")).filter((s) => s.trim());
  if (!inputs.length) { showError("Type something to translate."); return; }
  const beam = parseInt($("beam").value, 10) || 1;
  const nbest = Math.min(parseInt($("nbest").value, 10) || 1, beam);
  showError("");
  $("translate").disabled = true;
  try {
    const response = await fetch("/v1/translate", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs, beam, nbest, return_attention: true }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) { showError(errorText(response.status, body)); return; }
    render(inputs, body);
  } catch (e) {
    showError(`cannot reach the server: ${e}`);
  } finally {
    $("translate").disabled = false;
  }
}

async function loadInfo() {
  try {
    const info = await (await fetch("/v1/model")).json();
    const m = info.model || {};
    const transformer = [m.encoder_type, m.decoder_type].includes("transformer");
    const parts = [info.name, info.preset && `preset ${info.preset}`,
                   transformer ? `${m.encoder_type} encoder, ${m.decoder_type} decoder` : m.cell,
                   m.decoder_type === "transformer" ? `${m.transformer_heads} attention heads`
                     : m.attention && m.attention !== "none" ? `attention ${m.attention}` : "no attention",
                   `${(info.parameters / 1e6).toFixed(2)}M parameters`];
    const t = info.training;
    if (t && t.valid_exact_match !== undefined) parts.push(`valid exact match ${(100 * t.valid_exact_match).toFixed(1)}%`);
    $("model-info").textContent = parts.filter(Boolean).join(" · ");
    if (info.limits) {
      $("beam").max = info.limits.max_beam;
      $("nbest").max = info.limits.max_nbest;
    }
    const d = info.decode;
    if (d && d.strategy !== "sample") {  // start from the server's decoding defaults
      $("beam").value = d.strategy === "beam" ? d.beam_size : 1;
      $("nbest").value = d.nbest;
    }
  } catch (e) {
    $("model-info").textContent = "model information unavailable";
  }
}

$("form").addEventListener("submit", translate);
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("form").requestSubmit();
});
loadInfo();
