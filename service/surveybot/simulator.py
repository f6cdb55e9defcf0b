"""`surveybot chat`: talk to a running skill server from a terminal, without a Kakao account."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from surveybot.kakao.limits import validate_reply
from surveybot.kakao.payload import TEXT_INPUT, build_payload

PROMPT = "나> "
MORE_PROMPT = ".. "
DEADLINE_SECONDS = 5.0  # Kakao shows nothing for a reply slower than this
BANNER = """\
surveybot chat: {url} 에 오픈빌더처럼 요청을 보냅니다 (사용자 {user}).
  메시지를 입력하고 Enter. 줄 끝의 \\ 는 다음 줄로 이어 씁니다 (여러 줄 메시지: 설문 만들기).
  화면의 [1] [2] ... 번호를 입력하면 그 바로가기 답장을 누른 것과 같습니다.
  /user KEY 다른 사용자로 · /raw 응답 JSON 보기 켜기/끄기 · /help 이 안내 · /quit 끝내기 (Ctrl-D)
Type a message and Enter; end a line with \\ to continue it; type a shown number to tap it.
"""
_NUMBER = re.compile(r"[0-9]{1,3}")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

Node = dict[str, Any]
ReadLine = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True)
class Choice:
    """Something tappable on screen: a quick reply or a card button that sends a message."""

    label: str
    utterance: str
    extra: dict[str, Any]
    trigger: str


def post_json(
    url: str, payload: Node, headers: dict[str, str], timeout: float
) -> tuple[int, bytes]:
    """POST payload as JSON; return the status and body, for error statuses too."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json;charset=UTF-8", **headers},
        method="POST",
    )
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _opener(url: str) -> urllib.request.OpenerDirector:
    # A local server must never be sent through an http_proxy set in the environment.
    if urlsplit(url).hostname in LOCAL_HOSTS:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


class _Renderer:
    """Turn a skill reply into terminal lines, numbering what can be tapped."""

    def __init__(self, first_number: int) -> None:
        self.lines: list[str] = []
        self.choices: list[Choice] = []
        self._next = first_number

    def output(self, node: Node, kind: str | None = None) -> None:
        for key, body in node.items() if kind is None else [(kind, node)]:
            if not isinstance(body, dict):
                continue
            if key == "simpleText":
                self.lines.append(_text(body.get("text")))
            elif key == "simpleImage":
                self.lines.append(f"[이미지] {_text(body.get('imageUrl'))}")
            elif key == "carousel":
                self._carousel(body)
            elif key == "listCard":
                self._list_card(body)
            elif key in ("textCard", "basicCard", "commerceCard", "itemCard"):
                self._card(body)
            else:
                self.lines.append(f"[{key}: 이 출력은 그릴 수 없습니다 / cannot render]")

    def _carousel(self, body: Node) -> None:
        items = _dicts(body.get("items"))
        kind = _text(body.get("type")) or "basicCard"
        header = body.get("header")
        if isinstance(header, dict):
            self._card(header)
        for number, item in enumerate(items, start=1):
            self.lines.append(f"({number}/{len(items)})")
            self.output(item, kind)

    def _card(self, body: Node) -> None:
        title = _text(body.get("title")) or _text(_get(body, "head", "title"))
        self.lines.append(f"[카드] {title}".rstrip())
        image = _text(_get(body, "thumbnail", "imageUrl"))
        if image:
            self.lines.append(f"  [이미지] {image}")
        self.lines.extend(f"  {line}" for line in _text(body.get("description")).splitlines())
        for item in _dicts(body.get("itemList")):
            self.lines.append(f"  {_text(item.get('title'))}: {_text(item.get('description'))}")
        if "price" in body:
            self.lines.append(f"  {_text(body.get('price'))} {_text(body.get('currency'))}")
        self._buttons(body.get("buttons"))

    def _list_card(self, body: Node) -> None:
        self.lines.append(f"[목록] {_text(_get(body, 'header', 'title'))}".rstrip())
        for item in _dicts(body.get("items")):
            texts = (_text(item.get("title")), _text(item.get("description")))
            line = " — ".join(t for t in texts if t)
            choice = _choice(item, "LIST_ITEM") if item.get("action") else None
            link = _text(_get(item, "link", "web"))
            if choice is not None:
                line = f"[{self._add(choice)}] {line}"
            self.lines.append(f"  • {line}" + (f" → {link}" if link else ""))
        self._buttons(body.get("buttons"))

    def _buttons(self, nodes: object) -> None:
        for button in _dicts(nodes):
            label, action = _text(button.get("label")), _text(button.get("action"))
            if action == "webLink":
                self.lines.append(f"  (링크) {label} → {_text(button.get('webLinkUrl'))}")
            elif action == "phone":
                self.lines.append(f"  (전화) {label} → {_text(button.get('phoneNumber'))}")
            elif action in ("message", "block"):
                number = self._add(_choice(button, "CARD_BUTTON"))
                self.lines.append(f"  [{number}] {label}")
            else:
                self.lines.append(f"  ({action or '?'}) {label}")

    def _add(self, choice: Choice) -> int:
        self.choices.append(choice)
        self._next += 1
        return self._next - 1


