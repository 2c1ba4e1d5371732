"""The program scope: the one place that keeps each program's rows to itself.

Every request is about one program (``/p/<slug>/…``, or without the prefix the program the
person last worked in) or, for a few pages about the person (their calendar feed, a check-in),
about every program the person belongs to. The scope is a tuple of program ids on ``flask.g``:

- every ORM statement (SELECT, UPDATE, DELETE) run while it is set sees only rows of those
  programs (``with_loader_criteria``, added to the statement as it runs), plus the sessions
  other programs share with them, and those sessions' kinds;
- a new program-owned row belongs to the current program (``ProgramOwned``'s default);
- a signed-in person who is not in the program gets 403 before any view runs;
- ``url_for`` inside a program's page keeps to that program.

Outside a request (commands, the sender of e-mail) no scope is set: they see every program,
and ``using_program`` gives them one.
"""

from flask import Flask, abort, g, has_app_context, request, session
from flask_login import current_user
from sqlalchemy import event, select, union
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import with_loader_criteria
from werkzeug.routing import Rule

from didactics.extensions import db
from didactics.program.models import (
    Program,
    ProgramOwned,
    SeriesShare,
    SessionShare,
    get_program,
    remember_program,
)

# Pages about no program, or about the person across all of theirs.
PROGRAM_FREE = frozenset(
    {
        "static",
        "core.healthz",
        "auth.login",
        "auth.oidc_start",
        "auth.oidc_callback",
        "auth.logout",
        "auth.set_password",
        "auth.change_password",
        "auth.sign_out_everywhere",
        "feeds.all_feed",
        "feeds.presenting_feed",
        "feeds.kind_feed",
        "mail.unsubscribe",
        "mail.unsubscribe_now",
        "mail.save_choices",
    }
)
PROGRAM_FREE_BLUEPRINTS = frozenset({"department"})
# Pages about the person across every program they belong to.
PERSON_WIDE = frozenset(
    {
        "attendance.checkin",
        "attendance.checkin_typed",
        "attendance.checked_in",
        "attendance.checkin_link",
        "attendance.checkin_link_post",
    }
)

# Links that leave the app (subscribed to, shared): always with /p/<slug>, open to anyone.
NAMED = frozenset({"feeds.program_feed"})
# The remembered program when a page without /p/<slug> is asked for.
SESSION_KEY = "program_id"


def scope_ids() -> tuple[int, ...] | None:
    """The programs whose rows this request may see; None outside a request (all)."""
    return g.get("scope_ids") if has_app_context() else None


def is_program_page(endpoint: str | None) -> bool:
    if endpoint is None or endpoint in PROGRAM_FREE or endpoint in PERSON_WIDE:
        return False
    return endpoint.partition(".")[0] not in PROGRAM_FREE_BLUEPRINTS


# -- rows --------------------------------------------------------------------------------------


def _owned_classes() -> list[type]:
    from didactics.schedule.models import Kind, Session

    return [cls for cls in ProgramOwned.__subclasses__() if cls not in (Kind, Session)]


def sessions_visible_in(ids: tuple[int, ...]):
    """The condition on Session for "shows in one of these programs": its own, or shared."""
    from didactics.schedule.models import Session

    shares, series_shares = SessionShare.__table__, SeriesShare.__table__
    return (
        Session.program_id.in_(ids)
        | Session.id.in_(select(shares.c.session_id).where(shares.c.program_id.in_(ids)))
        | Session.series_id.in_(
            select(series_shares.c.series_id).where(series_shares.c.program_id.in_(ids))
        )
    )


def _criteria(ids: tuple[int, ...]) -> list:
    from didactics.schedule.models import Kind, Series, Session

    shares, series_shares = SessionShare.__table__, SeriesShare.__table__
    sessions, series = Session.__table__, Series.__table__
    shared_ids = select(shares.c.session_id).where(shares.c.program_id.in_(ids))
    shared_series = select(series_shares.c.series_id).where(series_shares.c.program_id.in_(ids))
    # The kinds of shared sessions come along: a shared grand rounds is still grand rounds.
    # Each half starts from the shares (few rows, indexed by program) and reaches the host
    # by primary key: never a scan of every session.
    host_ids = union(
        select(sessions.c.program_id)
        .select_from(shares)
        .join(sessions, sessions.c.id == shares.c.session_id)
        .where(shares.c.program_id.in_(ids)),
        select(series.c.program_id)
        .select_from(series_shares)
        .join(series, series.c.id == series_shares.c.series_id)
        .where(series_shares.c.program_id.in_(ids)),
    )
    options = [
        with_loader_criteria(
            Session,
            lambda cls: (
                cls.program_id.in_(ids) | cls.id.in_(shared_ids) | cls.series_id.in_(shared_series)
            ),
            include_aliases=True,
        ),
        with_loader_criteria(
            Kind,
            lambda cls: cls.program_id.in_(ids) | cls.program_id.in_(host_ids),
            include_aliases=True,
        ),
    ]
    # People: the members of these programs (and the person asking, who may be the
    # department's administrator without a role here).
    from didactics.auth.models import User
    from didactics.program.models import Membership

    members = select(Membership.__table__.c.user_id).where(
        Membership.__table__.c.program_id.in_(ids)
    )
    me = getattr(g.get("_login_user"), "id", None) or 0
    options.append(
        with_loader_criteria(
            User, lambda cls: cls.id.in_(members) | (cls.id == me), include_aliases=True
        )
    )
    for owned in _owned_classes():
        options.append(
            with_loader_criteria(owned, lambda cls: cls.program_id.in_(ids), include_aliases=True)
        )
    return options


