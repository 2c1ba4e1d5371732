"""programs of a department: memberships, program-owned rows, shared sessions

Until now a deployment served one program (one row in ``program``). Every existing row is put
into that program: it gets a slug made from its name, each person a membership in it with the
role they had, and every kind, series, session, closure, slot, away period, away calendar,
audit line and outbox message its ``program_id``. ``users.role`` moves to ``memberships``.
Nothing is deleted; downgrading keeps the first program's rows and roles.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00.000000

"""
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

ROLE = sa.Enum('fellow', 'faculty', 'coordinator', 'guest', name='role', native_enum=False,
               length=16)
OWNED = ['kinds', 'series', 'sessions', 'closures', 'slots', 'away_periods', 'away_calendars',
         'audit_events', 'outbox']


def _slug(name: str) -> str:
    words = re.findall(r'[a-z0-9]+', (name or '').lower())
    slug = words[0] if words else 'program'
    return slug if slug[0].isalpha() else 'program'


def upgrade():
    bind = op.get_bind()
    now = datetime.now(UTC)
    program = sa.table('program', sa.column('id', sa.Integer), sa.column('name', sa.String),
                       sa.column('slug', sa.String))
    first = bind.execute(sa.select(program.c.id, program.c.name).order_by(program.c.id)).first()
    users_count = bind.execute(sa.text('SELECT count(*) FROM users')).scalar()
    if first is None and users_count:
        # People but no program row (never happens in practice): make the one they were in.
        bind.execute(sa.text(
            "INSERT INTO program (id, name, timezone, year_start_month, attendance_target_pct, "
            "release_cutoff_days, is_public_feed_enabled, created_dt, updated_dt) VALUES "
            "(1, 'Pain Medicine Fellowship', 'America/Chicago', 7, 75, 7, false, :now, :now)"
        ), {'now': now})
        first = (1, 'Pain Medicine Fellowship')

    if bind.dialect.name == 'postgresql' and first is not None:
        # 0001 wrote the first program with its id given, which left the sequence behind:
        # the next program made would collide with it.
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence('program', 'id'), "
                             "(SELECT max(id) FROM program))"))
    with op.batch_alter_table('program') as batch_op:
        batch_op.add_column(sa.Column('slug', sa.String(length=40), nullable=True))
    for row in bind.execute(sa.select(program.c.id, program.c.name).order_by(program.c.id)):
        slug = _slug(row.name) if row.id == first[0] else f'program-{row.id}'
        bind.execute(program.update().where(program.c.id == row.id).values(slug=slug))
    with op.batch_alter_table('program') as batch_op:
        batch_op.alter_column('slug', existing_type=sa.String(length=40), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_program_slug'), ['slug'])

    memberships = op.create_table(
        'memberships',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.Column('role', ROLE, nullable=False),
        sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['program.id'],
                                name=op.f('fk_memberships_program_id_program'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
        sa.UniqueConstraint('user_id', 'program_id', name=op.f('uq_memberships_user_id_program_id')),
    )
    with op.batch_alter_table('memberships') as batch_op:
        batch_op.create_index('ix_memberships_program_id_role', ['program_id', 'role'], unique=False)
    if first is not None:
        bind.execute(
            memberships.insert().from_select(
                ['user_id', 'program_id', 'role', 'created_dt'],
                sa.select(sa.column('id'), sa.literal(first[0]), sa.column('role'),
                          sa.column('created_dt')).select_from(sa.table('users')),
            )
        )
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.drop_column('role')
    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column('is_admin', existing_type=sa.Boolean(), server_default=None)

    for name in OWNED:
        with op.batch_alter_table(name) as batch_op:
            batch_op.add_column(sa.Column('program_id', sa.Integer(), nullable=True))
        if first is not None:
            bind.execute(sa.text(f'UPDATE {name} SET program_id = :id'), {'id': first[0]})
        with op.batch_alter_table(name) as batch_op:
            batch_op.alter_column('program_id', existing_type=sa.Integer(), nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{name}_program_id'), ['program_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{name}_program_id_program'), 'program',
                                        ['program_id'], ['id'], ondelete='RESTRICT')
            if name == 'kinds':
                batch_op.drop_constraint('uq_kinds_code', type_='unique')
                batch_op.create_unique_constraint(batch_op.f('uq_kinds_program_id_code'),
                                                  ['program_id', 'code'])

    op.create_table(
        'session_shares',
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['program.id'],
                                name=op.f('fk_session_shares_program_id_program'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.id'],
                                name=op.f('fk_session_shares_session_id_sessions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id', 'program_id', name=op.f('pk_session_shares')),
    )
    with op.batch_alter_table('session_shares') as batch_op:
        batch_op.create_index(batch_op.f('ix_session_shares_program_id'), ['program_id'], unique=False)
    op.create_table(
        'series_shares',
        sa.Column('series_id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['program.id'],
                                name=op.f('fk_series_shares_program_id_program'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['series_id'], ['series.id'],
                                name=op.f('fk_series_shares_series_id_series'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('series_id', 'program_id', name=op.f('pk_series_shares')),
    )
    with op.batch_alter_table('series_shares') as batch_op:
        batch_op.create_index(batch_op.f('ix_series_shares_program_id'), ['program_id'], unique=False)


def downgrade():
    """Back to one program: the first program's rows and roles stay; what other programs own
    would have nowhere to go, so downgrading refuses while they own anything (what one
    program offered another, the shares, is dropped)."""
    bind = op.get_bind()
    first = bind.execute(sa.text('SELECT min(id) FROM program')).scalar()
    # The audit trail and the outbox only lose which program a line was about.
    for name in [n for n in OWNED if n not in ('audit_events', 'outbox')] + ['memberships']:
        owned = bind.execute(sa.text(f'SELECT count(*) FROM {name} WHERE program_id <> :id'),
                             {'id': first}).scalar()
        if owned:
            raise RuntimeError(f'Other programs still own {owned} rows of {name}: one program '
                               'was all there was before 0011. Remove those programs first.')
    op.drop_table('series_shares')
    op.drop_table('session_shares')
    for name in reversed(OWNED):
        with op.batch_alter_table(name) as batch_op:
            if name == 'kinds':
                batch_op.drop_constraint('uq_kinds_program_id_code', type_='unique')
                batch_op.create_unique_constraint('uq_kinds_code', ['code'])
            batch_op.drop_constraint(f'fk_{name}_program_id_program', type_='foreignkey')
            batch_op.drop_index(f'ix_{name}_program_id')
            batch_op.drop_column('program_id')
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('role', ROLE, nullable=False, server_default='guest'))
    bind.execute(sa.text(
        'UPDATE users SET role = (SELECT m.role FROM memberships m WHERE m.user_id = users.id '
        'AND m.program_id = :id) WHERE EXISTS (SELECT 1 FROM memberships m '
        'WHERE m.user_id = users.id AND m.program_id = :id)'
    ), {'id': first})
    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column('role', existing_type=ROLE, server_default=None)
        batch_op.drop_column('is_admin')
    op.drop_table('memberships')
    with op.batch_alter_table('program') as batch_op:
        batch_op.drop_constraint('uq_program_slug', type_='unique')
        batch_op.drop_column('slug')