def render_reply(reply: object) -> tuple[list[str], list[Choice]]:
    """Return the lines to print and the numbered choices: quick replies first, from 1."""
    template = reply.get("template") if isinstance(reply, dict) else None
    if not isinstance(template, dict):
        return ["(template이 없는 응답: 카카오는 아무것도 보여 주지 않습니다)"], []
    quick = [_choice(node, "QUICKREPLY_BUTTON") for node in _dicts(template.get("quickReplies"))]
    renderer = _Renderer(first_number=len(quick) + 1)
    for output in _dicts(template.get("outputs")):
        renderer.output(output)
    lines = renderer.lines
    if quick:
        lines.append("  ".join(f"[{n}] {c.label}" for n, c in enumerate(quick, start=1)))
    return lines, quick + renderer.choices


def _choice(node: Node, trigger_prefix: str) -> Choice:
    label = _text(node.get("label")) or _text(node.get("title"))
    # Tapping sends messageText as the utterance; a block button without one shows its label.
    utterance = _text(node.get("messageText")) or label
    extra = node.get("extra")
    trigger = f"{trigger_prefix}_{'BLOCK' if node.get('action') == 'block' else 'MESSAGE'}"
    return Choice(label, utterance, extra if isinstance(extra, dict) else {}, trigger)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _get(node: Node, *keys: str) -> object:
    value: object = node
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _dicts(value: object) -> list[Node]:
    # Replies are untrusted input here: anything that is not a list of objects renders as nothing.
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@dataclass
class _Chat:
    url: str
    user_key: str
    headers: dict[str, str]
    timeout: float
    out: TextIO
    raw: bool = False
    choices: list[Choice] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def handle(self, message: str) -> bool:
        """Act on one message or command; return False to quit."""
        text = message.strip()
        if not text:
            return True
        if text.startswith("/") and not text.startswith("//") and "\n" not in text:
            return self.command(text)
        if text.startswith("//"):
            message = message.replace("/", "", 1)  # "//x" sends "/x"
        choice = self.pick(text)
        if choice is not None:
            self.say(f"(→ {choice.utterance})")
            self.send(choice.utterance, choice.extra, choice.trigger)
        else:
            self.send(message, {}, TEXT_INPUT)
        return True

    def pick(self, text: str) -> Choice | None:
        if not _NUMBER.fullmatch(text):
            return None
        number = int(text)
        return self.choices[number - 1] if 1 <= number <= len(self.choices) else None

    def command(self, text: str) -> bool:
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/user" and argument:
            self.user_key, self.choices = argument, []
            self.say(f"(이제 사용자 {argument} 로 보냅니다 / now talking as {argument})")
        elif name == "/user":
            self.say(f"(지금 사용자: {self.user_key})")
        elif name == "/raw":
            self.raw = not self.raw
            self.say(f"(raw JSON {'on' if self.raw else 'off'})")
        elif name == "/help":
            self.say(BANNER.format(url=self.url, user=self.user_key))
        else:
            self.say(f"(알 수 없는 명령 {name}: /help. '/'로 시작하는 메시지는 '//'로 보내세요)")
        return True

    def send(self, utterance: str, extra: dict[str, Any], trigger: str) -> None:
        payload = build_payload(self.user_key, utterance, extra, trigger=trigger, test_panel=True)
        started = time.monotonic()
        try:
            status, body = post_json(self.url, payload, self.headers, self.timeout)
        except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
            self.say(f"! 서버에 연결할 수 없습니다 / cannot reach {self.url}: {_reason(error)}")
            self.say("  서버가 실행 중인지 확인하세요 (surveybot serve). Is the server running?")
            return
        elapsed = time.monotonic() - started
        if status != 200:
            self._http_error(status, body)
            return
        try:
            reply = json.loads(body.decode("utf-8"))
        except ValueError:
            self.say(f"! 응답이 JSON이 아닙니다 / reply is not JSON: {_excerpt(body)}")
            return
        self.show(reply, elapsed)

    def _http_error(self, status: int, body: bytes) -> None:
        self.say(f"! HTTP {status}: {_excerpt(body)}")
        if status in (401, 403):
            self.say("  스킬 시크릿을 확인하세요 (SKILL_SECRET, SKILL_SECRET_HEADER).")
        self.say("  카카오에서는 사용자에게 아무것도 보이지 않습니다 / Kakao would show nothing.")

    def show(self, reply: object, elapsed: float) -> None:
        if self.raw:
            self.say(json.dumps(reply, ensure_ascii=False, indent=2))
        lines, self.choices = render_reply(reply)
        self.say()
        for line in lines:
            self.say(line)
        for problem in validate_reply(reply):
            self.say(f"! 카카오 제한 위반 / Kakao would drop this reply: {problem}")
        if elapsed > DEADLINE_SECONDS:
            self.say(
                f"! {elapsed:.1f}초: 카카오는 {DEADLINE_SECONDS:.0f}초가 지난 응답을 버립니다."
            )
        self.say()


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason) or type(reason).__name__


