"""Fixed sizes and input limits: the one source for the tables, the services, the API schemas and the web
pages. Tunable limits (code length, attempts, lock times) are settings: see core/config.py."""

# Stored values.
E164_MAX_LENGTH = 16  # "+" and at most 15 digits (ITU-T E.164)
INVITE_CODE_MAX_LENGTH = 16  # the longest INVITE_CODE_LENGTH setting allowed
NAME_MAX_LENGTH = 100  # after whitespace runs are collapsed; longer answers `invalid_name`
EMAIL_MAX_LENGTH = 254  # RFC 5321's path limit
IP_MAX_LENGTH = 45  # the longest textual IPv6 address (with an embedded IPv4)
AUDIT_DETAIL_MAX_LENGTH = 100
AUDIT_PURGE_SUMMARY_MAX_LENGTH = 2000  # a purge's removed rows per event kind, as JSON
HASH_LENGTH = 64  # hex SHA-256 / HMAC-SHA256
DEVICE_ID_LENGTH = 22  # a device token's random part: 16 bytes, URL-safe base64
COUNTER_NAME_MAX_LENGTH = 40  # rate counters: which limit ...
COUNTER_KEY_MAX_LENGTH = 64  # ... and whose (a requester, a user id, a country calling code)
DEVICE_LABEL_MAX_LENGTH = 60  # a session's device, as "Chrome on Android"
SECRET_KEY_MIN_LENGTH = 32  # SECRET_KEY and its fallbacks: 32 random characters or more

# What people may type, before it is normalised: spaces, dashes, brackets, hyphens.
PHONE_INPUT_MAX_LENGTH = 32
LOGIN_CODE_INPUT_MAX_LENGTH = 16
INVITE_CODE_INPUT_MAX_LENGTH = 32
TOKEN_MAX_LENGTH = 200  # "rfa_" + 43 characters today; anything much longer is not one of ours
DEVICE_TOKEN_MAX_LENGTH = 100  # "rfd_" + device id + "." + signature: 91 characters

# Sign-in limits that are not settings.
FAILURE_WINDOW_DAYS = 30  # PHONE_MAX_FAILURES_PER_30_DAYS counts wrong guesses over this window
LOCK_MAX_SECONDS = 24 * 3600  # nobody else can keep a phone locked longer than this at a time
REFUSALS_PER_AUDIT_ROW = 10  # a flood of refusals adds one audit row per this many (after the first) ...
# ... and at most one per kind per process in this time: each row is a write transaction, and on SQLite every
# write waits for the one write lock the sign-ins need, so a flood's rows (~100/s at one per 10) slowed them.
REFUSAL_AUDIT_INTERVAL_SECONDS = 1
# Those rows count refusals per source (phone, user, address) for this many sources of a kind; the refusals of
# any further ones share one row, which counts their distinct phones, users and addresses up to the second.
REFUSAL_SOURCES_PER_KIND = 10
REFUSAL_DISTINCT_COUNTED_MAX = 10_000
LIMIT_WINDOW_SECONDS = 3600  # the hourly counters (verify per requester, invite misses, SMS budgets)
AUDIT_RETENTION_MIN_DAYS = 30  # the purge command never removes events younger than this
REFUSAL_CACHE_MAX_ENTRIES = 10_000  # refusals kept per process (services/refusal_cache.py), LRU beyond
PHONES_CACHED = 4096  # typed phone -> E.164 answers kept per process (services/phones.py), LRU beyond
WITHDRAW_MARGIN_SECONDS = 20  # a failed SMS withdraws its code only within delay + timeout + this

# Devices and account export.
USER_AGENT_INPUT_MAX_LENGTH = 512  # the part of a User-Agent header read for a device label
ROW_ID_MAX = 2**31 - 1  # the largest id an integer primary key holds (PostgreSQL `integer`)
EXPORT_AUDIT_EVENTS_MAX = 10_000  # the newest audit events an account export carries
EXPORTS_PER_HOUR = 5  # account exports per user per clock hour: each reads up to that many events

