"""Admin commands: survey management, results, pending list, export link, roles, roster."""

from __future__ import annotations

import logging

from surveybot import audit
from surveybot.charts import chart_path
from surveybot.conversation.commands import Command
from surveybot.conversation.context import MAX_PAGE, Context, kst, paged
from surveybot.conversation.replies import no_survey, number_from, survey_from
from surveybot.disclosure import results_hidden
from surveybot.domain import (
    ANONYMOUS_RESULTS_MIN,
    PendingPerson,
    Question,
    QuestionKind,
    Results,
    Role,
    Survey,
)
from surveybot.kakao.limits import CARD_TITLE_MAX, truncate
from surveybot.kakao.reply import Button, Reply
from surveybot.korean import josa, quoted
from surveybot.names import InvalidName, split_name_number
from surveybot.store.base import ReleaseOutcome, RoleOutcome, WriteOutcome
from surveybot.tokens import sign_export_token, sign_results_token

log = logging.getLogger("surveybot.admin")


def manage(ctx: Context, command: Command) -> Reply:
    """Every survey, open and closed, with response counts."""
    listings = ctx.store.list_surveys()
    if not listings:
        return Reply().text("아직 설문이 없습니다.").quick("설문만들기")
    lines = ["[설문관리]"]
    for listing in listings:
        survey = listing.survey
        lines.append(
            f"{survey.id}. {survey.title}\n   {_status(ctx, survey)} · 응답 {listing.response_count}"
        )
    lines.append("\n결과·미응답·마감·재개·삭제·다운로드 뒤에 번호를 붙여 보내세요.")
    reply = paged(ctx, "설문관리", "\n".join(lines))
    for listing in listings[:6]:
        reply.quick(f"결과 {listing.survey.id}")
    return reply.quick("설문만들기").quick("메뉴")


def _status(ctx: Context, survey: Survey) -> str:
    anonymous = " · 익명" if survey.anonymous else ""
    if survey.is_open(ctx.now):
        return f"진행 중 (마감 {kst(survey.deadline)}){anonymous}"
    if survey.purged_at is not None:
        return f"마감됨{anonymous} · 응답 파기됨 ({kst(survey.purged_at)})"
    return f"마감됨{anonymous}"


# A purged survey (`surveybot purge`) has no answers left to list or export.
PURGED = "보존 기한이 지나 응답을 파기한 설문입니다"


def results(ctx: Context, command: Command) -> Reply:
    number = number_from(command)
    found = ctx.store.results(number)
    if found is None:
        return no_survey(number)
    reply = paged(ctx, f"결과 {number}", results_text(ctx, found))
    if ctx.page == 0:
        _results_card(ctx, reply, found)
    return reply.quick(f"미응답 {number}").quick(f"다운로드 {number}").quick("설문관리")


