"""Signing in with the hospital's identity provider (OpenID Connect): settings, the provider's
answers, and who gets in.

Authlib does the protocol: discovery, the authorization code flow with PKCE (S256), ``state``
and ``nonce``, and the ID token's signature (keys from the provider's ``jwks_uri``), issuer,
audience and expiry. This module checks what Authlib leaves to the app (the discovery
document names the issuer we were told to trust), turns every way the round trip can fail into
a ``SignInFailed`` with words for the person, and decides who the provider account is here.
"""

import ipaddress
import logging
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError
from sqlalchemy.exc import IntegrityError

from didactics.auth.models import Role, User
from didactics.extensions import db

log = logging.getLogger(__name__)

NAME = "hospital"
SCOPE = "openid email profile"
PASSWORD_POLICIES = ("on", "guests-only", "off")
_EXTENSION = "didactics.oidc"


# -- settings --------------------------------------------------------------------------------


def configure(app: Flask) -> None:
    """Check the sign-in settings (a ConfigError says what to fix) and set up the provider."""
    from didactics import ConfigError

    config = app.config
    policy = config.get("PASSWORDS", "on")
    if isinstance(policy, bool):  # DIDACTICS_PASSWORDS=true / false read as JSON
        policy = "on" if policy else "off"
    policy = str(policy).strip().lower()
    if policy not in PASSWORD_POLICIES:
        raise ConfigError(
            f"PASSWORDS is {config.get('PASSWORDS')!r}: set it to on, guests-only or off."
        )
    issuer = str(config.get("OIDC_ISSUER") or "").strip()
    if issuer:
        parts = urlsplit(issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ConfigError(
                f"OIDC_ISSUER is {issuer!r}: give the provider's issuer URL, "
                "e.g. https://login.microsoftonline.com/<tenant id>/v2.0"
            )
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ConfigError(
                f"OIDC_ISSUER is {issuer!r}: the provider must be reached over https."
            )
        for setting in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
            if not str(config.get(setting) or "").strip():
                raise ConfigError(
                    f"OIDC_ISSUER is set but {setting} is not: copy it from the app's "
                    "registration at the identity provider (docs/DEPLOY.md)."
                )
    elif policy != "on":
        raise ConfigError(
            f"PASSWORDS is {policy!r} but no identity provider is set up, so nobody could sign "
            "in: set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET, or PASSWORDS=on."
        )
    config["PASSWORDS"] = policy
    config["OIDC_ISSUER"] = issuer
    config["OIDC_AUTO_DOMAINS"] = _domains(config.get("OIDC_AUTO_DOMAINS"))
    app.jinja_env.globals["sign_in_method"] = sign_in_method
    if issuer:
        oauth = OAuth(app)
        oauth.register(
            NAME,
            client_id=str(config["OIDC_CLIENT_ID"]).strip(),
            client_secret=str(config["OIDC_CLIENT_SECRET"]).strip(),
            server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "default_timeout": float(config["OIDC_TIMEOUT"]),
            },
        )
        app.extensions[_EXTENSION] = oauth


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _domains(value) -> list[str]:
    """["hospital.org", "wustl.edu"] from a list, or from text separated by commas or spaces."""
    if not value:
        return []
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return [str(item).strip().lstrip("@").lower() for item in items if str(item).strip()]


def enabled() -> bool:
    return bool(current_app.config["OIDC_ISSUER"])


def passwords() -> str:
    """The password policy: on, guests-only or off."""
    return current_app.config["PASSWORDS"]


def sign_in_method(user: User) -> Literal["provider", "password"]:
    """How this person signs in: with the hospital's provider, or with a password (and so a
    set-password link). With passwords on, everyone may use both; they get a link."""
    policy = passwords()
    if policy == "off" or (policy == "guests-only" and not user.is_guest_everywhere):
        return "provider"
    return "password"


def may_use_password(user: User) -> bool:
    return sign_in_method(user) == "password"


