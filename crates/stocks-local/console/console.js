// The stocks console: one request over the WebSocket API, its progress, and the report as a
// card and a chart. It asks with "progress" (to show "queued, retrying in N s") and "series"
// (the daily bars the report was computed from, for the chart).
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = ["avgStock", "minStock", "maxStock", "minVolume", "maxVolume"];
let socket = null;
let charts = [];

function status(text, live) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("live", Boolean(live));
}

function showError(message, code) {
  const el = $("error");
  el.hidden = false;
  el.textContent = "";
  el.append(message + " ");
  if (code) {
    const c = document.createElement("code");
    c.textContent = code;
    el.append("(", c, ")");
  }
}

function clearResult() {
  $("error").hidden = true;
  $("report").hidden = true;
  $("chart").hidden = true;
  $("chart").dataset.points = "0";
  charts.forEach((c) => c.destroy());
  charts = [];
}

// The number exactly as the server wrote it in the frame (JSON.parse would turn 13182189.0
// into 13182189).
function rawNumber(frame, field) {
  const match = frame.match(new RegExp('"' + field + '"\\s*:\\s*(-?[0-9][0-9.eE+-]*)'));
  return match ? match[1] : "";
}

const price = (x) => Number(x).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const volume = (x) => Math.round(Number(x)).toLocaleString("en-US");

function showReport(msg, frame) {
  $("report-title").textContent = msg.ticker;
  $("report-window").textContent = `${msg.from} → ${msg.to} · ${msg.bars} daily bars`;
  for (const field of FIELDS) {
    const el = document.querySelector(`[data-field="${field}"]`);
    const raw = rawNumber(frame, field);
    el.dataset.value = raw;
    el.textContent = field.endsWith("Volume") ? volume(raw) : price(raw);
    el.title = raw;
  }
  $("report").hidden = false;
  if (Array.isArray(msg.series)) {
    drawChart(msg.series);
  }
}

function drawChart(series) {
  const chart = $("chart");
  chart.hidden = false;
  chart.dataset.points = String(series.length);
  const days = series.map((b) => Date.parse(b.t + "T00:00:00Z") / 1000);
  const width = Math.max(320, chart.clientWidth || 900);
  const prices = {
    width,
    height: 280,
    title: "Close, within the day's low–high",
    scales: { x: { time: true } },
    series: [
      {},
      { label: "High", stroke: "rgba(31,111,235,0.25)", width: 1 },
      { label: "Low", stroke: "rgba(31,111,235,0.25)", width: 1 },
      { label: "Close", stroke: "#1f6feb", width: 2 },
    ],
    bands: [{ series: [1, 2], fill: "rgba(31,111,235,0.12)" }],
    axes: [{}, { values: (u, ticks) => ticks.map(price), size: 70 }],
  };
  charts.push(
    new uPlot(prices, [days, series.map((b) => b.h), series.map((b) => b.l), series.map((b) => b.c)], $("prices")),
  );
  const volumes = {
    width,
    height: 140,
    title: "Volume",
    legend: { show: false },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max * 1.05] } },
    series: [
      {},
      {
        label: "Volume",
        stroke: "#5b6b7c",
        fill: "rgba(91,107,124,0.25)",
        points: { show: false },
        paths: uPlot.paths.bars({ size: [0.7, 20] }),
      },
    ],
    axes: [{}, { values: (u, ticks) => ticks.map((t) => (t >= 1e6 ? (t / 1e6).toFixed(0) + "M" : volume(t))), size: 70 }],
  };
  charts.push(new uPlot(volumes, [days, series.map((b) => b.v)], $("volumes")));
}

function target() {
  const url = new URL($("url").value.trim());
  const token = $("token").value.trim();
  if (token) {
    url.searchParams.set("token", token);
  }
  return url.toString();
}

function request() {
  const body = { action: "stocksaction", ticker: $("ticker").value, progress: true, series: true };
  for (const field of ["from", "to"]) {
    const value = $(field).value.trim();
    if (value) {
      body[field] = value;
    }
  }
  return JSON.stringify(body);
}

function send(event) {
  event.preventDefault();
  if (socket) {
    socket.onclose = null;
    socket.close();
  }
  clearResult();
  let url;
  try {
    url = target();
  } catch (e) {
    showError("That is not a WebSocket URL.", null);
    return;
  }
  status("Connecting…", true);
  $("send").disabled = true;
  let finished = false;
  socket = new WebSocket(url);
  socket.onopen = () => {
    status("Connected; asking…", true);
    socket.send(request());
  };
  socket.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch (_) {
      showError("The server sent something that is not JSON.", null);
      return;
    }
    if (msg.statusCode === 202 && msg.message === "queued") {
      status(`Queued: waiting for market data, retrying in ${msg.retryInSeconds} s…`, true);
    } else if (msg.statusCode === 202) {
      status(`202 accepted (request ${msg.requestId}); waiting for the report…`, true);
    } else if (msg.statusCode === 200) {
      finished = true;
      status(`Report received (request ${msg.requestId}).`, false);
      showReport(msg, e.data);
    } else if (msg.error) {
      finished = [404, 503].includes(msg.statusCode);
      status(`${msg.statusCode} ${msg.error}`, false);
      showError(msg.message, msg.error);
      $("send").disabled = false;
    } else if (msg.message) {
      showError(msg.message, null);
    }
  };
  socket.onerror = () => {
    if (!finished) {
      status("Could not connect (a wrong URL, or the token was refused).", false);
    }
  };
  socket.onclose = (e) => {
    $("send").disabled = false;
    if (finished) {
      status($("status").textContent + ` The server closed the connection (${e.code}).`, false);
    } else if (e.code !== 1000) {
      status(`Connection closed (${e.code}${e.reason ? ": " + e.reason : ""}).`, false);
    }
  };
}

// The default URL is this local stack: the page's own host, the stage it was served for.
if (!$("url").value) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  $("url").value = `${scheme}//${location.host}/${$("url").dataset.stage}`;
}
$("ask").addEventListener("submit", send);
