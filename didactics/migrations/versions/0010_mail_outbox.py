"""the outbox: e-mails written with the change that causes them

Adds one table, outbox, that `flask send-mail` empties into the SMTP server. Only adds; the
code before this revision ignores it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('recipient', sa.String(length=254), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('text_body', sa.Text(), nullable=False),
        sa.Column('html_body', sa.Text(), nullable=False),
        sa.Column('reply_to', sa.String(length=254), nullable=False),
        sa.Column('about_url', sa.String(length=500), nullable=False),
        sa.Column('dedupe_key', sa.String(length=200), nullable=True),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'failed', name='mailstatus',
                                    native_enum=False, length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_dt', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
        sa.Column('queued_dt', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_dt', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_dt', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key')),
        sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id')),
    )
    op.create_index('ix_outbox_status_next_attempt_dt', 'outbox', ['status', 'next_attempt_dt'],
                    unique=False)
    op.create_index(op.f('ix_outbox_user_id'), 'outbox', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_outbox_user_id'), table_name='outbox')
    op.drop_index('ix_outbox_status_next_attempt_dt', table_name='outbox')
    op.drop_table('outbox')