# -- the round trip --------------------------------------------------------------------------


@dataclass
class SignInFailed(Exception):
    """The provider's sign-in did not end with a person here; ``message`` says why to them."""

    title: str
    message: str
    status: int = 400


def _unavailable(error: Exception) -> SignInFailed:
    log.warning("identity provider not answering: %s", error)
    return SignInFailed(
        "The hospital's sign-in is not answering",
        "Please try again in a few minutes. If it goes on, tell the program coordinator.",
        503,
    )


def _broken(what: str) -> SignInFailed:
    log.error("identity provider answered something unusable: %s", what)
    return SignInFailed(
        "The hospital's sign-in gave an answer we cannot use",
        "Please try again in a few minutes. If it goes on, tell the program coordinator: the "
        "app's registration at the identity provider may need a look.",
        502,
    )


def _client():
    return current_app.extensions[_EXTENSION].create_client(NAME)


def _http_errors(error: Exception) -> SignInFailed:
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return _unavailable(error)
    response = getattr(error, "response", None)
    if isinstance(error, requests.HTTPError) and getattr(response, "status_code", 0) >= 500:
        return _unavailable(error)  # the provider's own "try later"
    return _broken(repr(error))


def metadata() -> dict:
    """The provider's discovery document, read once per process, and checked: it must be the
    issuer we were told to trust and name the endpoints the flow needs."""
    client = _client()
    try:
        found = client.load_server_metadata()
    except (requests.RequestException, ValueError, TypeError) as error:
        raise _http_errors(error) from error
    problem = _metadata_problem(found)
    if problem:
        client.server_metadata.clear()  # read it again next time: it may be fixed by then
        raise _broken(problem)
    return found


def _metadata_problem(found) -> str | None:
    if not isinstance(found, dict):
        return "the discovery document is not a JSON object"
    issuer = found.get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") != enabled_issuer().rstrip("/"):
        return f"the discovery document names the issuer {issuer!r}, not {enabled_issuer()!r}"
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = found.get(key)
        if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
            return f"the discovery document has no usable {key}"
    return None


def enabled_issuer() -> str:
    return current_app.config["OIDC_ISSUER"]


def authorize_redirect(redirect_uri: str):
    """The redirect to the provider's sign-in page; ``state``, ``nonce`` and the PKCE verifier
    wait in this browser's session for the way back."""
    metadata()
    return _client().authorize_redirect(redirect_uri)


def finish() -> dict:
    """The claims of the person the provider sent back, after Authlib has checked the state,
    exchanged the code (with the PKCE verifier) and verified the ID token."""
    found = metadata()
    client = _client()
    # Authlib checks the audience only when told what it must be.
    options = {
        "iss": {"essential": True, "value": found["issuer"]},
        "aud": {"essential": True, "value": client.client_id},
    }
    try:
        token = client.authorize_access_token(claims_options=options)
    except MismatchingStateError as error:
        raise SignInFailed(
            "This sign-in has expired",
            "The answer from the hospital's sign-in does not belong to a sign-in started in "
            "this browser (it may have been opened twice, or in another browser). "
            "Start again from the sign-in page.",
        ) from error
    except OAuthError as error:
        if error.error == "access_denied":
            raise SignInFailed(
                "Sign-in cancelled", "The hospital's sign-in did not sign you in."
            ) from error
        log.warning("identity provider refused the sign-in: %s %s", error.error, error.description)
        raise SignInFailed(
            "The hospital's sign-in refused",
            "The hospital's sign-in did not accept this sign-in. Start again from the sign-in "
            "page; if it goes on, tell the program coordinator.",
        ) from error
    except JoseError as error:
        log.warning("ID token refused: %r", error)
        raise SignInFailed(
            "This sign-in could not be verified",
            "The answer from the hospital's sign-in was not valid for this app (or had "
            "expired). Start again from the sign-in page.",
        ) from error
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        raise _http_errors(error) from error
    claims = token.get("userinfo") if isinstance(token, dict) else None
    if not claims:
        raise _broken("the token response has no ID token")
    claims = dict(claims)
    if "email" not in claims and found.get("userinfo_endpoint"):
        claims.update(_userinfo(client, token, claims["sub"]))
    return claims


