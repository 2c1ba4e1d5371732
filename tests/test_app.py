"""The app factory, configuration, health check, security headers and error pages."""

import pytest

from didactics import ConfigError, create_app
from didactics.config import HTMX_CDN_URL, HTMX_INTEGRITY


def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.data == b"ok\n"


def test_healthz_is_503_when_the_database_is_gone(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DIDACTICS_INSTANCE", str(tmp_path))
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_reads_secret_key_and_database_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIDACTICS_INSTANCE", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite")
    app = create_app()
    assert app.config["SECRET_KEY"] == "s" * 40
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/x.sqlite")


def test_instance_config_file_is_read(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DIDACTICS_INSTANCE", str(tmp_path))
    (tmp_path / "config.py").write_text("SECRET_KEY = 'from-the-instance-folder'\n")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-the-instance-folder"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/didactics.sqlite"


def test_sqlite_is_tuned_for_several_workers(app, backend):
    if backend != "sqlite":
        return
    from didactics.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def test_pages_carry_security_headers_and_htmx_with_integrity(client, users):
    client.login(users["fellow"])
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    # The pinned file only: another script on the same CDN (an older htmx, anyone's package)
    # is refused.
    assert f"script-src 'self' {HTMX_CDN_URL};" in csp
    assert "https://cdn.jsdelivr.net;" not in csp and "https://cdn.jsdelivr.net " not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    html = response.get_data(as_text=True)
    assert f'src="{HTMX_CDN_URL}" integrity="{HTMX_INTEGRITY}"' in html


def test_self_hosted_htmx_drops_the_cdn_from_the_policy(make_app):
    app = make_app(HTMX_SELF_HOSTED=True)
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "cdn.jsdelivr.net" not in csp
    assert 'src="/static/vendor/htmx-2.0.11.min.js"' in response.get_data(as_text=True)


def test_https_pages_ask_browsers_to_stay_on_https(make_app, client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    https = make_app(HTTPS=True).test_client()
    for path in ("/login", "/healthz", "/no/such/page"):
        response = https.get(path, headers={"X-Forwarded-Proto": "https"})
        assert (
            response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        ), path


def test_session_cookie_is_httponly_and_lax(client, users):
    response = client.post("/login", data={"email": users["fellow"].email, "password": "x" * 12})
    response = client.login(users["fellow"])
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie


def test_https_setting_makes_cookies_secure(make_app):
    app = make_app(HTTPS=True)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(client, users):
    response = client.post(
        "/login", data={"email": users["fellow"].email, "password": "x"}, csrf=False
    )
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)


def test_unexpected_error_is_a_friendly_500(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    app.testing = False  # let the error handler answer instead of pytest seeing the exception
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