def _results_card(ctx: Context, reply: Reply, found: Results) -> None:
    """The chart (when there is one it may show) and a link to the results page (issue 11).

    Only URLs are made here; the chart is drawn when Kakao fetches it, so the reply stays fast.
    """
    settings, survey = ctx.settings, found.survey
    if survey.purged_at is not None and not survey.summary_kept:
        return  # nothing left to draw or to show
    expires = int(ctx.now.timestamp()) + settings.export_ttl_seconds
    token = sign_results_token(settings.secret_key, survey.id, ctx.registered.id, expires)
    button = Button.link("결과 보기", f"{settings.public_base_url}/results/{token}")
    title = truncate(f"{survey.id}. {survey.title}", CARD_TITLE_MAX)
    minutes = max(settings.export_ttl_seconds // 60, 1)
    description = f"응답 {found.respondents}명 / 대상 {found.population}명\n"
    chart = chart_path(settings.secret_key, found, ctx.now)
    if chart is None:
        description += f"전체 결과는 '결과 보기'에서 ({minutes}분 동안 열 수 있음)"
        reply.card(title, description, [button])
        return
    description += f"막대그래프 · 전체 결과는 '결과 보기'에서 ({minutes}분 동안 열 수 있음)"
    reply.image_card(title, description, f"{settings.public_base_url}{chart}", [button])


def anonymous_results_hidden(ctx: Context, survey: Survey, respondents: int) -> bool:
    """Whether what people chose must stay hidden: an anonymous survey still open, or too few.

    While answers can still arrive, two views of the results a moment apart would show what the
    one person who answered in between chose; with one or two answers, the totals are theirs.
    """
    return results_hidden(survey, respondents, ctx.now)


ANONYMOUS_HIDDEN = (
    "🔒 익명 설문이라 보기별 결과와 자유 응답은 마감 후, 응답이 {n}명 이상일 때 볼 수 있습니다. "
    "그 전에 결과를 보여 주면 누가 무엇을 골랐는지 비교해 알 수 있기 때문입니다."
)


def results_text(ctx: Context, found: Results) -> str:
    survey = found.survey
    rate = f" ({found.respondents * 100 // found.population}%)" if found.population else ""
    lines = [
        f"[결과] {survey.id}. {survey.title}",
        _status(ctx, survey),
        f"응답 {found.respondents}명 / 대상 {found.population}명{rate}",
    ]
    if survey.purged_at is not None and not survey.summary_kept:
        return "\n".join([*lines[:2], "", f"{PURGED}. 남은 결과가 없습니다."])
    if survey.purged_at is not None:
        lines += ["", f"{PURGED}. 보기별 집계만 남아 있습니다."]
    if anonymous_results_hidden(ctx, survey, found.respondents):
        lines += ["", ANONYMOUS_HIDDEN.format(n=ANONYMOUS_RESULTS_MIN)]
        return "\n".join(lines)
    for index, question in enumerate(survey.questions):
        lines.append("")
        lines.extend(_question_lines(found, index, question))
    return "\n".join(lines)


def _question_lines(found: Results, index: int, question: Question) -> list[str]:
    if question.kind is QuestionKind.TEXT:
        count = found.text_counts.get(index, 0)
        lines = [f"Q{index + 1}. {question.title} (자유 응답 {count}건)"]
        lines += [f" · {_clip(text, 80)}" for text in found.latest_texts.get(index, [])]
        return lines
    kind = "복수 선택" if question.kind is QuestionKind.MULTI else "하나 선택"
    lines = [f"Q{index + 1}. {question.title} ({kind})"]
    counts = found.counts.get(index, {})
    for option_index, option in enumerate(question.options):
        count = counts.get(option_index, 0)
        share = count * 100 // found.respondents if found.respondents else 0
        bar = "■" * (share // 20) + "□" * (5 - share // 20)
        lines.append(f" {bar} {option}: {count}명 ({share}%)")
    return lines


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# People per 미응답 page. A page is read from the database as it is shown, from where the last one
# ended, so its cost stays the same with a million people; lines are clipped to fit one bubble.
PENDING_PAGE = 20
PENDING_LINE = 40


def pending(ctx: Context, command: Command) -> Reply:
    number = number_from(command)
    page = max(ctx.page, 0) if ctx.page_after is not None else 0
    found = ctx.store.pending(number, after=ctx.page_after, limit=PENDING_PAGE)
    if found is None:
        return no_survey(number)
    survey, people = found.survey, found.people
    head = f"[미응답] {survey.id}. {survey.title}"
    if survey.purged_at is not None:  # who took part was purged too: everyone would be listed
        return Reply().text(f"{head}\n{PURGED}. 누가 응답했는지도 남아 있지 않습니다.").quick(
            f"결과 {number}"
        )
    if page == 0 and found.after is None:
        if not people:
            return Reply().text(f"{head}\n모두 응답했습니다. 🎉").quick(f"결과 {number}")
        lines = [f"{head} — {len(people)}명"]  # everyone left fits this page: the count is exact
    else:
        # Counting everyone left would read them all; the counters say how far along it is.
        lines = [head, f"응답 {found.respondents}명 / 대상 {found.population}명 · {page + 1}쪽"]
    lines += [_pending_line(person) for person in people]
    if not people and found.after is not None:
        lines.append("이 쪽에서 살펴본 사람은 모두 응답했습니다. '다음'으로 이어서 찾습니다.")
    elif not people:
        lines.append("남은 사람은 모두 응답했습니다.")
    elif found.after is None and page > 0:
        lines.append("(마지막 쪽)")
    reply = Reply().text("\n".join(lines))
    if found.after is not None and page + 1 < MAX_PAGE:
        ctx.next_page = {"more": f"미응답 {number}", "page": page + 1, "after": list(found.after)}
        reply.quick(f"다음 ({page + 2}쪽)", "다음", ctx.next_page)
    _offer_reminder(ctx, reply, survey, bool(people))
    return reply.quick(f"결과 {number}").quick("설문관리")


def _pending_line(person: PendingPerson) -> str:
    details = [part for part in (person.member_no, person.department) if part]
    if not person.registered:
        details.append("미등록")
    return _clip(f"• {person.name}" + (f" ({', '.join(details)})" if details else ""), PENDING_LINE)


def _offer_reminder(ctx: Context, reply: Reply, survey: Survey, anyone: bool) -> None:
    """Chase the people listed through Kakao rather than by hand (issue 10)."""
    if anyone and ctx.settings.reminders_enabled and survey.is_open(ctx.now):
        reply.quick(f"알림 {survey.id}")


def close(ctx: Context, command: Command) -> Reply:
    number = number_from(command)
    outcome = ctx.store.close_survey(number, ctx.now, ctx.actor)
    if outcome is WriteOutcome.MISSING:
        return no_survey(number)
    text = (
        "이미 마감된 설문입니다."
        if outcome is WriteOutcome.CLOSED
        else f"{number}번 설문을 마감했습니다."
    )
    return Reply().text(text).quick(f"결과 {number}").quick(f"재개 {number}")


def reopen(ctx: Context, command: Command) -> Reply:
    before = survey_from(ctx, command)
    number = before.id
    if before.purged_at is not None:
        text = f"{number}번은 {PURGED}. 다시 열 수 없으니 새 설문을 만들어 주세요."
        return Reply().text(text).quick(f"결과 {number}")
    if before.anonymous and not before.is_open(ctx.now):
        found = ctx.store.results(number)
        if found is not None and found.respondents >= ANONYMOUS_RESULTS_MIN:
            # Its results are visible now; reopening, then comparing them after one more answer,
            # would show what that person chose.
            text = (
                f"{number}번 익명 설문은 결과가 공개되어 다시 열 수 없습니다. 다시 받으려면 새 "
                "설문을 만들어 주세요."
            )
            return Reply().text(text).quick(f"결과 {number}")
    outcome = ctx.store.reopen_survey(number, ctx.now, ctx.actor)
    if outcome is WriteOutcome.MISSING:
        return no_survey(number)
    if outcome is WriteOutcome.CLOSED:
        text = "이미 진행 중인 설문입니다."
    elif before.deadline is not None and before.deadline <= ctx.now:
        text = (
            f"{number}번 설문을 다시 열었습니다. 지난 마감 시각은 지웠으니 "
            f"{quoted(f'마감 {number}', '으로/로')} 닫아 주세요."
        )
    else:
        text = f"{number}번 설문을 다시 열었습니다."
    return Reply().text(text).quick(f"결과 {number}").quick("설문관리")


def delete(ctx: Context, command: Command) -> Reply:
    """Ask first: deleting drops the survey and every answer to it."""
    survey = survey_from(ctx, command)
    number = survey.id
    ctx.ask_confirmation("delete", survey)
    text = (
        f"{survey.id}번 설문 {quoted(survey.title, '과/와')} 모든 응답을 삭제할까요? "
        "되돌릴 수 없습니다."
    )
    return (
        Reply().text(text).quick("삭제 확인", f"삭제확인 {number}").quick("그대로 두기", "설문관리")
    )


def confirm_delete(ctx: Context, command: Command) -> Reply:
    number = number_from(command)
    if ctx.pending_confirmation("delete", number) is None:
        # Only right after 삭제 n: a stray or forged 삭제확인 deletes nothing.
        text = f"삭제하려면 먼저 {quoted(f'삭제 {number}', '을/를')} 보내 주세요."
        return Reply().text(text).quick("설문관리")
    deleted = ctx.store.delete_survey(number, ctx.actor, ctx.now)
    ctx.forget("confirm")
    if not deleted:
        return Reply().text(f"{number}번 설문이 없습니다 (이미 삭제됨).").quick("설문관리")
    return Reply().text(f"{number}번 설문을 삭제했습니다.").quick("설문관리")


def export(ctx: Context, command: Command) -> Reply:
    """A short-lived, signed link to the results file; the role is checked again at download."""
    survey = survey_from(ctx, command)
    number = survey.id
    if survey.purged_at is not None:
        return Reply().text(f"{number}번은 {PURGED}. 결과 파일이 없습니다.").quick(f"결과 {number}")
    if survey.anonymous:
        found = ctx.store.results(number)
        if found is None or anonymous_results_hidden(ctx, survey, found.respondents):
            text = ANONYMOUS_HIDDEN.format(n=ANONYMOUS_RESULTS_MIN).replace(
                "보기별 결과와 자유 응답은", "결과 파일은"
            )
            return Reply().text(text).quick(f"결과 {number}")
    settings = ctx.settings
    expires = int(ctx.now.timestamp()) + settings.export_ttl_seconds
    token = sign_export_token(settings.secret_key, survey.id, ctx.registered.id, expires)
    issued = audit.Event(audit.Action.EXPORT_ISSUE, audit.Target.SURVEY, survey.id)
    ctx.store.record_audit(ctx.actor, issued, ctx.now)
    url = f"{settings.public_base_url}/exports/{token}"
    minutes = max(settings.export_ttl_seconds // 60, 1)
    description = (
        f"{survey.id}. {survey.title}\n엑셀 파일(.xlsx) 또는 CSV · 링크는 {minutes}분 동안 "
        "유효합니다."
    )
    buttons = [Button.link("CSV 내려받기", url), Button.link("엑셀 내려받기", f"{url}.xlsx")]
    return (
        Reply()
        .card("결과 파일", description, buttons)
        .quick(f"결과 {number}")
        .quick("설문관리")
    )


def grant(ctx: Context, command: Command) -> Reply:
    return _change_role(ctx, command, Role.ADMIN)


def revoke(ctx: Context, command: Command) -> Reply:
    return _change_role(ctx, command, Role.MEMBER)


def _change_role(ctx: Context, command: Command, role: Role) -> Reply:
    verb = "관리자지정" if role is Role.ADMIN else "관리자해제"
    try:
        name, number = split_name_number(command.arg)
    except InvalidName as error:
        return Reply().text(str(error)).quick("메뉴")
    if not name:
        return Reply().text(
            f"이름을 함께 보내 주세요. 예: '{verb} 홍길동' (동명이인은 '{verb} 홍길동 1234')"
        )
    people = ctx.store.find_users(name)
    if number is not None:
        people = [p for p in people if p.member_no == number]
    who = " ".join(part for part in (name, number) if part)
    if not people:
        text = f"{quoted(who, '으로/로')} 등록된 사람이 없습니다."
        return Reply().text(text).quick("명단")
    if len(people) > 1:
        numbers = ", ".join(p.member_no or "번호 없음" for p in people)
        return Reply().text(f"같은 이름이 여러 명입니다 ({numbers}). 번호를 붙여 주세요.")
    person = people[0]
    outcome = ctx.store.set_role(person.id, role.value, ctx.actor)
    title = "관리자" if role is Role.ADMIN else "회원"
    text = {
        RoleOutcome.OK: f"{person.name}님을 {josa(title, '으로/로')} 바꿨습니다.",
        RoleOutcome.UNCHANGED: f"{person.name}님은 이미 {title}입니다.",
        RoleOutcome.LAST_ADMIN: "마지막 관리자는 해제할 수 없습니다. 먼저 다른 관리자를 지정해 주세요.",
        RoleOutcome.MISSING: f"{quoted(who, '으로/로')} 등록된 사람이 없습니다.",
    }[outcome]
    return Reply().text(text).quick("메뉴")


def roster(ctx: Context, command: Command) -> Reply:
    status = ctx.store.roster_status()
    if status.size == 0:
        text = (
            "명단이 없어 누구나 등록할 수 있습니다. 응답률은 등록한 사람 기준입니다.\n"
            "운영자가 'surveybot roster import 명단.csv'로 명단(이름, 번호, 부서)을 가져올 수 있습니다."
        )
        return Reply().text(text).quick("설문관리")
    lines = [
        f"[명단] {status.size}명 · 등록 {status.registered}명 · 미등록 {len(status.unregistered)}명"
    ]
    for entry in status.unregistered:
        details = [part for part in (entry.member_no, entry.department) if part]
        lines.append(f"• {entry.name}" + (f" ({', '.join(details)})" if details else ""))
    return paged(ctx, "명단", "\n".join(lines)).quick("설문관리")


def release(ctx: Context, command: Command) -> Reply:
    """등록해제 이름 [번호]: free a roster entry claimed by the wrong Kakao account.

    Answers already given stay with the account that gave them, under the name they were given
    under; the entry can then be claimed by the right person.
    """
    try:
        name, number = split_name_number(command.arg)
    except InvalidName as error:
        return Reply().text(str(error)).quick("명단")
    if not name:
        text = "명단의 이름을 함께 보내 주세요. 예: '등록해제 홍길동' (동명이인은 '등록해제 홍길동 1234')"
        return Reply().text(text).quick("명단")
    result = ctx.store.release_claim(name, number, ctx.actor)
    who = " ".join(part for part in (name, number) if part)
    if result.outcome is ReleaseOutcome.OK:
        log.warning(
            "roster claim released",
            extra={"by": ctx.registered.id, "entry": who, "released_user_key": result.user_key},
        )
        text = (
            f"명단의 {quoted(who, '을/를')} 등록 해제했습니다. 이제 본인이 "
            f"{quoted(f'등록 {who}', '으로/로')} 등록할 수 있습니다. 이미 낸 응답은 낸 사람의 "
            "것으로 남습니다."
        )
    else:
        text = {
            ReleaseOutcome.NOT_ON_ROSTER: f"명단에 {quoted(who, '이/가')} 없습니다.",
            ReleaseOutcome.NUMBER_REQUIRED: f"명단에 {who} 이름이 여럿입니다. 번호를 붙여 주세요.",
            ReleaseOutcome.NOT_CLAIMED: f"명단의 {quoted(who, '은/는')} 등록한 사람이 없습니다.",
        }[result.outcome]
    return Reply().text(text).quick("명단").quick("메뉴")
