"""audit trail: newest change per table

Adds one index to audit_events; no row changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 08:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity_newest', ['entity', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_entity_newest')
