"""Every URL path the app serves, in one place: the web app's pages and the API's mount points."""

# Web app pages.
LOGIN_PAGE = "/"
PROFILE_PAGE = "/profile"
# The operator's console.
ADMIN_PAGE = "/admin"
ADMIN_USERS_PAGE = "/admin/users"
ADMIN_USER_PAGE = "/admin/user"  # ?id=<user id>
ADMIN_SECURITY_PAGE = "/admin/security"
ADMIN_REFERRALS_PAGE = "/admin/referrals"
ADMIN_SMS_PAGE = "/admin/sms"

# The JSON API and its documentation (FastAPI), served on the same port.
API_PREFIX = "/api"
API_V1 = "/v1"
DOCS = "/docs"
REDOC = "/redoc"
OPENAPI = "/openapi.json"
# Delivery receipts from SMS providers (full path, as providers are given it).
SMS_STATUS_PATH = "/api/v1/sms/status/{provider}"
# Requests for these go to FastAPI whole (see referral_app.py).
API_PATHS = (API_PREFIX + "/", DOCS, REDOC, OPENAPI)
