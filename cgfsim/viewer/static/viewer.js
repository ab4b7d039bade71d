/*
 * cgfsim after-action review viewer.
 *
 * Plays the replays embedded in this page (the JSON in #cgf-data, written by
 * cgfsim.viewer.page) on a canvas: terrain, objectives with hold timers,
 * units with side, type, hit points and ammunition, shots as lines (solid
 * hit, dashed miss), deaths. Views: ground truth, or one side's picture
 * (cells it cannot see are shaded, enemies appear only while seen, and a
 * dashed outline marks where it last saw each enemy). Plain browser
 * JavaScript: no modules, no build step, no network.
 *
 * window.cgfViewer exposes the state and what was drawn, for tests and for
 * anyone scripting the page from the console.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const SPEEDS = [1, 2, 4, 8, 16, 32];
  const VIEWS = ["truth", "blue", "red"];

  function fail(msg) {
    const box = $("error");
    box.textContent = msg;
    box.hidden = false;
  }

  let DOC;
  try {
    DOC = JSON.parse($("cgf-data").textContent);
  } catch (e) {
    fail("This page's replay data is damaged: " + e.message);
    return;
  }
  if (!DOC || DOC.version !== 1 || !Array.isArray(DOC.replays) || !DOC.replays.length) {
    fail("This page holds no replay this viewer can read (document version " +
      (DOC && DOC.version) + ", expected 1).");
    return;
  }
  const LEG = DOC.legend;
  const SIDE = LEG.sides.map((s) => s.color);
  const SIDE_NAME = LEG.sides.map((s) => s.name);
  const TYPES = LEG.types;

  /** Element builder: h("td", {class: "x"}, "text", child, ...). */
  function h(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") n.className = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) n.setAttribute(k, v);
    }
    for (const kid of kids) {
      if (kid === null || kid === undefined) continue;
      n.append(kid instanceof Node ? kid : String(kid));
    }
    return n;
  }

  // ------------------------------------------------------------------ state

  const st = { r: 0, f: 0, view: "truth", playing: false, speed: 8, sel: -1, tab: "aar" };
  let R = null; // the current replay, with caches built by prepare()
  let timer = 0;
  let cell = 24; // css pixels per map cell
  let drawn = []; // what the last draw put on the map: {slot, x, y, kind}

  /** Per-replay caches: last sightings, sight bitmaps, deaths, damage so far, shots. */
  function prepare(p) {
    if (p.ready) return p;
    const fr = p.frames;
    const U = p.units.length;
    const T = fr.tick.length;
    const S = p.scenario;
    const last = new Int32Array(T * U);
    for (let u = 0; u < U; u++) {
      let l = -1;
      for (let f = 0; f < T; f++) {
        if (fr.vis[f * U + u]) l = f;
        last[f * U + u] = l;
      }
    }
    const sight = p.sight.map((b64) => {
      const s = atob(b64);
      const a = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
      return a;
    });
    const death = new Int32Array(U).fill(-1);
    const dealt = new Float64Array(T * U);
    const taken = new Float64Array(T * U);
    const shots = [];
    for (let u = 0; u < U; u++) shots.push([]);
    for (let f = 1; f < T; f++) {
      for (let u = 0; u < U; u++) {
        dealt[f * U + u] = dealt[(f - 1) * U + u];
        taken[f * U + u] = taken[(f - 1) * U + u];
        if (fr.alive[(f - 1) * U + u] && !fr.alive[f * U + u]) death[u] = f;
      }
      for (let u = 0; u < U; u++) {
        const t = fr.st[f * U + u];
        if (t < 0) continue;
        const d = fr.sd[f * U + u];
        dealt[f * U + u] += d;
        taken[f * U + t] += d;
        const shot = { f: f, from: u, to: t, hit: !!fr.sh[f * U + u], dmg: d };
        shots[u].push(shot);
        shots[t].push(shot);
      }
    }
    const killers = {};
    for (const k of p.aar.kills) killers[k.victim] = k;
    Object.assign(p, {
      ready: true, U: U, T: T, W: S.width, H: S.height, nb: S.n_slots[0],
      last: last, sightBits: sight, bpf: Math.ceil((S.width * S.height) / 8),
      death: death, dealt: dealt, taken: taken, shots: shots, killers: killers,
      terrainCanvas: null,
    });
    return p;
  }

  const viewSide = () => (st.view === "blue" ? 0 : st.view === "red" ? 1 : -1);
  const at = (name, f, u) => R.frames[name][f * R.U + u];

  function seesCell(side, f, x, y) {
    const c = y * R.W + x;
    return (R.sightBits[side][f * R.bpf + (c >> 3)] & (0x80 >> (c & 7))) !== 0;
  }

  function unitName(u) {
    const unit = R.units[u];
    return unit.tag + " " + TYPES[unit.type].name;
  }

  function actionName(u, a) {
    if (a < 0) return "none";
    if (a < LEG.fire_at) return LEG.actions[a].replace("_", " ");
    const j = a - LEG.fire_at;
    const target = R.units[u].side === 0 ? R.nb + j : j;
    return "fire at " + (target < R.U ? unitName(target) : "slot " + j);
  }

  // ------------------------------------------------------------------ drawing

  const canvas = $("map");
  const ctx = canvas.getContext("2d");

  function layout() {
    const wrap = $("map-wrap");
    const availW = Math.max(160, wrap.clientWidth - 2);
    const availH = Math.max(200, window.innerHeight - 220);
    cell = Math.floor(Math.min(availW / R.W, availH / R.H));
    cell = Math.max(8, Math.min(44, cell));
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = R.W * cell + "px";
    canvas.style.height = R.H * cell + "px";
    canvas.width = Math.round(R.W * cell * dpr);
    canvas.height = Math.round(R.H * cell * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    R.terrainCanvas = null;
  }

  function terrainLayer() {
    if (R.terrainCanvas) return R.terrainCanvas;
    const dpr = window.devicePixelRatio || 1;
    const c = document.createElement("canvas");
    c.width = canvas.width;
    c.height = canvas.height;
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const rows = R.scenario.terrain;
    for (let y = 0; y < R.H; y++) {
      for (let x = 0; x < R.W; x++) {
        const t = LEG.terrain[rows[y][x]];
        g.fillStyle = t ? t.color : "#000";
        g.fillRect(x * cell, y * cell, cell, cell);
      }
    }
    g.strokeStyle = "rgba(0,0,0,0.12)";
    g.lineWidth = 1;
    g.beginPath();
    for (let x = 1; x < R.W; x++) {
      g.moveTo(x * cell + 0.5, 0);
      g.lineTo(x * cell + 0.5, R.H * cell);
    }
    for (let y = 1; y < R.H; y++) {
      g.moveTo(0, y * cell + 0.5);
      g.lineTo(R.W * cell, y * cell + 0.5);
    }
    g.stroke();
    R.terrainCanvas = c;
    return c;
  }

  /** "3/10": how long the controller of objective k has held it, of the ticks that win. */
  function holdText(f, k) {
    const n = R.scenario.objectives.length;
    const c = R.frames.ctrl[f * n + k];
    return R.frames.hold[(f * n + k) * 2 + c] + "/" + R.scenario.objectives[k].hold;
  }

  function drawObjectives(f) {
    const objs = R.scenario.objectives;
    for (let k = 0; k < objs.length; k++) {
      const o = objs[k];
      const [x0, y0, x1, y1] = o.rect;
      const px = x0 * cell, py = y0 * cell;
      const w = (x1 - x0 + 1) * cell, hgt = (y1 - y0 + 1) * cell;
      const c = R.frames.ctrl[f * objs.length + k];
      if (c >= 0) {
        ctx.fillStyle = SIDE[c] + "33";
        ctx.fillRect(px, py, w, hgt);
      }
      ctx.strokeStyle = LEG.objective_color;
      ctx.lineWidth = Math.max(2, cell / 8);
      ctx.strokeRect(px + 1, py + 1, w - 2, hgt - 2);
      const label = o.name + (c >= 0 && o.capturable[c] ? " " + holdText(f, k) : "");
      ctx.font = "600 " + Math.max(10, Math.round(cell * 0.42)) + "px system-ui, sans-serif";
      const tw = ctx.measureText(label).width;
      ctx.fillStyle = "rgba(0,0,0,0.6)";
      ctx.fillRect(px + 2, py + 2, tw + 6, Math.max(12, cell * 0.5));
      ctx.fillStyle = c >= 0 ? "#fff" : LEG.objective_color;
      ctx.textBaseline = "top";
      ctx.textAlign = "left";
      ctx.fillText(label, px + 5, py + 3);
    }
  }

  function drawFog(side, f) {
    ctx.fillStyle = "rgba(10,12,20,0.45)";
    for (let y = 0; y < R.H; y++) {
      for (let x = 0; x < R.W; x++) {
        if (!seesCell(side, f, x, y)) ctx.fillRect(x * cell, y * cell, cell, cell);
      }
    }
  }

  const center = (v) => (v + 0.5) * cell;

  function shapePath(side, cx, cy, r) {
    ctx.beginPath();
    if (side === 0) ctx.rect(cx - r, cy - r, 2 * r, 2 * r);
    else ctx.arc(cx, cy, r * 1.08, 0, 2 * Math.PI);
  }

  function drawUnit(u, f) {
    const x = at("x", f, u), y = at("y", f, u);
    const unit = R.units[u];
    const type = TYPES[unit.type];
    const cx = center(x), cy = center(y), r = cell * 0.36;
    shapePath(unit.side, cx, cy, r);
    ctx.fillStyle = SIDE[unit.side];
    ctx.fill();
    ctx.lineWidth = at("cov", f, u) ? Math.max(2, cell / 9) : 1;
    ctx.strokeStyle = at("cov", f, u) ? "#111" : "rgba(255,255,255,0.85)";
    ctx.stroke();
    ctx.fillStyle = "#fff";
    ctx.font = "700 " + Math.max(8, Math.round(cell * 0.42)) + "px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(type.char, cx, cy + 1);
    // hit points (green) along the bottom, ammunition (gold) along the top
    const bw = cell * 0.8, bx = cx - bw / 2, bh = Math.max(2, cell / 10);
    const hp = Math.max(0, Math.min(1, at("hp", f, u) / type.hp));
    const ammo = Math.max(0, Math.min(1, at("ammo", f, u) / type.ammo));
    ctx.fillStyle = "#2d1414";
    ctx.fillRect(bx, y * cell + cell - bh - 1, bw, bh);
    ctx.fillStyle = hp > 0.5 ? "#28d23c" : hp > 0.25 ? "#e0c020" : "#ff5030";
    ctx.fillRect(bx, y * cell + cell - bh - 1, bw * hp, bh);
    ctx.fillStyle = "#2d2a14";
    ctx.fillRect(bx, y * cell + 1, bw, Math.max(1, bh - 1));
    ctx.fillStyle = "#ffc800";
    ctx.fillRect(bx, y * cell + 1, bw * ammo, Math.max(1, bh - 1));
    drawn.push({ slot: u, x: x, y: y, kind: "unit" });
  }

  function drawDead(u, f) {
    const x = at("x", f, u), y = at("y", f, u);
    const cx = center(x), cy = center(y), r = cell * 0.3;
    ctx.strokeStyle = "#222";
    ctx.lineWidth = Math.max(2, cell / 8);
    ctx.beginPath();
    ctx.moveTo(cx - r, cy - r);
    ctx.lineTo(cx + r, cy + r);
    ctx.moveTo(cx + r, cy - r);
    ctx.lineTo(cx - r, cy + r);
    ctx.stroke();
    ctx.strokeStyle = SIDE[R.units[u].side];
    ctx.lineWidth = Math.max(1, cell / 16);
    ctx.stroke();
    drawn.push({ slot: u, x: x, y: y, kind: "dead" });
  }

  function drawGhost(u, f, seen) {
    const x = at("x", seen, u), y = at("y", seen, u);
    const side = R.units[u].side;
    const cx = center(x), cy = center(y), r = cell * 0.36;
    ctx.save();
    ctx.setLineDash([3, 3]);
    ctx.globalAlpha = 0.85;
    shapePath(side, cx, cy, r);
    ctx.strokeStyle = SIDE[side];
    ctx.lineWidth = Math.max(1.5, cell / 14);
    ctx.stroke();
    ctx.restore();
    const age = R.frames.tick[f] - R.frames.tick[seen];
    ctx.fillStyle = "#fff";
    ctx.font = "600 " + Math.max(8, Math.round(cell * 0.32)) + "px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("-" + age, cx, cy);
    drawn.push({ slot: u, x: x, y: y, kind: "ghost", seen: R.frames.tick[seen] });
  }

  /** Shots of frame f were fired at the start of its tick, from frame f-1's positions. */
  function drawShots(f, side) {
    if (f < 1) return;
    const p = f - 1;
    for (let u = 0; u < R.U; u++) {
      const t = at("st", f, u);
      if (t < 0) continue;
      const mine = side < 0 || R.units[u].side === side;
      if (!mine && !at("vis", p, u)) continue; // an unseen enemy's shot: the side cannot tell
      const hit = at("sh", f, u) === 1;
      const x0 = center(at("x", p, u)), y0 = center(at("y", p, u));
      const x1 = center(at("x", p, t)), y1 = center(at("y", p, t));
      ctx.save();
      ctx.strokeStyle = R.units[u].side === 0 ? "#9db8ff" : "#ff9d9a";
      ctx.lineWidth = hit ? Math.max(2, cell / 10) : Math.max(1, cell / 18);
      if (!hit) {
        ctx.setLineDash([4, 4]);
        ctx.globalAlpha = 0.75;
      }
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.stroke();
      if (hit) {
        ctx.fillStyle = "#ffe066";
        ctx.beginPath();
        ctx.arc(x1, y1, Math.max(2, cell / 7), 0, 2 * Math.PI);
        ctx.fill();
      }
      ctx.restore();
    }
  }

  function drawPath(u, f) {
    if (f < 1) return;
    ctx.save();
    ctx.strokeStyle = SIDE[R.units[u].side];
    ctx.globalAlpha = 0.8;
    ctx.lineWidth = Math.max(2, cell / 10);
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(center(at("x", 0, u)), center(at("y", 0, u)));
    for (let g = 1; g <= f; g++) ctx.lineTo(center(at("x", g, u)), center(at("y", g, u)));
    ctx.stroke();
    ctx.restore();
  }

  function draw() {
    const f = st.f;
    const side = viewSide();
    drawn = [];
    ctx.clearRect(0, 0, R.W * cell, R.H * cell);
    ctx.drawImage(terrainLayer(), 0, 0, R.W * cell, R.H * cell);
    drawObjectives(f);
    if (side >= 0) drawFog(side, f);
    const sel = st.sel;
    if (sel >= 0 && (side < 0 || R.units[sel].side === side)) drawPath(sel, f);
    for (let u = 0; u < R.U; u++) {
      if (!R.units[u].present) continue;
      if (!at("alive", f, u)) drawDead(u, f); // every kill happens in sight of the killer's side
    }
    drawShots(f, side);
    const shown = [];
    for (let u = 0; u < R.U; u++) {
      if (!R.units[u].present || !at("alive", f, u)) continue;
      if (side < 0 || R.units[u].side === side || at("vis", f, u)) shown.push(u);
      else if (R.last[f * R.U + u] >= 0) drawGhost(u, f, R.last[f * R.U + u]);
    }
    for (const u of shown) drawUnit(u, f); // units last: nothing hides a unit the view shows
    const hit = drawn.find((d) => d.slot === sel && d.kind !== "dead") ||
      drawn.find((d) => d.slot === sel);
    if (hit) {
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 2;
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.arc(center(hit.x), center(hit.y), cell * 0.62, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  // ------------------------------------------------------------------ header, panels

  function updateHeader() {
    const f = st.f;
    const fr = R.frames;
    const lastTick = fr.tick[R.T - 1];
    $("tick").textContent = "tick " + fr.tick[f] + " / " + lastTick;
    $("tick").dataset.tick = fr.tick[f];
    const score = $("score");
    score.textContent = "";
    for (let s = 0; s < 2; s++) {
      let alive = 0, fielded = 0, enemyLost = 0;
      for (let u = 0; u < R.U; u++) {
        if (!R.units[u].present) continue;
        if (R.units[u].side === s) {
          fielded++;
          if (at("alive", f, u)) alive++;
        } else if (!at("alive", f, u)) enemyLost++;
      }
      score.append(h("span", { class: SIDE_NAME[s], id: "score-" + SIDE_NAME[s] },
        SIDE_NAME[s] + " " + alive + "/" + fielded + " alive, " + enemyLost + " kills"));
    }
    const objs = R.scenario.objectives;
    for (let k = 0; k < objs.length; k++) {
      const c = fr.ctrl[f * objs.length + k];
      const who = c < 0 ? "none" : SIDE_NAME[c] + (objs[k].capturable[c] ? " " + holdText(f, k) : "");
      score.append(h("span", { class: "obj" }, objs[k].name + ": " + who));
    }
    if (f === R.T - 1 && R.aar.complete) {
      score.append(h("span", { class: "end" }, R.aar.how));
    }
    if (st.view !== "truth") score.append(h("span", { class: "obj" }, "view: " + st.view));
  }

  function jump(f) {
    return () => {
      play(false);
      setFrame(f);
    };
  }

  function buildAar() {
    const a = R.aar;
    const panel = $("panel-aar");
    panel.textContent = "";
    const meta = Object.entries(R.meta || {}).map(([k, v]) => k + "=" + v).join(", ");
    const track = R.track || {};
    panel.append(
      h("h2", {}, R.scenario.name + " \u2014 " + a.how),
      h("p", { class: "hint" }, R.scenario.description),
      h("p", { class: "hint" },
        R.scenario.combat + " combat" +
        (track.key !== undefined ? ", world " + track.world + ", key " + track.key +
          ", episode " + track.episode : "") + (meta ? "; " + meta : "")),
    );
    const table = h("table", { id: "aar-table" },
      h("tr", {}, ...["side", "type", "fielded", "lost", "kills", "hits/shots", "dealt", "taken"]
        .map((c) => h("th", {}, c))));
    for (const row of a.types) {
      table.append(h("tr", { class: "s" + row.side },
        h("td", {}, SIDE_NAME[row.side]), h("td", {}, row.type), h("td", {}, row.fielded),
        h("td", {}, row.lost), h("td", {}, row.kills), h("td", {}, row.hits + "/" + row.shots),
        h("td", {}, row.dealt), h("td", {}, row.taken)));
    }
    panel.append(h("h3", {}, "Losses and kills"), table);
    const dl = h("dl", { class: "stats" });
    for (const s of a.sides) {
      dl.append(h("dt", {}, SIDE_NAME[s.side] + " exchange ratio"),
        h("dd", { id: "exchange-" + SIDE_NAME[s.side] },
          s.exchange_text + " (" + s.kills + " kills, " + s.lost + " lost of " + s.fielded + ")"));
    }
    dl.append(h("dt", {}, "first contact"),
      h("dd", { id: "first-contact" }, a.first_contact === null ? "none" : "tick " + a.first_contact));
    dl.append(h("dt", {}, "first shot"),
      h("dd", {}, a.first_shot === null ? "none" : "tick " + a.first_shot));
    panel.append(dl);
    if (a.objectives.length) {
      panel.append(h("h3", {}, "Objectives"));
      a.objectives.forEach((o, k) => {
        const cap = R.scenario.objectives[k].capturable;
        const bar = h("div", { class: "objbar", title: "click to jump" });
        for (const run of o.runs) {
          let who = "nobody";
          if (run.who >= 0) {
            who = SIDE_NAME[run.who] + (cap[run.who] ? " held " + run.held + "/" + o.hold : "");
          }
          const span = h("span", {
            class: "c" + run.who,
            title: who + ", ticks " + run.t0 + "\u2013" + run.t1,
          });
          span.style.width = (100 * (run.f1 - run.f0 + 1)) / R.T + "%";
          span.addEventListener("click", jump(run.f0));
          bar.append(span);
        }
        const by = SIDE_NAME.filter((_, c) => cap[c]).join(" or ");
        panel.append(h("p", {}, o.name + " (" + (by || "nobody") + " wins by holding it " +
          o.hold + " ticks)"), bar);
      });
    }
    panel.append(h("h3", {}, "Events"));
    const list = h("ol", { class: "events", id: "events" });
    for (const e of a.events) {
      list.append(h("li", { class: "s" + e.side, "data-f": e.f },
        h("button", { onclick: jump(e.f), "data-kind": e.kind },
          h("span", { class: "t" }, "t" + e.t), " " + e.text)));
    }
    panel.append(list);
    buildMarks();
  }

  function buildMarks() {
    const marks = $("marks");
    marks.textContent = "";
    for (const e of R.aar.events) {
      if (e.kind === "end") continue;
      const b = h("button", {
        class: e.kind + " s" + e.side,
        title: "t" + e.t + ": " + e.text,
        "aria-label": "t" + e.t + ": " + e.text,
        onclick: jump(e.f),
      });
      b.style.left = (R.T > 1 ? (100 * e.f) / (R.T - 1) : 0) + "%";
      marks.append(b);
    }
  }

  function markEvents() {
    for (const li of $("events").children) {
      li.classList.toggle("now", Number(li.dataset.f) === st.f);
    }
  }

  function chart(u) {
    const c = h("canvas", { id: "unit-chart", width: 340, height: 90 });
    const g = c.getContext("2d");
    const type = TYPES[R.units[u].type];
    const W = c.width, H = c.height, T = R.T;
    const X = (f) => (T > 1 ? (f / (T - 1)) * (W - 4) + 2 : 2);
    const line = (color, val) => {
      g.strokeStyle = color;
      g.lineWidth = 1.5;
      g.beginPath();
      let pen = false;
      for (let f = 0; f < T; f++) {
        const v = val(f);
        if (v === null || v === undefined) {
          pen = false;
          continue;
        }
        const y = H - 4 - v * (H - 8);
        if (pen) g.lineTo(X(f), y);
        else g.moveTo(X(f), y);
        pen = true;
      }
      g.stroke();
    };
    line("#28d23c", (f) => at("hp", f, u) / type.hp);
    line("#ffc800", (f) => at("ammo", f, u) / type.ammo);
    const values = R.policy && R.policy.value[String(u)];
    if (values) {
      const fin = values.filter((v) => v !== null);
      const lo = Math.min(...fin), hi = Math.max(...fin);
      const span = hi - lo || 1;
      line("#c08cff", (f) => (values[f] === null ? null : (values[f] - lo) / span));
    }
    g.strokeStyle = "#fff";
    g.beginPath();
    g.moveTo(X(st.f) + 0.5, 0);
    g.lineTo(X(st.f) + 0.5, H);
    g.stroke();
    c.addEventListener("click", (ev) => {
      const rect = c.getBoundingClientRect();
      const fx = ((ev.clientX - rect.left) / rect.width) * W;
      jump(Math.max(0, Math.min(T - 1, Math.round(((fx - 2) / (W - 4)) * (T - 1)))))();
    });
    return c;
  }

  function policyBlock(u) {
    const pol = R.policy;
    const probs = pol && pol.probs[String(u)];
    const values = pol && pol.value[String(u)];
    if (!probs && !values) {
      return h("p", { class: "hint" }, "No policy outputs recorded for this unit " +
        "(scripted doctrine, or a replay recorded without them).");
    }
    const next = st.f + 1;
    const tick = R.frames.tick[st.f];
    const box = h("div", { id: "unit-policy" });
    if (next >= R.T) {
      box.append(h("p", { class: "hint" }, "No decision after the last tick."));
      return box;
    }
    box.append(h("p", {}, "Decision at tick " + tick + " (applied in tick " + (tick + 1) + ")"));
    if (values && values[next] !== null) {
      box.append(h("p", { id: "unit-value" }, "value estimate " + values[next].toFixed(3)));
    }
    if (probs) {
      const A = pol.width;
      const n = R.units[u].n_actions;
      const row = probs.slice(next * A, next * A + n);
      if (row[0] < 0) {
        box.append(h("p", { class: "hint" }, "not recorded at this tick"));
      } else {
        const chosen = at("act", next, u);
        const order = row.map((p, a) => [p, a]).sort((x, y) => y[0] - x[0]).slice(0, 6);
        if (!order.some(([, a]) => a === chosen) && chosen >= 0) order.push([row[chosen], chosen]);
        const bars = h("div", { class: "bars" });
        for (const [p, a] of order) {
          const bar = h("div", { class: "bar" }, h("i", {}));
          bar.firstChild.style.width = p / 100 + "%";
          bars.append(
            h("span", { class: a === chosen ? "chosen" : "", title: a === chosen ? "chosen" : "" },
              actionName(u, a)),
            bar,
            h("span", {}, (p / 100).toFixed(1) + "%"));
        }
        box.append(bars);
      }
    }
    return box;
  }

  function buildUnit() {
    const panel = $("panel-unit");
    panel.textContent = "";
    const u = st.sel;
    if (u < 0) {
      panel.append(h("p", { class: "hint" }, "Click a unit on the map."));
      return;
    }
    const f = st.f;
    const unit = R.units[u];
    const type = TYPES[unit.type];
    const alive = at("alive", f, u);
    panel.append(h("h2", { id: "unit-title", class: "s" + unit.side },
      unitName(u) + " (" + SIDE_NAME[unit.side] + ")"));
    const side = viewSide();
    if (side >= 0 && unit.side !== side && alive && !at("vis", f, u)) {
      const seen = R.last[f * R.U + u];
      panel.append(h("p", { class: "fog-note" }, SIDE_NAME[side] + " does not see this unit now" +
        (seen >= 0 ? "; last seen at tick " + R.frames.tick[seen] : "") +
        ". The panel shows ground truth."));
    }
    let status;
    if (alive) status = "alive at (" + at("x", f, u) + ", " + at("y", f, u) + ")";
    else {
      const k = R.killers[u];
      status = "destroyed at tick " + R.frames.tick[R.death[u]] +
        (k && k.by >= 0 ? " by " + unitName(k.by) : "");
    }
    const dl = h("dl", { class: "stats", id: "unit-stats" },
      h("dt", {}, "status"), h("dd", {}, status),
      h("dt", {}, "hit points"), h("dd", {}, at("hp", f, u) + " / " + type.hp),
      h("dt", {}, "ammunition"), h("dd", {}, at("ammo", f, u) + " / " + type.ammo),
      h("dt", {}, "in cover"), h("dd", {}, at("cov", f, u) ? "yes" : "no"),
      h("dt", {}, "damage dealt"), h("dd", {}, round2(R.dealt[f * R.U + u]) + " (so far)"),
      h("dt", {}, "damage taken"), h("dd", {}, round2(R.taken[f * R.U + u]) + " (so far)"),
      h("dt", {}, "last order"), h("dd", {}, actionName(u, at("act", f, u))));
    panel.append(dl);
    panel.append(h("h3", {}, "Hit points, ammunition" + (R.policy && R.policy.value[String(u)] ? ", value" : "")),
      chart(u));
    panel.append(h("h3", {}, "Policy"), policyBlock(u));
    const shots = R.shots[u];
    panel.append(h("h3", {}, "Shots fired and taken (" + shots.length + ")"));
    const list = h("div", { class: "shots" });
    for (const s of shots) {
      const out = s.from === u;
      const verb = out ? " fired at " : " fired on by ";
      const result = s.hit ? ": hit, " + s.dmg + " damage" : ": miss";
      list.append(h("button", { class: s.hit ? "" : "miss", onclick: jump(s.f) },
        "t" + R.frames.tick[s.f] + verb + unitName(out ? s.to : s.from) + result));
    }
    panel.append(list);
  }

  const round2 = (v) => Math.round(v * 100) / 100;

  function showTab(tab) {
    st.tab = tab;
    $("panel-aar").hidden = tab !== "aar";
    $("panel-unit").hidden = tab !== "unit";
    $("tab-aar").classList.toggle("on", tab === "aar");
    $("tab-unit").classList.toggle("on", tab === "unit");
    if (tab === "unit") buildUnit();
  }

  // ------------------------------------------------------------------ control

  function render() {
    draw();
    updateHeader();
    markEvents();
    if (st.tab === "unit") buildUnit();
    $("scrub").value = st.f;
  }

  function setFrame(f) {
    st.f = Math.max(0, Math.min(R.T - 1, Math.round(f)));
    render();
  }

  function setView(v) {
    if (!VIEWS.includes(v)) return;
    st.view = v;
    for (const b of document.querySelectorAll("#views button")) {
      b.classList.toggle("on", b.dataset.view === v);
      b.setAttribute("aria-checked", b.dataset.view === v ? "true" : "false");
    }
    render();
  }

  function play(on) {
    st.playing = on;
    clearInterval(timer);
    timer = 0;
    const b = $("btn-play");
    b.textContent = on ? "\u275A\u275A" : "\u25B6";
    b.setAttribute("aria-label", on ? "pause" : "play");
    if (!on) return;
    if (st.f >= R.T - 1) setFrame(0);
    timer = setInterval(() => {
      if (st.f >= R.T - 1) play(false);
      else setFrame(st.f + 1);
    }, 1000 / st.speed);
  }

  function setSpeed(s) {
    st.speed = s;
    $("speed").value = String(s);
    if (st.playing) play(true);
  }

  function selectReplay(r) {
    play(false);
    st.r = Math.max(0, Math.min(DOC.replays.length - 1, r));
    R = prepare(DOC.replays[st.r]);
    $("replay").value = String(st.r);
    st.sel = -1;
    st.f = 0;
    $("scrub").max = R.T - 1;
    layout();
    buildAar();
    render();
  }

  function select(u) {
    st.sel = u;
    render();
    if (u >= 0) showTab("unit");
  }

  function unitAt(x, y) {
    const here = drawn.filter((d) => d.x === x && d.y === y);
    const rank = { unit: 0, ghost: 1, dead: 2 };
    here.sort((a, b) => rank[a.kind] - rank[b.kind]);
    return here.length ? here[0].slot : -1;
  }

  canvas.addEventListener("click", (ev) => {
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor((ev.clientX - rect.left) / cell);
    const y = Math.floor((ev.clientY - rect.top) / cell);
    select(unitAt(x, y));
  });

  for (const s of SPEEDS) $("speed").append(h("option", { value: s }, s + " ticks/s"));
  $("speed").value = String(st.speed);
  $("speed").addEventListener("change", (e) => setSpeed(Number(e.target.value)));
  DOC.replays.forEach((p, i) => {
    $("replay").append(h("option", { value: i }, p.label + " \u2014 " + p.aar.how));
  });
  $("replay").disabled = DOC.replays.length < 2;
  $("replay").addEventListener("change", (e) => selectReplay(Number(e.target.value)));
  $("scrub").addEventListener("input", (e) => setFrame(Number(e.target.value)));
  $("btn-play").addEventListener("click", () => play(!st.playing));
  $("btn-back").addEventListener("click", () => { play(false); setFrame(st.f - 1); });
  $("btn-fwd").addEventListener("click", () => { play(false); setFrame(st.f + 1); });
  $("btn-start").addEventListener("click", () => { play(false); setFrame(0); });
  $("btn-end").addEventListener("click", () => { play(false); setFrame(R.T - 1); });
  for (const b of document.querySelectorAll("#views button")) {
    b.setAttribute("role", "radio");
    b.addEventListener("click", () => setView(b.dataset.view));
  }
  $("tab-aar").addEventListener("click", () => showTab("aar"));
  $("tab-unit").addEventListener("click", () => showTab("unit"));

  document.addEventListener("keydown", (ev) => {
    const tag = ev.target && ev.target.tagName;
    if (tag === "SELECT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const step = ev.shiftKey ? 10 : 1;
    const keys = {
      " ": () => play(!st.playing),
      ArrowRight: () => { play(false); setFrame(st.f + step); },
      ArrowLeft: () => { play(false); setFrame(st.f - step); },
      Home: () => { play(false); setFrame(0); },
      End: () => { play(false); setFrame(R.T - 1); },
      t: () => setView("truth"),
      b: () => setView("blue"),
      r: () => setView("red"),
      Escape: () => select(-1),
    };
    const fn = keys[ev.key.length === 1 ? ev.key.toLowerCase() : ev.key];
    if (!fn) return;
    ev.preventDefault(); // space would scroll or press the focused button; arrows move the scrubber
    fn();
  });

  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { layout(); render(); }, 100);
  });

  // legend: terrain, sides, shots, fog marks
  const legend = $("legend");
  for (const t of Object.values(LEG.terrain)) {
    const sw = h("span", { class: "sw" });
    sw.style.background = t.color;
    legend.append(h("span", {}, sw, t.name));
  }
  for (let s = 0; s < 2; s++) {
    const sw = h("span", { class: "sw" + (s ? " round" : "") });
    sw.style.background = SIDE[s];
    legend.append(h("span", {}, sw, SIDE_NAME[s]));
  }
  legend.append(h("span", {}, "letters: " + TYPES.map((t) => t.char + " " + t.name).join(", ")));
  legend.append(h("span", {}, "bars: hit points (bottom), ammunition (top); black outline: in cover"));
  legend.append(h("span", {}, "shots: solid hit, dashed miss; dashed unit: last seen (ticks ago)"));

  window.cgfViewer = {
    state: () => ({
      replay: st.r, frame: st.f, tick: R.frames.tick[st.f], view: st.view,
      playing: st.playing, speed: st.speed, selected: st.sel, frames: R.T,
    }),
    drawn: () => drawn.map((d) => Object.assign({}, d)),
    cellCenter: (x, y) => {
      const rect = canvas.getBoundingClientRect();
      return { x: rect.left + (x + 0.5) * cell, y: rect.top + (y + 0.5) * cell };
    },
    cellSize: () => cell,
    setFrame: setFrame,
    setView: setView,
    selectReplay: selectReplay,
    select: select,
    play: play,
  };

  selectReplay(0);
  setView("truth");
  document.body.dataset.readyMs = performance.now().toFixed(1); // since navigation started
  document.body.dataset.ready = "1";
})();
