"""The web app's own texts, in every supported language (service errors come from core/i18n.py).

Keys have no prefix; components read them through the `t` var of the state (see web/state/app.py).
Placeholders named in STATIC_PARAMS are filled from the settings for every text, so no limit is copied
into prose; the others are filled where the text is used.
"""

from __future__ import annotations

from referral_app.core.config import get_settings
from referral_app.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Catalog, render

UI_TEXTS: Catalog = {
    "app_name": {"en": "Referral", "ru": "Referral"},
    "language": {"en": "Language", "ru": "Язык"},
    "login.title": {"en": "Sign in with your phone", "ru": "Вход по номеру телефона"},
    "login.subtitle": {
        "en": "We will send a {code_length}-digit code by SMS. New here? The same code creates your account.",
        "ru": "Пришлём код из {code_length} цифр в SMS. Впервые здесь? Этот же код создаст аккаунт.",
    },
    "login.region": {"en": "Country", "ru": "Страна"},
    "login.phone": {"en": "Phone number", "ru": "Номер телефона"},
    "login.phone_placeholder": {"en": "+7 912 345-67-89", "ru": "+7 912 345-67-89"},
    "login.send": {"en": "Get code", "ru": "Получить код"},
    "login.sending": {"en": "Sending code…", "ru": "Отправляем код…"},
    "login.invite_pending": {
        "en": "Invite code {code} will be offered after you sign in.",
        "ru": "Инвайт-код {code} предложим активировать после входа.",
    },
    "verify.title": {"en": "Enter the code", "ru": "Введите код"},
    "verify.sent_to": {"en": "We sent a code to {phone}", "ru": "Мы отправили код на {phone}"},
    "verify.change_number": {"en": "Change number", "ru": "Изменить номер"},
    "verify.code": {"en": "Code from SMS", "ru": "Код из SMS"},
    "verify.submit": {"en": "Sign in", "ru": "Войти"},
    "verify.checking": {"en": "Checking…", "ru": "Проверяем…"},
    "verify.resend": {"en": "Send a new code", "ru": "Отправить новый код"},
    "verify.resend_in": {"en": "New code in {seconds} s", "ru": "Новый код через {seconds} с"},
    "verify.demo_code": {
        "en": "Demo mode: your code is {code}",
        "ru": "Демо-режим: ваш код {code}",
    },
    "verify.code_sent": {"en": "Code sent", "ru": "Код отправлен"},
    "session_expired": {
        "en": "Your session has ended (it expired or was signed out on another device). Please sign in again.",
        "ru": "Сеанс завершён (истёк или завершён на другом устройстве). Войдите снова.",
    },
    "welcome_new": {"en": "Welcome! Your account is ready.", "ru": "Добро пожаловать! Аккаунт создан."},
    "welcome_back": {"en": "Welcome back!", "ru": "С возвращением!"},
    "profile.title": {"en": "Your profile", "ru": "Ваш профиль"},
    "profile.phone": {"en": "Phone", "ru": "Телефон"},
    "profile.member_since": {"en": "Member since {date}", "ru": "С нами с {date}"},
    "profile.my_code": {"en": "Your invite code", "ru": "Ваш инвайт-код"},
    "profile.share_link": {"en": "Share link", "ru": "Ссылка для приглашения"},
    "profile.share_hint": {
        "en": "Friends who open this link get your code filled in after they sign in.",
        "ru": "Друзьям, открывшим ссылку, код подставится сам после входа.",
    },
    "profile.qr_alt": {"en": "QR code of your share link", "ru": "QR-код ссылки для приглашения"},
    "profile.copy": {"en": "Copy", "ru": "Копировать"},
    "profile.copied": {"en": "Copied", "ru": "Скопировано"},
    "profile.share": {"en": "Share", "ru": "Поделиться"},
    "profile.share_text": {
        "en": "Join me in Referral: sign in with this link and my invite code {code}.",
        "ru": "Присоединяйтесь к Referral: войдите по ссылке, мой инвайт-код {code}.",
    },
    "profile.share_telegram": {"en": "Telegram", "ru": "Telegram"},
    "profile.share_whatsapp": {"en": "WhatsApp", "ru": "WhatsApp"},
    "profile.activated": {"en": "Activated invite code", "ru": "Активированный инвайт-код"},
    "profile.invited_by": {"en": "Invited by {phone}", "ru": "Вас пригласил {phone}"},
    "profile.enter_code": {"en": "Have an invite code?", "ru": "Есть инвайт-код?"},
    "profile.enter_code_hint": {
        "en": "You can activate one code, once.",
        "ru": "Активировать можно один код и только один раз.",
    },
    "profile.invite_placeholder": {"en": "e.g. AB12CD", "ru": "например, AB12CD"},
    "profile.from_link": {
        "en": "This code came from the link you opened. Confirm to activate it.",
        "ru": "Этот код пришёл из ссылки, по которой вы перешли. Подтвердите активацию.",
    },
    "profile.activate": {"en": "Activate", "ru": "Активировать"},
    "profile.activated_toast": {"en": "Invite code activated", "ru": "Инвайт-код активирован"},
    "profile.news": {"en": "{phone} joined with your invite code", "ru": "{phone} присоединился по вашему коду"},
    "profile.funnel": {"en": "How your link spreads", "ru": "Как расходится ваша ссылка"},
    "profile.funnel_period": {"en": "Period", "ru": "Период"},
    "profile.funnel_opened": {"en": "Opened", "ru": "Открыли"},
    "profile.funnel_signed_up": {"en": "Signed up", "ru": "Зарегистрировались"},
    "profile.funnel_activated": {"en": "Activated", "ru": "Активировали"},
    "profile.funnel_7": {"en": "7 days", "ru": "7 дней"},
    "profile.funnel_30": {"en": "30 days", "ru": "30 дней"},
    "profile.funnel_all": {"en": "All time", "ru": "Всё время"},
    "profile.referrals": {"en": "People who used your code", "ru": "Пользовались вашим кодом"},
    "profile.referrals_total": {"en": "Total: {count}", "ru": "Всего: {count}"},
    "profile.no_referrals": {
        "en": "Nobody yet. Share your link!",
        "ru": "Пока никого. Поделитесь ссылкой!",
    },
    "profile.joined": {"en": "Joined", "ru": "Дата"},
    "profile.page": {"en": "Page {page} of {pages}", "ru": "Страница {page} из {pages}"},
    "profile.prev": {"en": "Previous", "ru": "Назад"},
    "profile.next": {"en": "Next", "ru": "Вперёд"},
    "profile.details": {"en": "About you", "ru": "О вас"},
    "profile.name": {"en": "Name", "ru": "Имя"},
    "profile.email": {"en": "Email", "ru": "Эл. почта"},
    "profile.save": {"en": "Save", "ru": "Сохранить"},
    "profile.saved": {"en": "Saved", "ru": "Сохранено"},
    "profile.logout": {"en": "Log out", "ru": "Выйти"},
    "profile.logged_out": {"en": "You have logged out", "ru": "Вы вышли из аккаунта"},
    # Devices and the account (components/devices.py, components/account.py).
    "profile.invited_by_deleted": {"en": "Invited by a deleted account", "ru": "Вас пригласил удалённый аккаунт"},
    "devices.title": {"en": "Devices", "ru": "Устройства"},
    "devices.hint": {
        "en": "Where you are signed in. Lost a phone or used a shared computer? Sign it out here.",
        "ru": "Где выполнен вход. Потеряли телефон или входили с чужого компьютера? Завершите сеанс здесь.",
    },
    "devices.unknown": {"en": "Unknown device", "ru": "Неизвестное устройство"},
    "devices.this_device": {"en": "This device", "ru": "Это устройство"},
    "devices.last_used": {"en": "Last active {when}", "ru": "Активность: {when}"},
    "devices.sign_out": {"en": "Sign out", "ru": "Завершить"},
    "devices.sign_out_others": {"en": "Sign out everywhere else", "ru": "Выйти на всех других устройствах"},
    "devices.signed_out": {"en": "Signed out: {count}", "ru": "Завершено сеансов: {count}"},
    "account.title": {"en": "Your data and account", "ru": "Ваши данные и аккаунт"},
    "account.download": {"en": "Download my data", "ru": "Скачать мои данные"},
    "account.delete": {"en": "Delete account", "ru": "Удалить аккаунт"},
    "account.delete_warning": {
        "en": "This cannot be undone: every session ends, your invite code is retired for ever, and people you "
        "invited will see a deleted account. To confirm, we will send a code to your phone.",
        "ru": "Это необратимо: все сеансы завершатся, ваш инвайт-код будет выведен навсегда, а приглашённые вами "
        "увидят удалённый аккаунт. Для подтверждения пришлём код на ваш телефон.",
    },
    "account.send_code": {"en": "Send confirmation code", "ru": "Прислать код подтверждения"},
    "account.code_sent": {"en": "Enter the code we sent to {phone}", "ru": "Введите код, отправленный на {phone}"},
    "account.confirm": {"en": "Delete for ever", "ru": "Удалить навсегда"},
    "account.cancel": {"en": "Cancel", "ru": "Отмена"},
    "account.deleted": {
        "en": "Your account has been deleted.",
        "ru": "Ваш аккаунт удалён.",
    },
    "loading": {"en": "Loading…", "ru": "Загрузка…"},
}


def static_params() -> dict[str, object]:
    return {"code_length": get_settings().code_length}


def ui_text(key: str, lang: str, **params: object) -> str:
    return render(UI_TEXTS[key], lang, DEFAULT_LANGUAGE, {**static_params(), **params})


def ui_texts(lang: str) -> dict[str, str]:
    """Every text in one language; texts that need more than the static parameters are left as written."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    params = static_params()
    texts = {}
    for key, entry in UI_TEXTS.items():
        try:
            texts[key] = render(entry, lang, DEFAULT_LANGUAGE, params)
        except KeyError:  # a placeholder filled where the text is used
            texts[key] = entry[lang]
    return texts