def _userinfo(client, token: dict, sub: str) -> dict:
    """Email and name from the userinfo endpoint, for providers that keep them out of the ID
    token; only when it speaks of the same person."""
    try:
        info = client.userinfo(token=token)
    except (requests.RequestException, ValueError, OAuthError) as error:
        raise _http_errors(error) from error
    if info.get("sub") != sub:
        raise _broken("userinfo names another subject than the ID token")
    wanted = ("email", "email_verified", "xms_edov", "name")
    return {key: info[key] for key in wanted if key in info}


def end_session_url() -> str | None:
    """The provider's own sign-out page, where it has one."""
    try:
        found = metadata()
    except SignInFailed:
        return None
    if not isinstance(found.get("end_session_endpoint"), str):
        return None
    return _client().create_logout_url(client_id=_client().client_id)["url"]


# -- who gets in -----------------------------------------------------------------------------


def account_for(claims: dict) -> User:
    """The active person this provider account signs in as: by its subject once matched, else
    by its verified email (then the subject is kept); an unknown one joins as a guest only
    when its email's domain is in OIDC_AUTO_DOMAINS."""
    issuer, sub = enabled_issuer(), claims["sub"]
    user = db.session.scalar(
        sa.select(User).where(User.oidc_issuer == issuer, User.oidc_subject == sub)
    )
    if user is None:
        user = _by_email(claims, issuer)
    if not user.is_active:
        raise SignInFailed(
            "This account has been deactivated",
            "Ask the program coordinator if you should still have access.",
            403,
        )
    if user.oidc_subject is None or user.oidc_issuer != issuer:
        user.oidc_issuer, user.oidc_subject = issuer, sub
        try:
            with db.session.begin_nested():
                db.session.add(user)
        except IntegrityError as error:  # the same first sign-in, twice at once
            raise SignInFailed(
                "Please try again", "Two sign-ins crossed. Start again from the sign-in page.", 409
            ) from error
    return user


def _by_email(claims: dict, issuer: str) -> User:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInFailed(
            "Your hospital account shared no email address",
            "This app finds people by their email. Ask the program coordinator.",
            403,
        )
    email = email.strip().lower()
    verified = claims.get("email_verified")
    if verified is None:
        # Microsoft Entra ID sends no email_verified; its optional claim xms_edov says the
        # tenant owns (has verified) the email's domain (docs/DEPLOY.md).
        verified = claims.get("xms_edov")
    if verified not in (True, "true"):
        raise SignInFailed(
            "Your email address is not verified",
            f"The hospital's sign-in says {email} is not verified, so it cannot be matched to "
            "an account here. Ask the program coordinator.",
            403,
        )
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))
    if user is None:
        if email.rpartition("@")[2] not in current_app.config["OIDC_AUTO_DOMAINS"]:
            raise SignInFailed(
                "You do not have an account here yet",
                f"Nobody with the email {email} has been added to this program. Ask your "
                "coordinator to add you, then sign in again.",
                403,
            )
        return User(email=email, name=_name(claims, email), role=Role.GUEST, is_active=True)
    if user.is_active and user.oidc_issuer == issuer and user.oidc_subject:
        # The email now belongs to another provider account than the one this person uses.
        raise SignInFailed(
            "This account signs in with another hospital account",
            f"{email} is already linked to a different hospital account. Ask the program "
            "coordinator.",
            403,
        )
    return user


def _name(claims: dict, email: str) -> str:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        given, family = claims.get("given_name"), claims.get("family_name")
        name = " ".join(p for p in (given, family) if isinstance(p, str)) or email.split("@")[0]
    return name.strip()[:120]
