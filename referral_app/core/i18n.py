"""The translation table: every user-visible message, in every supported language.

Service errors look up `error.<code>`; the web UI uses the same table for its own texts.
"""

from __future__ import annotations

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
API_LANGUAGE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    # Errors raised by the service layer (and the API's transport-level errors).
    "error.invalid_phone": {
        "en": "This is not a valid phone number.",
        "ru": "Это не похоже на правильный номер телефона.",
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
    # The web app.
    "ui.app_name": {"en": "Referral", "ru": "Referral"},
    "ui.language": {"en": "Language", "ru": "Язык"},
    "ui.login.title": {"en": "Sign in with your phone", "ru": "Вход по номеру телефона"},
    "ui.login.subtitle": {
        "en": "We will send a 4-digit code by SMS. New here? The same code creates your account.",
        "ru": "Пришлём 4-значный код в SMS. Впервые здесь? Этот же код создаст аккаунт.",
    },
    "ui.login.region": {"en": "Country", "ru": "Страна"},
    "ui.login.phone": {"en": "Phone number", "ru": "Номер телефона"},
    "ui.login.phone_placeholder": {"en": "+7 912 345-67-89", "ru": "+7 912 345-67-89"},
    "ui.login.send": {"en": "Get code", "ru": "Получить код"},
    "ui.login.sending": {"en": "Sending code…", "ru": "Отправляем код…"},
    "ui.login.invite_pending": {
        "en": "Invite code {code} will be offered after you sign in.",
        "ru": "Инвайт-код {code} предложим активировать после входа.",
    },
    "ui.verify.title": {"en": "Enter the code", "ru": "Введите код"},
    "ui.verify.sent_to": {"en": "We sent a code to {phone}", "ru": "Мы отправили код на {phone}"},
    "ui.verify.change_number": {"en": "Change number", "ru": "Изменить номер"},
    "ui.verify.code": {"en": "Code from SMS", "ru": "Код из SMS"},
    "ui.verify.submit": {"en": "Sign in", "ru": "Войти"},
    "ui.verify.checking": {"en": "Checking…", "ru": "Проверяем…"},
    "ui.verify.resend": {"en": "Send a new code", "ru": "Отправить новый код"},
    "ui.verify.resend_in": {"en": "New code in {seconds} s", "ru": "Новый код через {seconds} с"},
    "ui.verify.demo_code": {
        "en": "Demo mode: your code is {code}",
        "ru": "Демо-режим: ваш код {code}",
    },
    "ui.verify.code_sent": {"en": "Code sent", "ru": "Код отправлен"},
    "ui.session_expired": {
        "en": "Your session has ended. Please sign in again.",
        "ru": "Сеанс завершён. Войдите снова.",
    },
    "ui.welcome_new": {"en": "Welcome! Your account is ready.", "ru": "Добро пожаловать! Аккаунт создан."},
    "ui.welcome_back": {"en": "Welcome back!", "ru": "С возвращением!"},
    "ui.profile.title": {"en": "Your profile", "ru": "Ваш профиль"},
    "ui.profile.phone": {"en": "Phone", "ru": "Телефон"},
    "ui.profile.member_since": {"en": "Member since {date}", "ru": "С нами с {date}"},
    "ui.profile.my_code": {"en": "Your invite code", "ru": "Ваш инвайт-код"},
    "ui.profile.share_link": {"en": "Share link", "ru": "Ссылка для приглашения"},
    "ui.profile.share_hint": {
        "en": "Friends who open this link get your code filled in after they sign in.",
        "ru": "Друзьям, открывшим ссылку, код подставится сам после входа.",
    },
    "ui.profile.qr_alt": {"en": "QR code of your share link", "ru": "QR-код ссылки для приглашения"},
    "ui.profile.copy": {"en": "Copy", "ru": "Копировать"},
    "ui.profile.copied": {"en": "Copied", "ru": "Скопировано"},
    "ui.profile.activated": {"en": "Activated invite code", "ru": "Активированный инвайт-код"},
    "ui.profile.invited_by": {"en": "Invited by {phone}", "ru": "Вас пригласил {phone}"},
    "ui.profile.enter_code": {"en": "Have an invite code?", "ru": "Есть инвайт-код?"},
    "ui.profile.enter_code_hint": {
        "en": "You can activate one code, once.",
        "ru": "Активировать можно один код и только один раз.",
    },
    "ui.profile.invite_placeholder": {"en": "e.g. AB12CD", "ru": "например, AB12CD"},
    "ui.profile.from_link": {
        "en": "This code came from the link you opened. Confirm to activate it.",
        "ru": "Этот код пришёл из ссылки, по которой вы перешли. Подтвердите активацию.",
    },
    "ui.profile.activate": {"en": "Activate", "ru": "Активировать"},
    "ui.profile.activated_toast": {"en": "Invite code activated", "ru": "Инвайт-код активирован"},
    "ui.profile.referrals": {"en": "People who used your code", "ru": "Пользовались вашим кодом"},
    "ui.profile.referrals_total": {"en": "Total: {count}", "ru": "Всего: {count}"},
    "ui.profile.no_referrals": {
        "en": "Nobody yet. Share your link!",
        "ru": "Пока никого. Поделитесь ссылкой!",
    },
    "ui.profile.joined": {"en": "Joined", "ru": "Дата"},
    "ui.profile.page": {"en": "Page {page} of {pages}", "ru": "Страница {page} из {pages}"},
    "ui.profile.prev": {"en": "Previous", "ru": "Назад"},
    "ui.profile.next": {"en": "Next", "ru": "Вперёд"},
    "ui.profile.details": {"en": "About you", "ru": "О вас"},
    "ui.profile.name": {"en": "Name", "ru": "Имя"},
    "ui.profile.email": {"en": "Email", "ru": "Эл. почта"},
    "ui.profile.save": {"en": "Save", "ru": "Сохранить"},
    "ui.profile.saved": {"en": "Saved", "ru": "Сохранено"},
    "ui.profile.logout": {"en": "Log out", "ru": "Выйти"},
    "ui.profile.logged_out": {"en": "You have logged out", "ru": "Вы вышли из аккаунта"},
    "ui.loading": {"en": "Loading…", "ru": "Загрузка…"},
    # The simulated SMS.
    "sms.login_code": {
        "en": "Your referral_app login code: {code}. Do not share it with anyone.",
        "ru": "Код для входа в referral_app: {code}. Никому его не сообщайте.",
    },
}


def translate(key: str, lang: str = API_LANGUAGE, **params: object) -> str:
    entry = MESSAGES[key]
    text = entry.get(lang) or entry[API_LANGUAGE]
    return text.format(**params) if params else text


def ui_texts(lang: str) -> dict[str, str]:
    """Every `ui.*` text in one language, keyed without the prefix (what the web app's components read)."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    return {key[3:]: entry[lang] for key, entry in MESSAGES.items() if key.startswith("ui.")}


def humanize_seconds(seconds: int, lang: str = API_LANGUAGE) -> str:
    if seconds < 120:
        return translate("unit.seconds", lang, n=seconds)
    return translate("unit.minutes", lang, n=-(-seconds // 60))
