"""Forms for asking for, entering and importing away time."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from didactics.away.models import AwayKind
from didactics.bounds import WithinWindow

KIND_CHOICES = [SelectChoice(k.value, k.label.capitalize()) for k in AwayKind]


def strip(value):
    return value.strip() if isinstance(value, str) else value


class AwayForm(FlaskForm):
    kind = SelectField("Reason", choices=KIND_CHOICES, default=AwayKind.VACATION.value)
    first_day = DateField(
        "First day", validators=[InputRequired("Choose the first day."), WithinWindow()]
    )
    last_day = DateField(
        "Last day", validators=[InputRequired("Choose the last day."), WithinWindow()]
    )
    start_time = TimeField("From (optional)", validators=[Optional()])
    end_time = TimeField("Until (optional)", validators=[Optional()])
    note = StringField("Note (optional)", validators=[Length(max=300)], filters=[strip])

    def validate_last_day(self, field):
        if field.data and self.first_day.data and field.data < self.first_day.data:
            raise ValidationError("The last day is before the first day.")


class AwayEntryForm(AwayForm):
    person = SelectField("Fellow", coerce=int, validators=[DataRequired("Choose a fellow.")])

    def set_people(self, people) -> None:
        self.person.choices = [SelectChoice(0, "—")] + [SelectChoice(p.id, p.name) for p in people]


class CalendarForm(FlaskForm):
    name = StringField(
        "Name", validators=[Length(max=120)], filters=[strip],
        description="e.g. Away rotations 2026–27",
    )  # fmt: skip
    url = StringField("Published calendar address (https://…)", validators=[Length(max=2000)],
                      filters=[strip])  # fmt: skip
    file = FileField("…or an .ics file")
    text = TextAreaField(validators=[Optional(), Length(max=3_000_000)])
