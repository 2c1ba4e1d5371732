"""each feed's last answer, kept for the next fetch

Adds one table, feed_bodies: a cache that can be dropped at any time (the next fetch of each
feed builds it again). Only adds; the code before this revision ignores it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'feed_bodies',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('stamp', sa.String(length=64), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('seen', sa.Integer(), nullable=False),
        sa.Column('modified_dt', sa.DateTime(timezone=True), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_feed_bodies')),
    )


def downgrade():
    op.drop_table('feed_bodies')
