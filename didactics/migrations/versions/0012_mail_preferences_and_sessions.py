"""e-mail preferences, and the session a message is about

Adds ``users.mail_off`` (the kinds of e-mail a person turned off; empty, all on) and
``outbox.session_id`` (a reminder of a session cancelled meanwhile is not sent). Only adds
columns: the code before this revision ignores them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('mail_off', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_session_id'), ['session_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_outbox_session_id_sessions'), 'sessions',
                                    ['session_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column('mail_off', existing_type=sa.JSON(), server_default=None)


def downgrade():
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_constraint('fk_outbox_session_id_sessions', type_='foreignkey')
        batch_op.drop_index('ix_outbox_session_id')
        batch_op.drop_column('session_id')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('mail_off')
