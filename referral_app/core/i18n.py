"""The translation table: every user-visible message, in every supported language.

Service errors look up `error.<code>`; the web app's own texts live beside it (referral_app/web/texts.py)
and are rendered by the same `render`.
"""

from __future__ import annotations

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
API_LANGUAGE = "en"

# key -> language -> text; texts may hold {placeholders}.
Catalog = dict[str, dict[str, str]]

MESSAGES: Catalog = {
    # Errors raised by the service layer (and the API's transport-level errors).
    "error.invalid_phone": {
        "en": "This is not a valid phone number.",
        "ru": "Это не похоже на правильный номер телефона.",
    },
    "error.unsupported_number": {
        "en": "We cannot send an SMS to this number. Use a mobile number.",
        "ru": "На этот номер мы не можем отправить SMS. Укажите мобильный номер.",
    },
    "error.sms_failed": {
        "en": "The SMS could not be sent. Try again.",
        "ru": "Не удалось отправить SMS. Попробуйте ещё раз.",
    },
    "error.unknown_client": {
        "en": "The request's origin cannot be determined.",
        "ru": "Не удаётся определить, откуда пришёл запрос.",
    },
    "error.rate_limited": {
        "en": "Too many requests. Try again in {wait}.",
        "ru": "Слишком много запросов. Повторите через {wait}.",
    },
    "error.invalid_code": {
        "en": "The code is wrong or has expired. Attempts left: {attempts_left}.",
        "ru": "Код неверный или устарел. Осталось попыток: {attempts_left}.",
    },
    "error.too_many_attempts": {
        "en": "Too many wrong attempts. Request a new code.",
        "ru": "Слишком много неверных попыток. Запросите новый код.",
    },
    "error.not_authenticated": {
        "en": "Sign in to continue: the access token is missing, invalid, expired or revoked.",
        "ru": "Войдите, чтобы продолжить: токен доступа отсутствует, неверен, истёк или отозван.",
    },
    "error.invite_code_not_found": {
        "en": "No user has this invite code.",
        "ru": "Пользователя с таким инвайт-кодом нет.",
    },
    "error.own_invite_code": {
        "en": "You cannot activate your own invite code.",
        "ru": "Нельзя активировать собственный инвайт-код.",
    },
    "error.invite_already_activated": {
        "en": "You have already activated an invite code.",
        "ru": "Вы уже активировали инвайт-код.",
    },
    "error.referral_cycle": {
        "en": "This code belongs to someone you invited, directly or through others.",
        "ru": "Этот код принадлежит тому, кого вы пригласили (напрямую или через других).",
    },
    "error.validation_error": {
        "en": "The request is not valid.",
        "ru": "Запрос заполнен неверно.",
    },
    "error.invalid_email": {
        "en": "This is not a valid email address.",
        "ru": "Это не похоже на правильный адрес почты.",
    },
    "error.invalid_name": {
        "en": "The name must be at most {limit} characters.",
        "ru": "Имя должно быть не длиннее {limit} символов.",
    },
    "error.not_found": {
        "en": "Not found.",
        "ru": "Не найдено.",
    },
    "error.method_not_allowed": {
        "en": "Method not allowed.",
        "ru": "Метод не поддерживается.",
    },
    "error.payload_too_large": {
        "en": "The request body is larger than {limit} bytes.",
        "ru": "Тело запроса больше {limit} байт.",
    },
    "error.forbidden_origin": {
        "en": "Requests from pages of other sites are not accepted.",
        "ru": "Запросы со страниц других сайтов не принимаются.",
    },
    "error.account_blocked": {
        "en": "This account is blocked. Contact support.",
        "ru": "Этот аккаунт заблокирован. Обратитесь в поддержку.",
    },
    "error.reauth_required": {
        "en": "For this action, confirm it is you: we will send a code to your phone.",
        "ru": "Для этого действия подтвердите, что это вы: пришлём код на ваш телефон.",
    },
    "error.reason_required": {
        "en": "Type the reason for this action (at most {limit} characters): it is kept in the audit trail.",
        "ru": "Укажите причину действия (не длиннее {limit} символов): она сохранится в журнале аудита.",
    },
    "error.session_not_found": {
        "en": "You have no such session (it may have ended already).",
        "ru": "Такого сеанса у вас нет (возможно, он уже завершён).",
    },
    "error.service_unavailable": {
        "en": "The service is temporarily unavailable. Try again shortly.",
        "ru": "Сервис временно недоступен. Повторите чуть позже.",
    },
    "error.internal_error": {
        "en": "Something went wrong on our side.",
        "ru": "Что-то пошло не так на нашей стороне.",
    },
    # Units for waits.
    "unit.seconds": {"en": "{n} s", "ru": "{n} с"},
    "unit.minutes": {"en": "{n} min", "ru": "{n} мин"},
    # The simulated SMS.
    "sms.login_code": {
        "en": "Your referral_app login code: {code}. Do not share it with anyone.",
        "ru": "Код для входа в referral_app: {code}. Никому его не сообщайте.",
    },
}


def render(entry: dict[str, str], lang: str, fallback: str, params: dict[str, object]) -> str:
    """One message in `lang` (or `fallback` when it has none), with its placeholders filled in."""
    text = entry.get(lang) or entry[fallback]
    return text.format(**params) if params else text


def translate(key: str, lang: str = API_LANGUAGE, **params: object) -> str:
    return render(MESSAGES[key], lang, API_LANGUAGE, params)


def humanize_seconds(seconds: int, lang: str = API_LANGUAGE) -> str:
    if seconds < 120:
        return translate("unit.seconds", lang, n=seconds)
    return translate("unit.minutes", lang, n=-(-seconds // 60))
