"""The department administrator's pages: the programs, their coordinators, new and deleted
programs. Program-free pages (``didactics.program.scope``): their queries see every program."""

from zoneinfo import available_timezones

import sqlalchemy as sa
from flask import abort, flash, redirect, url_for
from sqlalchemy.exc import IntegrityError

from didactics.auth.models import Membership, Role, User
from didactics.auth.util import role_required
from didactics.department import bp
from didactics.department.forms import CoordinatorForm, ProgramForm
from didactics.extensions import db
from didactics.mail.invitations import invite
from didactics.program.models import Program, using_program
from didactics.web import ask_first, render

admin_required = role_required(lambda user: user.is_admin)

ALL = {"all_programs": True}


def _programs() -> list[Program]:
    return list(db.session.scalars(sa.select(Program).order_by(Program.id), execution_options=ALL))


def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


def _session_counts() -> dict[int, int]:
    from didactics.schedule.models import Session

    rows = db.session.execute(
        sa.select(Session.program_id, sa.func.count()).group_by(Session.program_id),
        execution_options=ALL,
    )
    return dict(rows.all())


def _member_counts() -> dict[int, int]:
    rows = db.session.execute(
        sa.select(Membership.program_id, sa.func.count()).group_by(Membership.program_id),
        execution_options=ALL,
    )
    return dict(rows.all())


def _coordinators() -> dict[int, list[User]]:
    rows = db.session.execute(
        sa.select(Membership.program_id, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.role == Role.COORDINATOR)
        .order_by(sa.func.lower(User.name)),
        execution_options=ALL,
    )
    found: dict[int, list[User]] = {}
    for program_id, user in rows.all():
        found.setdefault(program_id, []).append(user)
    return found


def _page(form: ProgramForm | None = None, status: int = 200, coordinator_forms=None):
    programs = _programs()
    if form is None:
        form = ProgramForm()
        form.timezone.data = programs[0].timezone if programs else "America/Chicago"
    coordinator_forms = coordinator_forms or {}
    _ids(form, "new-program")
    coordinator_forms = {
        p.id: _ids(coordinator_forms.get(p.id) or CoordinatorForm(), f"program-{p.id}-coordinator")
        for p in programs
    }
    return render(
        "department/index.html",
        programs=programs,
        sessions=_session_counts(),
        members=_member_counts(),
        coordinators=_coordinators(),
        form=form,
        coordinator_forms=coordinator_forms,
        zones=_zones(),
        status=status,
    )


def _ids(form, prefix: str):
    """Ids of their own for the fields of one of the page's several forms (the names, which
    the post sends, stay)."""
    for f in form:
        if f.type != "CSRFTokenField":
            f.id = f.label.field_id = f"{prefix}-{f.name}"
    return form


def _load(program_id: int) -> Program:
    program = db.session.get(Program, program_id, execution_options=ALL)
    if program is None:
        abort(404)
    return program


def _person(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))


def _name_coordinator(program: Program, email: str, name: str | None) -> tuple[User, bool]:
    """Make the person with ``email`` coordinator of ``program`` (creating and inviting them
    when new); returns the person and whether they are new. The caller commits."""
    person = _person(email)
    if person is not None:
        person.set_role_in(program, Role.COORDINATOR)
        db.session.flush()
        return person, False
    person = User(email=email.lower(), name=name or "")
    person.memberships.append(Membership(program_id=program.id, role=Role.COORDINATOR))
    db.session.add(person)
    db.session.flush()
    with using_program(program):
        invite(person)  # in the same transaction: no person, no e-mail
    return person, True


@bp.get("/department")
@admin_required
def index():
    return _page()


@bp.post("/department/programs")
@admin_required
def create_program():
    form = ProgramForm()
    if form.validate_on_submit():
        slug_taken = db.session.scalar(
            sa.select(Program.id).where(Program.slug == form.slug.data), execution_options=ALL
        )
        email = form.coordinator_email.data or ""
        new_person = bool(email) and _person(email) is None
        if slug_taken is not None:
            form.slug.errors.append("Another program already has this short name.")
        elif new_person and not form.coordinator_name.data:
            form.coordinator_name.errors.append("Give the name of the new coordinator.")
        else:
            program = Program(name=form.name.data, slug=form.slug.data, timezone=form.timezone.data)
            try:
                with db.session.begin_nested():
                    db.session.add(program)
                    db.session.flush()
            except IntegrityError:
                # Another request took the slug between the look-up and the insert.
                form.slug.errors.append("Another program already has this short name.")
            else:
                from didactics.schedule.kinds import seed_kinds

                with using_program(program):
                    seed_kinds()
                if email:
                    _name_coordinator(program, email, form.coordinator_name.data)
                db.session.commit()
                flash(f"Program “{program.name}” created.", "success")
                return redirect(url_for("department.index"), 303)
    return _page(form, status=400)


@bp.post("/department/programs/<int:program_id>/coordinators")
@admin_required
def add_coordinator(program_id: int):
    program = _load(program_id)
    form = CoordinatorForm()
    if form.validate_on_submit():
        email = form.email.data
        if _person(email) is None and not form.name.data:
            form.name.errors.append("This person is new here: give their name.")
        else:
            person, new = _name_coordinator(program, email, form.name.data)
            db.session.commit()
            if new:
                flash(
                    f"{person.name} is coordinator of {program.name}; invitation sent.", "success"
                )
            else:
                flash(f"{person.name} is coordinator of {program.name}.", "success")
            return redirect(url_for("department.index"), 303)
    return _page(status=400, coordinator_forms={program.id: form})