def _excerpt(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def read_message(read_line: ReadLine) -> str | None:
    """Read one message; a line ending in a backslash continues on the next. None at EOF."""
    parts: list[str] = []
    while True:
        line = read_line(MORE_PROMPT if parts else PROMPT)
        if line is None:
            # EOF in the middle of a message still sends what was typed.
            return "\n".join(parts) if parts else None
        if not line.endswith("\\"):
            return "\n".join([*parts, line])
        parts.append(line[:-1])


def _line_reader(stdin: TextIO, stdout: TextIO) -> ReadLine:
    if stdin is sys.stdin and stdout is sys.stdout and stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (gives input() line editing and history)
        return _terminal_line

    def read(prompt: str) -> str | None:
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        return line.rstrip("\r\n") if line else None

    return read


def _terminal_line(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


def run_chat(
    url: str,
    user_key: str,
    *,
    secret: str | None = None,
    secret_header: str = "X-Skill-Secret",
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    timeout: float = 10.0,
) -> int:
    """Run the chat loop against url as user_key; return the exit status."""
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if stdout is None else stdout
    if urlsplit(url).scheme not in ("http", "https"):
        out.write(f"http:// 또는 https:// 주소가 필요합니다 / need an http(s) URL: {url}\n")
        return 2
    headers = {secret_header: secret} if secret else {}
    chat = _Chat(url, user_key, headers, timeout, out)
    chat.say(BANNER.format(url=url, user=user_key))
    read_line = _line_reader(stdin, out)
    try:
        while (message := read_message(read_line)) is not None:
            if not chat.handle(message):
                return 0
    except KeyboardInterrupt:
        out.write("\n")
        return 130
    out.write("\n")
    return 0
