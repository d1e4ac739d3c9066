"""The web app's own texts, in every supported language (service errors come from core/i18n.py).

Keys have no prefix; components read them through the `t` var of the state (see web/state/app.py).
Placeholders named in STATIC_PARAMS are filled from the settings for every text, so no limit is copied
into prose; the others are filled where the text is used.
"""

from __future__ import annotations

import functools

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
    # The operator's console (pages/admin.py).
    "admin.link": {"en": "Admin", "ru": "Админка"},
    "admin.not_found": {"en": "404: This page could not be found.", "ru": "404: страница не найдена."},
    "admin.title": {"en": "Console", "ru": "Консоль"},
    "admin.nav.overview": {"en": "Overview", "ru": "Обзор"},
    "admin.nav.users": {"en": "Users", "ru": "Пользователи"},
    "admin.nav.security": {"en": "Security", "ru": "Безопасность"},
    "admin.nav.referrals": {"en": "Referrals", "ru": "Рефералы"},
    "admin.nav.profile": {"en": "My profile", "ru": "Мой профиль"},
    "admin.fig.users_total": {"en": "Users", "ru": "Пользователей"},
    "admin.fig.users_today": {"en": "New today", "ru": "Новых сегодня"},
    "admin.fig.sign_ins_hour": {"en": "Sign-ins, last hour", "ru": "Входов за час"},
    "admin.fig.failed_verifies_hour": {"en": "Wrong codes, last hour", "ru": "Неверных кодов за час"},
    "admin.fig.codes_sent_today": {"en": "Codes sent today", "ru": "Кодов отправлено сегодня"},
    "admin.fig.phones_locked": {"en": "Phones locked now", "ru": "Номеров заблокировано сейчас"},
    "admin.fig.activations_today": {"en": "Invites activated today", "ru": "Активаций инвайтов сегодня"},
    "admin.live": {"en": "Live, updated at", "ru": "Обновляется, последнее обновление в"},
    "admin.chart.title": {"en": "Last 30 days (UTC)", "ru": "Последние 30 дней (UTC)"},
    "admin.chart.sign_ups": {"en": "Sign-ups", "ru": "Регистрации"},
    "admin.chart.activations": {"en": "Activations", "ru": "Активации"},
    "admin.users.search": {
        "en": "Phone, invite code, name or email",
        "ru": "Телефон, инвайт-код, имя или эл. почта",
    },
    "admin.users.find": {"en": "Find", "ru": "Найти"},
    "admin.sort": {"en": "Sort", "ru": "Сортировка"},
    "admin.sort.joined": {"en": "Newest", "ru": "Новые"},
    "admin.sort.last_sign_in": {"en": "Last sign-in", "ru": "Последний вход"},
    "admin.sort.referrals": {"en": "Most referrals", "ru": "Больше рефералов"},
    "admin.col.phone": {"en": "Phone", "ru": "Телефон"},
    "admin.col.name": {"en": "Name", "ru": "Имя"},
    "admin.col.email": {"en": "Email", "ru": "Эл. почта"},
    "admin.col.code": {"en": "Invite code", "ru": "Инвайт-код"},
    "admin.col.joined": {"en": "Joined", "ru": "Регистрация"},
    "admin.col.last_sign_in": {"en": "Last sign-in", "ru": "Последний вход"},
    "admin.col.referrals": {"en": "Referrals", "ru": "Рефералы"},
    "admin.col.status": {"en": "Status", "ru": "Статус"},
    "admin.col.at": {"en": "Time (UTC)", "ru": "Время (UTC)"},
    "admin.col.event": {"en": "Event", "ru": "Событие"},
    "admin.col.user": {"en": "User", "ru": "Пользователь"},
    "admin.col.client": {"en": "Client", "ru": "Клиент"},
    "admin.col.detail": {"en": "Detail", "ru": "Подробности"},
    "admin.col.count": {"en": "Activations", "ru": "Активаций"},
    "admin.col.seconds": {"en": "Seconds after sign-up", "ru": "Секунд после регистрации"},
    "admin.col.inviter": {"en": "Inviter", "ru": "Пригласивший"},
    "admin.col.users": {"en": "Users", "ru": "Пользователи"},
    "admin.col.device": {"en": "Device", "ru": "Устройство"},
    "admin.col.device_row": {"en": "Device no.", "ru": "№ устройства"},
    "admin.col.signed_in": {"en": "Signed in", "ru": "Вход"},
    "admin.col.last_used": {"en": "Last used", "ru": "Активность"},
    "admin.col.expires": {"en": "Expires", "ru": "Истекает"},
    "admin.col.scope": {"en": "Lock of", "ru": "Блокировка для"},
    "admin.col.until": {"en": "Until (UTC)", "ru": "До (UTC)"},
    "admin.col.failures": {"en": "Failures", "ru": "Ошибок"},
    "admin.prev": {"en": "Previous", "ru": "Назад"},
    "admin.next": {"en": "Next", "ru": "Вперёд"},
    "admin.empty": {"en": "Nothing here.", "ru": "Здесь ничего нет."},
    "admin.status.deleted": {"en": "deleted", "ru": "удалён"},
    "admin.status.blocked": {"en": "blocked", "ru": "заблокирован"},
    "admin.status.admin": {"en": "operator", "ru": "оператор"},
    "admin.user.no_such": {"en": "No such user.", "ru": "Такого пользователя нет."},
    "admin.user.profile": {"en": "Profile", "ru": "Профиль"},
    "admin.user.activated_at": {"en": "Invite activated", "ru": "Инвайт активирован"},
    "admin.user.chain": {"en": "Invited by (upward)", "ru": "Кто пригласил (вверх по цепочке)"},
    "admin.user.referrals": {"en": "Their referrals", "ru": "Их рефералы"},
    "admin.user.sessions": {"en": "Sessions", "ru": "Сеансы"},
    "admin.user.devices": {"en": "Devices", "ru": "Устройства"},
    "admin.user.locks": {"en": "Locks on the phone", "ru": "Блокировки номера"},
    "admin.user.events": {"en": "Audit events", "ru": "События аудита"},
    "admin.user.actions": {"en": "Account", "ru": "Аккаунт"},
    "admin.lock.strangers": {"en": "strangers (no device token)", "ru": "чужих (без токена устройства)"},
    "admin.lock.all_devices": {"en": "all devices of the phone", "ru": "всех устройств номера"},
    "admin.lock.device": {"en": "one device", "ru": "одного устройства"},
    "admin.action.sign_out_session": {"en": "Sign out", "ru": "Завершить"},
    "admin.action.sign_out_all": {"en": "Sign out all sessions", "ru": "Завершить все сеансы"},
    "admin.action.revoke_device": {"en": "Revoke", "ru": "Отозвать"},
    "admin.action.revoke_devices": {"en": "Revoke all devices", "ru": "Отозвать все устройства"},
    "admin.action.end_locks": {"en": "End the lock", "ru": "Снять блокировку"},
    "admin.action.block": {"en": "Block", "ru": "Заблокировать"},
    "admin.action.unblock": {"en": "Unblock", "ru": "Разблокировать"},
    "admin.action.delete": {"en": "Delete account", "ru": "Удалить аккаунт"},
    "admin.confirm.sign_out_session": {"en": "Sign out session {target}?", "ru": "Завершить сеанс {target}?"},
    "admin.confirm.sign_out_all": {
        "en": "Sign out every session of this user?",
        "ru": "Завершить все сеансы пользователя?",
    },
    "admin.confirm.revoke_device": {
        "en": "Revoke device {target}? Its device token will count as a stranger's.",
        "ru": "Отозвать устройство {target}? Его токен будет считаться чужим.",
    },
    "admin.confirm.revoke_devices": {
        "en": "Revoke every device of this user?",
        "ru": "Отозвать все устройства пользователя?",
    },
    "admin.confirm.end_locks": {
        "en": "End every lock on this phone now?",
        "ru": "Снять все блокировки номера сейчас?",
    },
    "admin.confirm.block": {
        "en": "Block this account? Its sessions end and it cannot sign in until unblocked.",
        "ru": "Заблокировать аккаунт? Его сеансы завершатся, войти нельзя до разблокировки.",
    },
    "admin.confirm.unblock": {"en": "Unblock this account?", "ru": "Разблокировать аккаунт?"},
    "admin.confirm.delete": {
        "en": "Delete this account for ever, as its owner's own deletion does?",
        "ru": "Удалить аккаунт навсегда, как при удалении самим владельцем?",
    },
    "admin.reason": {"en": "Reason (kept in the audit trail)", "ru": "Причина (сохранится в журнале аудита)"},
    "admin.confirm": {"en": "Confirm", "ru": "Подтвердить"},
    "admin.cancel": {"en": "Cancel", "ru": "Отмена"},
    "admin.done.sign_out_session": {"en": "Session signed out", "ru": "Сеанс завершён"},
    "admin.done.sign_out_all": {"en": "Sessions signed out", "ru": "Сеансы завершены"},
    "admin.done.revoke_device": {"en": "Device revoked", "ru": "Устройство отозвано"},
    "admin.done.revoke_devices": {"en": "Devices revoked", "ru": "Устройства отозваны"},
    "admin.done.end_locks": {"en": "Lock ended", "ru": "Блокировка снята"},
    "admin.done.block": {"en": "Account blocked", "ru": "Аккаунт заблокирован"},
    "admin.done.unblock": {"en": "Account unblocked", "ru": "Аккаунт разблокирован"},
    "admin.done.delete": {"en": "Account deleted", "ru": "Аккаунт удалён"},
    "admin.reauth.send": {"en": "Send me a code", "ru": "Прислать мне код"},
    "admin.reauth.code": {"en": "Code from SMS", "ru": "Код из SMS"},
    "admin.reauth.confirm": {"en": "Confirm it is me", "ru": "Подтвердить"},
    "admin.reauth.done": {
        "en": "Confirmed. Now confirm the action again.",
        "ru": "Подтверждено. Теперь подтвердите действие ещё раз.",
    },
    "admin.security.event": {"en": "Event", "ru": "Событие"},
    "admin.security.all_events": {"en": "every event", "ru": "все события"},
    "admin.security.phone": {"en": "Phone", "ru": "Телефон"},
    "admin.security.client": {"en": "Client address", "ru": "Адрес клиента"},
    "admin.security.since": {"en": "From (UTC)", "ru": "С (UTC)"},
    "admin.security.until": {"en": "To (UTC)", "ru": "По (UTC)"},
    "admin.security.apply": {"en": "Filter", "ru": "Показать"},
    "admin.security.export": {"en": "Export CSV", "ru": "Выгрузить CSV"},
    "admin.referrals.period": {"en": "Period", "ru": "Период"},
    "admin.referrals.days": {"en": "days", "ru": "дн."},
    "admin.referrals.leaders": {"en": "Top inviters", "ru": "Лучшие пригласившие"},
    "admin.referrals.shared": {
        "en": "Many activations from one client address",
        "ru": "Много активаций с одного адреса",
    },
    "admin.referrals.quick": {
        "en": "Activated seconds after sign-up",
        "ru": "Активация через секунды после регистрации",
    },
    "admin.referrals.chains": {
        "en": "Chains of new accounts (each activated the previous one's code minutes after signing up)",
        "ru": "Цепочки новых аккаунтов (каждый активировал код предыдущего через минуты после регистрации)",
    },
    "admin.col.chain": {"en": "Chain, from the top", "ru": "Цепочка сверху вниз"},
    "admin.col.accounts": {"en": "New accounts", "ru": "Новых аккаунтов"},
    "admin.nav.sms": {"en": "SMS", "ru": "SMS"},
    "admin.fig.sms_delivered_today": {"en": "SMS delivered today", "ru": "SMS доставлено сегодня"},
    "admin.fig.sms_failed_today": {"en": "SMS failed today", "ru": "SMS не доставлено сегодня"},
    "admin.fig.sms_spend_today": {"en": "SMS spend today", "ru": "Расход на SMS сегодня"},
    "admin.chart.sms_title": {"en": "SMS, last 30 days (UTC)", "ru": "SMS за 30 дней (UTC)"},
    "admin.chart.sms_sent": {"en": "Sent", "ru": "Отправлено"},
    "admin.chart.sms_delivered": {"en": "Delivered", "ru": "Доставлено"},
    "admin.sms.today": {"en": "Today (UTC)", "ru": "Сегодня (UTC)"},
    "admin.sms.sent": {"en": "Sent", "ru": "Отправлено"},
    "admin.sms.delivered": {"en": "Delivered", "ru": "Доставлено"},
    "admin.sms.failed": {"en": "Failed", "ru": "Не доставлено"},
    "admin.sms.rate": {"en": "Delivery rate", "ru": "Доля доставленных"},
    "admin.sms.spend": {"en": "Spend", "ru": "Расход"},
    "admin.sms.providers": {"en": "Providers today", "ru": "Провайдеры сегодня"},
    "admin.sms.messages": {"en": "Messages", "ru": "Сообщения"},
    "admin.sms.status": {"en": "Status", "ru": "Статус"},
    "admin.sms.provider": {"en": "Provider", "ru": "Провайдер"},
    "admin.sms.every": {"en": "every one", "ru": "все"},
    "admin.sms.no_provider": {"en": "none took it", "ru": "никто не принял"},
    "admin.col.provider": {"en": "Provider", "ru": "Провайдер"},
    "admin.col.cost": {"en": "Cost", "ru": "Стоимость"},
    "admin.col.error": {"en": "Error", "ru": "Ошибка"},
    "admin.col.sent": {"en": "Sent", "ru": "Отправлено"},
    "admin.col.delivered": {"en": "Delivered", "ru": "Доставлено"},
    "admin.col.failed": {"en": "Failed", "ru": "Не доставлено"},
    "admin.security.locks": {"en": "Phones locked now", "ru": "Номера, заблокированные сейчас"},
    "admin.confirm.end_locks_of": {
        "en": "End every lock on {target} now?",
        "ru": "Снять все блокировки номера {target} сейчас?",
    },
    "admin.user.tree": {"en": "Referral tree below them", "ru": "Дерево рефералов под ними"},
    "admin.user.tree_show": {"en": "Show the tree", "ru": "Показать дерево"},
    "admin.user.tree_cut": {
        "en": "Only the first {nodes} accounts, {depth} levels deep, are shown.",
        "ru": "Показаны только первые {nodes} аккаунтов, до {depth} уровней вглубь.",
    },
}


def static_params() -> dict[str, object]:
    return {"code_length": get_settings().code_length}


def ui_text(key: str, lang: str, **params: object) -> str:
    return render(UI_TEXTS[key], lang, DEFAULT_LANGUAGE, {**static_params(), **params})


def ui_texts(lang: str) -> dict[str, str]:
    """Every text in one language; texts that need more than the static parameters are left as written.

    One dict per language and code length, shared by every caller (every tab's `AppState.t` holds it):
    read it, never change it."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    return _rendered_texts(lang, get_settings().code_length)


@functools.cache
def _rendered_texts(lang: str, code_length: int) -> dict[str, str]:
    params = {**static_params(), "code_length": code_length}
    texts = {}
    for key, entry in UI_TEXTS.items():
        try:
            texts[key] = render(entry, lang, DEFAULT_LANGUAGE, params)
        except KeyError:  # a placeholder filled where the text is used
            texts[key] = entry[lang]
    return texts
