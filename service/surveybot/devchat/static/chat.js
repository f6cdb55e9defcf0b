/* surveybot's browser simulator: send what the user types or taps to /dev/chat/send (which builds
   Open Builder's request and passes it through /skill) and draw the reply as KakaoTalk would.
   Replies are untrusted: their strings reach the page only through textContent, and a link or an
   image only when it is an http(s) URL; no string is ever parsed as markup. */
"use strict";

(() => {
  const SEND_URL = "/dev/chat/send";
  const SETTINGS_URL = "/dev/chat/settings.json";
  const FOLD_AFTER = 500; // KakaoTalk folds a longer simpleText behind "전체 보기"
  const DEADLINE_MS = 5000; // Kakao drops a slower reply
  const BOT_NAME = "행정봇";

  const rooms = new Map(); // user key -> room (its log, quick replies, send queue)
  let current = null;

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function str(value) {
    return value === undefined || value === null ? "" : String(value);
  }

  function list(value) {
    return Array.isArray(value) ? value.filter((item) => item && typeof item === "object") : [];
  }

  function httpUrl(value) {
    try {
      const url = new URL(str(value), location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  function clock() {
    return new Date().toLocaleTimeString("ko-KR", { hour: "numeric", minute: "2-digit" });
  }

  /* ---- rooms: one chat log per user key, as each Kakao user has their own room ---- */

  function room(key, label) {
    if (rooms.has(key)) return rooms.get(key);
    const log = el("div", "room");
    log.dataset.user = key;
    log.dataset.sent = "0";
    log.dataset.received = "0";
    const quick = el("div", "quick-replies");
    log.append(notice(`${label || key} (사용자 키 ${key}) 로 대화합니다. '메뉴'를 보내 보세요.`));
    $("rooms").append(log);
    const made = { key, label, log, quick, queue: Promise.resolve() };
    rooms.set(key, made);
    showQuickReplies(made, [{ label: "메뉴", action: "message", messageText: "메뉴" }]);
    return made;
  }

  function switchUser(key, label) {
    current = room(key, label);
    for (const other of rooms.values()) other.log.hidden = other !== current;
    for (const tab of $("user-tabs").children) {
      tab.setAttribute("aria-selected", String(tab.dataset.key === key));
    }
    $("phone").dataset.user = key;
    scrollDown(current);
    $("message").focus();
  }

  function scrollDown(target) {
    target.log.scrollTop = target.log.scrollHeight;
  }

  function notice(text, kind) {
    return el("p", `notice${kind ? " " + kind : ""}`, text);
  }

  /* ---- sending ---- */

  function send(target, utterance, extra, trigger) {
    const text = str(utterance);
    if (!text.trim()) return;
    target.log.dataset.sent = String(Number(target.log.dataset.sent) + 1);
    showQuickReplies(target, []); // KakaoTalk removes them once anything is sent
    const mine = el("div", "turn me");
    mine.append(el("span", "time", clock()), el("div", "bubble me", text));
    target.log.append(mine);
    scrollDown(target);
    // One request at a time per room, so replies appear in the order of the messages.
    target.queue = target.queue.then(() => exchange(target, text, extra || {}, trigger));
  }

  async function exchange(target, utterance, extra, trigger) {
    const typing = el("div", "turn bot typing");
    typing.append(el("div", "bubble bot", "…"));
    target.log.append(typing);
    scrollDown(target);
    try {
      const response = await fetch(SEND_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: target.key, utterance, extra, trigger }),
      });
      const body = await response.text();
      typing.remove();
      if (!response.ok) {
        target.log.append(notice(`시뮬레이터 오류 HTTP ${response.status}: ${body}`, "error"));
      } else {
        renderExchange(target, JSON.parse(body));
      }
    } catch (error) {
      typing.remove();
      target.log.append(notice(`서버에 연결할 수 없습니다: ${error}`, "error"));
    }
    target.log.dataset.received = String(Number(target.log.dataset.received) + 1);
    scrollDown(target);
  }

  function renderExchange(target, result) {
    const turn = el("div", "turn bot");
    turn.append(el("div", "avatar", "봇"));
    const column = el("div", "column");
    column.append(el("div", "name", BOT_NAME));
    turn.append(column);
    target.log.append(turn);
    const template = result.reply && result.reply.template;
    if (result.status !== 200) {
      column.append(notice(`HTTP ${result.status}: ${str(result.body)}`, "error"));
      column.append(notice("카카오에서는 사용자에게 아무것도 보이지 않습니다.", "error"));
    } else if (!template || typeof template !== "object") {
      column.append(notice("template이 없는 응답: 카카오는 아무것도 보여 주지 않습니다.", "error"));
    } else {
      for (const output of list(template.outputs)) renderOutput(target, column, output);
      turn.append(el("span", "time", clock()));
      showQuickReplies(target, list(template.quickReplies));
    }
    for (const problem of Array.isArray(result.problems) ? result.problems : []) {
      column.append(notice(`카카오 제한 위반 (이 응답은 버려집니다): ${str(problem)}`, "error"));
    }
    if (result.elapsedMs > DEADLINE_MS) {
      column.append(notice(`${result.elapsedMs} ms: 카카오는 5초가 지난 응답을 버립니다.`, "error"));
    }
    column.append(rawJson(result));
  }

  function rawJson(result) {
    const box = el("div", "raw");
    box.append(el("div", "raw-title", "요청 → POST /skill (오픈빌더와 같은 JSON)"));
    box.append(el("pre", "", JSON.stringify(result.request, null, 2)));
    box.append(el("div", "raw-title", `응답 HTTP ${result.status} · ${result.elapsedMs} ms`));
    const reply = result.reply !== null ? JSON.stringify(result.reply, null, 2) : str(result.body);
    box.append(el("pre", "", reply));
    return box;
  }

  /* ---- Kakao outputs ---- */

  function renderOutput(target, column, output) {
    for (const [kind, body] of Object.entries(output)) {
      if (!body || typeof body !== "object") continue;
      column.append(component(target, kind, body));
    }
  }

  function component(target, kind, body) {
    switch (kind) {
      case "simpleText":
        return simpleText(str(body.text));
      case "simpleImage":
        return imageBubble(body.imageUrl, body.altText);
      case "textCard":
      case "basicCard":
      case "commerceCard":
        return card(target, body);
      case "listCard":
        return listCard(target, body);
      case "itemCard":
        return itemCard(target, body);
      case "carousel":
        return carousel(target, body);
      default:
        return notice(`[${kind}: 그릴 수 없는 출력]`, "error");
    }
  }

  function simpleText(text) {
    const bubble = el("div", "bubble bot");
    if (text.length <= FOLD_AFTER) {
      bubble.textContent = text;
      return bubble;
    }
    const shown = el("span", "", text.slice(0, FOLD_AFTER) + "…");
    const more = el("button", "fold", "전체 보기");
    more.type = "button";
    more.addEventListener("click", () => {
      shown.textContent = text;
      more.remove();
    });
    bubble.append(shown, el("br"), more);
    return bubble;
  }

  function image(url, alt) {
    const href = httpUrl(url);
    if (!href) return notice(`[이미지 주소가 http(s)가 아닙니다: ${str(url)}]`, "error");
    const img = el("img", "image");
    img.alt = str(alt);
    img.loading = "eager";
    img.addEventListener("error", () => {
      img.replaceWith(notice(`[이미지를 불러오지 못했습니다: ${href}]`, "error"));
    });
    img.addEventListener("load", () => {
      // An image arriving after its reply was drawn pushes the reply down: keep it in view.
      const log = img.closest(".room");
      const below = log ? log.scrollHeight - log.scrollTop - log.clientHeight : Infinity;
      if (below <= img.clientHeight + 80) log.scrollTop = log.scrollHeight;
    });
    img.src = href;
    return img;
  }

  function imageBubble(url, alt) {
    const bubble = el("div", "bubble image-bubble");
    bubble.append(image(url, alt));
    return bubble;
  }

  function card(target, body) {
    const box = el("div", "card");
    const thumbnail = body.thumbnail || list(body.thumbnails)[0];
    if (thumbnail && typeof thumbnail === "object") {
      box.append(image(thumbnail.imageUrl, body.title));
    }
    const text = el("div", "card-text");
    if (body.title) text.append(el("div", "card-title", body.title));
    if (body.description) text.append(el("div", "card-description", body.description));
    if (body.price !== undefined) {
      text.append(el("div", "card-price", `${str(body.price)} ${str(body.currency)}`));
    }
    box.append(text);
    box.append(buttons(target, body.buttons, body.buttonLayout));
    return box;
  }

  function listCard(target, body) {
    const box = el("div", "card list-card");
    box.append(el("div", "list-header", body.header && body.header.title));
    for (const item of list(body.items)) {
      const row = el(item.action ? "button" : "div", "list-item");
      row.append(el("div", "card-title", item.title));
      row.append(el("div", "card-description", item.description));
      if (item.imageUrl && httpUrl(item.imageUrl)) row.append(image(item.imageUrl, item.title));
      if (item.action) {
        row.type = "button";
        row.addEventListener("click", () => tap(target, item, "LIST_ITEM"));
      }
      box.append(row);
    }
    box.append(buttons(target, body.buttons, body.buttonLayout));
    return box;
  }

  function itemCard(target, body) {
    const box = el("div", "card item-card");
    if (body.thumbnail) box.append(image(body.thumbnail.imageUrl, body.title));
    if (body.head) box.append(el("div", "list-header", body.head.title));
    for (const item of list(body.itemList)) {
      const row = el("div", "item-row");
      row.append(el("span", "item-key", item.title), el("span", "item-value", item.description));
      box.append(row);
    }
    const text = el("div", "card-text");
    if (body.title) text.append(el("div", "card-title", body.title));
    if (body.description) text.append(el("div", "card-description", body.description));
    box.append(text, buttons(target, body.buttons, body.buttonLayout));
    return box;
  }

  function carousel(target, body) {
    const strip = el("div", "carousel");
    const kind = str(body.type) || "basicCard";
    if (body.header && typeof body.header === "object") strip.append(card(target, body.header));
    for (const item of list(body.items)) strip.append(component(target, kind, item));
    return strip;
  }

  function buttons(target, nodes, layout) {
    const row = el("div", `card-buttons ${layout === "horizontal" ? "horizontal" : ""}`);
    for (const button of list(nodes)) {
      const label = str(button.label);
      const action = str(button.action);
      if (action === "webLink") {
        const href = httpUrl(button.webLinkUrl);
        if (!href) {
          row.append(disabled(`${label} (http(s) 링크가 아님)`));
          continue;
        }
        const link = el("a", "card-button link", label);
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        row.append(link);
      } else if (action === "message" || action === "block") {
        const tappable = el("button", "card-button", label);
        tappable.type = "button";
        tappable.addEventListener("click", () => tap(target, button, "CARD_BUTTON"));
        row.append(tappable);
      } else if (action === "phone") {
        row.append(disabled(`${label} (전화 ${str(button.phoneNumber)})`));
      } else {
        row.append(disabled(`${label} (${action || "?"})`));
      }
    }
    return row;
  }

  function disabled(label) {
    const button = el("button", "card-button", label);
    button.type = "button";
    button.disabled = true;
    return button;
  }

  function tap(target, node, prefix) {
    // Tapping sends messageText as the utterance (a block button without one shows its label)
    // and the node's extra as action.clientExtra, as Kakao does.
    const extra = node.extra && typeof node.extra === "object" ? node.extra : {};
    const trigger = `${prefix}_${node.action === "block" ? "BLOCK" : "MESSAGE"}`;
    send(target, str(node.messageText) || str(node.label || node.title), extra, trigger);
  }

  function showQuickReplies(target, nodes) {
    target.quick.replaceChildren();
    for (const node of nodes) {
      const button = el("button", "quick-reply", node.label);
      button.type = "button";
      button.addEventListener("click", () => tap(target, node, "QUICKREPLY_BUTTON"));
      target.quick.append(button);
    }
    target.log.append(target.quick); // always below the last message
  }

  /* ---- the page ---- */

  function composer() {
    const box = $("message");
    const submit = () => {
      send(current, box.value, {}, "TEXT_INPUT");
      box.value = "";
      grow();
    };
    const grow = () => {
      box.style.height = "auto";
      box.style.height = `${Math.min(box.scrollHeight, 160)}px`;
    };
    box.addEventListener("input", grow);
    box.addEventListener("keydown", (event) => {
      // isComposing: Enter that ends a Hangul syllable in an IME must not send the message.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
  }

  function userSwitcher(presets) {
    for (const preset of presets) {
      const tab = el("button", "user-tab", preset.label);
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.dataset.key = preset.key;
      tab.dataset.role = preset.role;
      tab.title = `사용자 키 ${preset.key}`;
      tab.addEventListener("click", () => switchUser(preset.key, preset.label));
      $("user-tabs").append(tab);
    }
    $("user-key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("user-key").value.trim();
      if (!key) return;
      if (![...$("user-tabs").children].some((tab) => tab.dataset.key === key)) {
        const tab = el("button", "user-tab", key.length > 12 ? key.slice(0, 12) + "…" : key);
        tab.type = "button";
        tab.setAttribute("role", "tab");
        tab.dataset.key = key;
        tab.addEventListener("click", () => switchUser(key, key));
        $("user-tabs").append(tab);
      }
      $("user-key").value = "";
      switchUser(key, key);
    });
  }

  async function start() {
    const settings = await (await fetch(SETTINGS_URL)).json();
    $("user-key").maxLength = settings.userKeyMax;
    for (const hint of document.querySelectorAll("[data-admin-code]")) {
      hint.hidden = (hint.dataset.adminCode === "on") !== Boolean(settings.adminCode);
    }
    $("raw-toggle").addEventListener("change", (event) => {
      document.body.classList.toggle("show-raw", event.target.checked);
    });
    userSwitcher(settings.presets);
    composer();
    const first = settings.presets[0];
    switchUser(first.key, first.label);
    $("phone").dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", () => {
    start().catch((error) => {
      $("rooms").append(notice(`시작할 수 없습니다: ${error}`, "error"));
    });
  });
})();
