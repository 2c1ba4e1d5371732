"""The settings form."""

import calendar
from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

MONTHS = [SelectChoice(i, name) for i, name in enumerate(calendar.month_name[1:], start=1)]


class SettingsForm(FlaskForm):
    name = StringField("Program name", validators=[DataRequired(), Length(max=120)])
    timezone = StringField(
        "Time zone", validators=[DataRequired(), Length(max=64)], render_kw={"list": "zones"}
    )
    year_start_month = SelectField("Academic year starts in", choices=MONTHS, coerce=int)
    attendance_target_pct = IntegerField(
        "Attendance target (%)",
        validators=[NumberRange(min=1, max=100, message="Between 1 and 100.")],
    )
    release_cutoff_days = IntegerField(
        "Fellows may release a presenter slot until this many days before",
        validators=[NumberRange(min=0, max=90, message="Between 0 and 90 days.")],
    )
    is_public_feed_enabled = BooleanField("Publish a public calendar feed of the whole program")

    def validate_timezone(self, field):
        if field.data not in available_timezones():
            raise ValidationError("Use a time zone name like America/Chicago.")