@bp.post("/department/programs/<int:program_id>/coordinators/<int:user_id>/remove")
@admin_required
def remove_coordinator(program_id: int, user_id: int):
    program = _load(program_id)
    person = db.session.get(User, user_id)
    membership = person.membership_in(program.id) if person is not None else None
    if membership is None or membership.role != Role.COORDINATOR:
        abort(404)
    others = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Membership)
        .where(
            Membership.program_id == program.id,
            Membership.role == Role.COORDINATOR,
            Membership.user_id != person.id,
        ),
        execution_options=ALL,
    )
    if not others:
        flash(
            f"{person.name} is the only coordinator of {program.name}: "
            "name another coordinator first.",
            "error",
        )
        return redirect(url_for("department.index"), 303)
    person.set_role_in(program, Role.FACULTY)
    db.session.commit()
    flash(f"{person.name} is now faculty in {program.name}.", "success")
    return redirect(url_for("department.index"), 303)


def _why_not_delete(program: Program) -> str | None:
    from didactics.schedule.models import Session

    sessions = db.session.scalar(
        sa.select(sa.func.count()).select_from(Session).where(Session.program_id == program.id),
        execution_options=ALL,
    )
    if sessions:
        plural = "session" if sessions == 1 else "sessions"
        return (
            f"{program.name} still has {sessions} {plural}: "
            "a program with sessions cannot be deleted."
        )
    others = db.session.scalar(
        sa.select(sa.func.count()).select_from(Program).where(Program.id != program.id),
        execution_options=ALL,
    )
    if not others:
        return f"{program.name} is the only program: the department needs at least one."
    return None


@bp.post("/department/programs/<int:program_id>/delete")
@admin_required
def delete_program(program_id: int):
    program = _load(program_id)
    reason = _why_not_delete(program)
    if reason:
        flash(reason, "error")
        return redirect(url_for("department.index"), 303)
    ask_first(
        f"Delete the program {program.name}?",
        "Delete the program",
        back=url_for("department.index"),
        detail="Its kinds of session and everyone's role in it go too. The people stay.",
    )
    _delete(program)
    db.session.commit()
    flash(f"Program “{program.name}” deleted.", "success")
    return redirect(url_for("department.index"), 303)


def _delete(program: Program) -> None:
    """Remove ``program`` and every row that belongs to it (its kinds, series, closures, away
    time, queued mail, its trail and everyone's role in it; sessions it has none, that was
    checked). By statements: an audit row each would name the program being deleted. One
    audit row, in a program that stays, says what went."""
    from didactics.audit.recorder import record

    name, slug, program_id = program.name, program.slug, program.id
    stays = db.session.scalar(
        sa.select(Program).where(Program.id != program_id).order_by(Program.id).limit(1),
        execution_options=ALL,
    )
    db.session.flush()
    # Rows that point at others before those they point at.
    for table in reversed(db.metadata.sorted_tables):
        column = table.c.get("program_id")
        if column is not None and any(
            fk.column.table.name == "program" for fk in column.foreign_keys
        ):
            db.session.execute(sa.delete(table).where(column == program_id))
    db.session.execute(sa.delete(Program.__table__).where(Program.__table__.c.id == program_id))
    db.session.expunge(program)
    with using_program(stays):
        record("delete", "program", program_id, summary=f"{name} ({slug})")


# -- attendance side by side -------------------------------------------------------------------


def _side_by_side(start, end):
    """Each program's attendance per kind and in all, over [start, end]: (programs, kind
    labels in order, {(program id, label): tally}, {program id: (fellows, total tally)})."""
    from didactics.attendance import counting

    programs = _programs()
    cells, totals, labels = {}, {}, []
    for program in programs:
        with using_program(program):
            data = counting.build_report(program, start, end)
        total = counting.Tally()
        for kind in data.kinds:
            tally = counting.Tally()
            for fellow in data.fellows:
                found = data.by_kind[fellow.id].get(kind.id)
                if found is not None:
                    tally.add(found)
            cells[program.id, kind.label] = tally
            if kind.label not in labels:
                labels.append(kind.label)
        for fellow in data.fellows:
            total.add(data.totals[fellow.id])
        totals[program.id] = (len(data.fellows), total)
    return programs, labels, cells, totals


def _report_range():
    from didactics.attendance.views import report_range

    first = _programs()[0]
    with using_program(first):
        return report_range(first)


@bp.get("/department/reports/attendance")
@admin_required
def attendance_report():
    start, end, problems = _report_range()
    context = {"start": start, "end": end, "problems": problems, "programs": [], "labels": []}
    if not problems:
        programs, labels, cells, totals = _side_by_side(start, end)
        context.update(programs=programs, labels=labels, cells=cells, totals=totals)
    return render("department/report.html", status=400 if problems else 200, **context)


@bp.get("/department/reports/attendance.csv")
@admin_required
def attendance_report_csv():
    from flask import Response

    from didactics.csvfiles import csv_download

    start, end, problems = _report_range()
    if problems:
        return Response("\n".join(problems) + "\n", 400, mimetype="text/plain")
    programs, labels, cells, totals = _side_by_side(start, end)

    def rows():
        for program in programs:
            fellows, total = totals[program.id]
            for label in [*labels, "all kinds"]:
                tally = total if label == "all kinds" else cells.get((program.id, label))
                if tally is None:
                    continue
                pct = tally.pct
                yield (
                    program.name, program.slug, label, fellows, tally.expected, tally.attended,
                    tally.late, tally.excused, tally.absent,
                    "" if pct is None else f"{pct:.1f}", program.attendance_target_pct,
                )  # fmt: skip

    return csv_download(
        f"department-attendance-{start.isoformat()}-to-{end.isoformat()}.csv",
        ["program", "slug", "kind", "fellows", "expected", "attended", "late", "excused",
         "absent", "percent", "target"],
        rows(),
    )  # fmt: skip