# Referral lists.
PROFILE_REFERRALS = 100  # the newest referrals a profile carries
REFERRALS_PAGE_DEFAULT = 50
REFERRALS_PAGE_MAX = 200
REFERRALS_OFFSET_MAX = 10_000_000

# The web app's websocket (Reflex's /_event): what one browser tab may send and keep.
EVENT_MESSAGE_MAX_BYTES = 16 * 1024  # one socket.io message; larger ones close the connection
EVENT_PAYLOAD_MAX_KEYS = 8  # arguments of one event (our handlers take at most two)
ROUTE_MAX_LENGTH = 2048  # the page path and query a browser reports with an event
ROUTE_QUERY_MAX_KEYS = 8
TAB_STATE_TTL_SECONDS = 600  # a tab's server-side state is dropped this long after its last event
FRONTEND_ERROR_LOG_MAX_LENGTH = 2048  # one logged frontend exception report
FRONTEND_ERRORS_PER_TAB = 5  # reports logged per tab and window, the rest are dropped
FRONTEND_ERRORS_WINDOW_SECONDS = 600
FRONTEND_ERRORS_TABS_TRACKED = 10_000  # the per-tab counters kept in memory, oldest dropped first
ORIGIN_MAX_LENGTH = 256

# Webhooks (services/webhooks.py).
WEBHOOK_URL_MAX_LENGTH = 500
WEBHOOK_EVENT_TYPE_MAX_LENGTH = 40
WEBHOOK_ID_LENGTH = 36  # "msg_" + 32 hex digits
WEBHOOK_ERROR_MAX_LENGTH = 200  # why an attempt failed, as kept with it
WEBHOOK_RESPONSE_READ_MAX_BYTES = 64 * 1024  # an answer is read (and its size counted) up to this
WEBHOOK_CLAIM_BATCH = 20  # deliveries one worker takes at a time

# The invite funnel (services/funnel.py).
FUNNEL_OPENED_MAX_CODES = 20  # codes one browser's cookie remembers as counted today

# The SMS ledger (sms_messages).
SMS_MESSAGE_ID_LENGTH = 32  # our id: 128 random bits, hex
SMS_PROVIDER_NAME_MAX_LENGTH = 20
SMS_PROVIDER_MESSAGE_ID_MAX_LENGTH = 100
SMS_STATUS_MAX_LENGTH = 12
SMS_ERROR_MAX_LENGTH = 200
CURRENCY_LENGTH = 3  # ISO 4217

# The operator's console (services/admin.py).
CONSOLE_PAGE_SIZE = 25  # rows of a console list per page
ADMIN_PAGE_MAX = 40_000  # the deepest page a list goes to (a million rows); narrow the search beyond
ADMIN_SEARCH_MAX_LENGTH = 100
ADMIN_REASON_MAX_LENGTH = 60  # with the target and what was done, it fits the audit row's detail
ADMIN_CHAIN_MAX = 20  # inviters shown above a user
ADMIN_CSV_MAX_ROWS = 10_000  # the newest events of a filtered view an export carries
ADMIN_FLAG_ACTIVATIONS_PER_CLIENT = 5  # this many activations from one client address in a period is a flag
ADMIN_FLAG_QUICK_ACTIVATION_SECONDS = 30  # an invite activated this soon after sign-up is a flag
ADMIN_FLAG_ROWS_MAX = 50  # flags of each kind listed
# A chain of new accounts: each link an account that activated the previous one's code within this many seconds
# of its own sign-up; this many links in a row (accounts after the first) make a flag.
ADMIN_FLAG_CHAIN_LINK_SECONDS = 600
ADMIN_FLAG_CHAIN_MIN_LINKS = 3
ADMIN_TREE_DEPTH = 6  # levels of a user's referral tree shown below them
ADMIN_TREE_NODES_MAX = 300  # accounts of a referral tree shown (the earliest activations of each level first)
ADMIN_LEADERBOARD_ROWS = 50
ADMIN_CHART_DAYS = 30
