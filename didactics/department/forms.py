"""The department administrator's forms: a new program, a coordinator for one."""

from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from didactics.program.models import RESERVED_SLUGS, SLUG_PATTERN


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _lower(value):
    return value.strip().lower() if isinstance(value, str) else value


class ProgramForm(FlaskForm):
    name = StringField(
        "Program name",
        filters=[_strip],
        validators=[
            DataRequired(message="Give the program a name."),
            Length(max=120, message="At most 120 characters."),
        ],
    )
    slug = StringField(
        "Short name in links",
        filters=[_lower],
        validators=[DataRequired(message="Give the program a short name for its links.")],
    )
    timezone = StringField(
        "Time zone",
        filters=[_strip],
        validators=[DataRequired(message="Give the program's time zone.")],
        render_kw={"list": "zones"},
    )
    coordinator_email = EmailField(
        "Coordinator's e-mail (optional)",
        filters=[_lower],
        validators=[Optional(), Email(message="Enter an e-mail address."), Length(max=254)],
    )
    coordinator_name = StringField(
        "Coordinator's name (for someone new)",
        filters=[_strip],
        validators=[Optional(), Length(max=120, message="At most 120 characters.")],
    )

    def validate_slug(self, field):
        slug = field.data or ""
        if len(slug) > 40:
            raise ValidationError("At most 40 characters.")
        if not SLUG_PATTERN.match(slug):
            raise ValidationError(
                "Use lower-case letters, digits and hyphens, starting with a letter "
                "and not ending with a hyphen (like “regional”)."
            )
        if slug in RESERVED_SLUGS:
            raise ValidationError(f"“{slug}” is reserved: it means something else in a link.")

    def validate_timezone(self, field):
        if field.data not in available_timezones():
            raise ValidationError("Use a time zone name like America/Chicago.")


class CoordinatorForm(FlaskForm):
    email = EmailField(
        "E-mail",
        filters=[_lower],
        validators=[
            DataRequired(message="Give the coordinator's e-mail."),
            Email(message="Enter an e-mail address."),
            Length(max=254),
        ],
    )
    name = StringField(
        "Name (for someone new)",
        filters=[_strip],
        validators=[Optional(), Length(max=120, message="At most 120 characters.")],
    )
