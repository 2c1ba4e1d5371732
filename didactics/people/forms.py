"""Forms for adding, editing and importing people."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from didactics.auth.models import Role, Track
from didactics.bounds import WithinWindow

ROLE_CHOICES = [SelectChoice(r.value, r.label) for r in Role]
TRACK_CHOICES = [SelectChoice("", "—")] + [SelectChoice(t.value, t.label) for t in Track]


def strip(value):
    """Pasted addresses and names often carry a space at either end."""
    return value.strip() if isinstance(value, str) else value


class PersonForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)], filters=[strip])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.FELLOW.value)
    track = SelectField("Track (fellows)", choices=TRACK_CHOICES, default="")
    starts_on = DateField("Expected at sessions from", validators=[Optional(), WithinWindow()])
    ends_on = DateField("Until", validators=[Optional(), WithinWindow()])

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("The end date is before the start date.")


class NewPersonForm(PersonForm):
    email = EmailField(
        "Email",
        filters=[strip],
        validators=[
            DataRequired(),
            Length(max=254),
            Email(
                message="Enter an email address like name@hospital.org.", check_deliverability=False
            ),
        ],
    )


class ImportForm(FlaskForm):
    file = FileField("CSV file")
    text = TextAreaField("…or paste the rows", validators=[Length(max=500_000)])