@event.listens_for(OrmSession, "do_orm_execute")
def _keep_to_scope(state) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return
    if state.execution_options.get("all_programs"):
        return
    ids = scope_ids()
    if ids is None:
        return
    state.statement = state.statement.options(*_criteria(ids))


@event.listens_for(OrmSession, "before_flush")
def _write_only_here(session, flush_context, instances) -> None:
    """A program's rows are written from that program only: a session another program shares
    with this one is shown here, never changed from here."""
    ids = scope_ids()
    program = g.get("program") if has_app_context() else None
    if ids is None or program is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, ProgramOwned):
            continue
        if obj in session.dirty and not session.is_modified(obj):
            continue
        if obj.program_id is not None and obj.program_id != program.id:
            abort(403, "This belongs to another program: its coordinator can change it.")


def all_programs(statement):
    """A statement that sees every program (the department's pages, sign-in)."""
    return statement.execution_options(all_programs=True)


# -- requests ----------------------------------------------------------------------------------


def _program_by_slug(slug: str) -> Program | None:
    if current_user.is_authenticated:
        for program in current_user.programs:
            if program.slug == slug:
                return program
    return db.session.scalar(all_programs(select(Program).where(Program.slug == slug)))


def _remembered_program() -> Program:
    """Without /p/<slug>: the program the person last worked in, else their first."""
    if current_user.is_authenticated and current_user.memberships:
        wanted = session.get(SESSION_KEY)
        programs = current_user.programs
        return next((p for p in programs if p.id == wanted), programs[0])
    if current_user.is_authenticated and current_user.is_admin and session.get(SESSION_KEY):
        program = db.session.get(Program, session[SESSION_KEY])
        if program is not None:
            return program
    return get_program()


def _enter(values: dict | None) -> None:
    endpoint = request.endpoint
    slug = (values or {}).pop("program", None)
    if endpoint in PERSON_WIDE:
        if current_user.is_authenticated:
            remember_program(_remembered_program())
            ids = tuple(m.program_id for m in current_user.memberships)
            g.scope_ids = ids or (g.program.id,)
        return
    if not is_program_page(endpoint):
        return
    g.came_with_program = slug is not None
    program = _program_by_slug(slug) if slug is not None else _remembered_program()
    if program is None:
        abort(404)
    remember_program(program)
    g.scope_ids = (program.id,)
    if current_user.is_authenticated and endpoint not in NAMED:
        if not (current_user.is_admin or current_user.is_member_of(program.id)):
            abort(403)
        if session.get(SESSION_KEY) != program.id:
            session[SESSION_KEY] = program.id


def _names_program() -> bool:
    """Links name the program when the page was asked for by it, or when the person works in
    more than one (a fellow in one program keeps the short links: there is no other)."""
    if "names_program" not in g:
        signed_in = getattr(current_user, "is_authenticated", False)
        g.names_program = bool(
            g.get("came_with_program")
            or (signed_in and (current_user.is_admin or len(current_user.memberships) > 1))
        )
    return g.names_program


def _add_program(endpoint: str, values: dict) -> None:
    if "program" in values or not is_program_page(endpoint):
        return
    program = g.get("program")
    # A link given to people outside (the public feed) always names its program.
    if program is not None and "scope_ids" in g and (endpoint in NAMED or _names_program()):
        values["program"] = program.slug


def add_program_rules(app: Flask) -> None:
    """Every program page also answers at /p/<slug>/…; ``url_for`` builds that form whenever a
    program is in scope (Werkzeug tries the rule with more arguments first)."""
    for rule in list(app.url_map.iter_rules()):
        if not is_program_page(rule.endpoint):
            continue
        path = "/p/<slug:program>" + (rule.rule if rule.rule != "/" else "/")
        app.url_map.add(
            Rule(path, endpoint=rule.endpoint, methods=rule.methods, defaults=rule.defaults)
        )


def init_app(app: Flask) -> None:
    from werkzeug.routing import BaseConverter

    class SlugConverter(BaseConverter):
        regex = r"[a-z][a-z0-9-]{0,39}"

    app.url_map.converters["slug"] = SlugConverter
    app.url_value_preprocessor(lambda endpoint, values: _enter(values))
    app.url_defaults(_add_program)

    @app.context_processor
    def switcher():
        program = g.get("program")
        signed_in = getattr(current_user, "is_authenticated", False)
        mine = current_user.programs if signed_in else []
        return {"my_programs": mine, "in_program": program is not None and "scope_ids" in g}
