"""CSRF protection for every unsafe method, in front of every route (so none can forget it).

Two layers, both required:

1. Where the request comes from (the model of Go 1.25's `CrossOriginProtection`): a browser's
   `Sec-Fetch-Site` must be `same-origin` or `none`; without it, an `Origin` header must equal
   the public origin (or the origin the request was sent to).
2. A signed token: `X-CSRF-Token` must be the HMAC of the session id in the (signed) session
   cookie, or, before login, of the nonce in the login cookie. The static `app.js` copies it
   from a `<meta>` tag into every htmx request.

Bearer-token API calls skip layer 2: browsers never attach an `Authorization` header on their
own, and those routes ignore cookies.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from web.auth import LOGIN_COOKIE, SESSION_COOKIE, SessionCodec

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, *, codec: SessionCodec, public_origin: str | None) -> None:
        self.app = app
        self.codec = codec
        self.public_origin = public_origin.rstrip("/") if public_origin else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            reason = self.refusal(scope)
            if reason is not None:
                response = PlainTextResponse(f"Request refused (CSRF check): {reason}.", 403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """Why this unsafe request must be refused, or None to let it through."""
        headers = Headers(scope=scope)
        fetch_site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if fetch_site is not None:
            if fetch_site not in ("same-origin", "none"):
                return f"sent from another site ({fetch_site})"
        elif origin is not None and origin.rstrip("/") not in self._own_origins(scope, headers):
            return f"sent from another origin ({origin})"
        bearer = headers.get("authorization", "").lower().startswith("bearer ")
        if bearer and scope["path"].startswith("/api/"):
            return None
        cookies = cookie_parser(headers.get("cookie", ""))
        claims = self.codec.read(cookies.get(SESSION_COOKIE), verify_exp=False)
        # Either secret the browser holds in an HttpOnly cookie may bind the token: the session
        # (every page after login) or the login form's nonce (a login made while an old,
        # revoked session cookie is still around must not be refused).
        bindings = [
            b for b in (claims.session_id if claims else None, cookies.get(LOGIN_COOKIE)) if b
        ]
        if not bindings:
            return "no session; reload the page"
        token = headers.get(CSRF_HEADER)
        if not any(self.codec.csrf_valid(binding, token) for binding in bindings):
            return "missing or stale token; reload the page"
        return None

    def _own_origins(self, scope: Scope, headers: Headers) -> set[str]:
        if self.public_origin is not None:
            return {self.public_origin}
        host = headers.get("host", "")
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        # Behind a TLS-terminating proxy the app sees http; the browser says https.
        return {f"{scheme}://{host}", f"https://{host}"}
