"""Forms for series, sessions, closures and kinds."""

import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from didactics.bounds import WithinWindow
from didactics.schedule.models import Eligibility
from didactics.schedule.recurrence import ORDINALS

WEEKDAY_CHOICES = [
    SelectChoice(i, name)
    for i, name in enumerate(
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    )
]
RHYTHM_CHOICES = [
    SelectChoice("weekly", "Every week"),
    SelectChoice("biweekly", "Every other week"),
    SelectChoice("monthly", "Once a month"),
]
NTH_CHOICES = [SelectChoice(n, word.capitalize()) for n, word in ORDINALS.items()]
DOI_RE = re.compile(r"^(https?://(dx\.)?doi\.org/)?10\.\d{4,9}/\S+$", re.I)
PUBMED_RE = re.compile(r"^(https?://pubmed\.ncbi\.nlm\.nih\.gov/)?\d{1,9}/?$", re.I)


def article_link(text: str) -> str:
    """A DOI, a PubMed id or either as a URL → a link; else ValidationError."""
    text = text.strip()
    if not text:
        return ""
    # "doi:10.1000/xyz" and "PMID: 12345678", as reference managers copy them.
    text = re.sub(r"^(doi|pmid)\s*:?\s*", "", text, flags=re.I)
    if DOI_RE.match(text):
        return text if text.lower().startswith("http") else f"https://doi.org/{text}"
    if PUBMED_RE.match(text):
        pmid = text.rstrip("/").rsplit("/", 1)[-1]
        return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
    if re.match(r"^https://\S+$", text) and len(text) <= 500:
        return text
    raise ValidationError("Give a DOI (10.1000/xyz), a PubMed id (12345678) or an https link.")


class KindChoiceMixin:
    def set_kinds(self, kinds) -> None:
        self.kind.choices = [SelectChoice(k.code, k.label) for k in kinds]


class SeriesForm(KindChoiceMixin, FlaskForm):
    kind = SelectField("Kind of session")
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    rhythm = SelectField("Repeats", choices=RHYTHM_CHOICES, default="weekly")
    weekday = SelectField("On", choices=WEEKDAY_CHOICES, coerce=int, default=2)
    nth = SelectField("Which one (monthly)", choices=NTH_CHOICES, coerce=int, default=1)
    starts_on = DateField(
        "First day", validators=[InputRequired(message="Give a date."), WithinWindow()]
    )
    ends_on = DateField(
        "Last day", validators=[InputRequired(message="Give a date."), WithinWindow()]
    )
    start_time = TimeField("Starts at", validators=[InputRequired(message="Give a time.")])
    duration_min = IntegerField(
        "Minutes",
        default=60,
        validators=[NumberRange(min=5, max=720, message="Between 5 and 720 minutes.")],
    )
    location = StringField("Location", validators=[Length(max=300)])
    notes = TextAreaField("Notes", validators=[Length(max=5000)])

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("The last day is before the first day.")


class SeriesEditForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    start_time = TimeField("Starts at", validators=[InputRequired(message="Give a time.")])
    duration_min = IntegerField(
        "Minutes", validators=[NumberRange(min=5, max=720, message="Between 5 and 720 minutes.")]
    )
    location = StringField("Location", validators=[Length(max=300)])
    notes = TextAreaField("Notes", validators=[Length(max=5000)])
    ends_on = DateField(
        "Last day", validators=[InputRequired(message="Give a date."), WithinWindow()]
    )


class SessionForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    day = DateField("Date", validators=[InputRequired(message="Give a date."), WithinWindow()])
    start_time = TimeField("Starts at", validators=[InputRequired(message="Give a time.")])
    end_time = TimeField("Ends at", validators=[InputRequired(message="Give a time.")])
    location = StringField("Location", validators=[Length(max=300)])
    topic = StringField("Topic", validators=[Length(max=500)])
    notes = TextAreaField("Notes", validators=[Length(max=5000)])
    article_citation = TextAreaField("Article (citation)", validators=[Length(max=1000)])
    article_url = StringField("Article link (DOI or PubMed)", validators=[Length(max=500)])
    # The row's last change as the form saw it: a concurrent edit is noticed, not overwritten.
    version = StringField(render_kw={"hidden": True})

    def validate_end_time(self, field):
        if field.data and self.start_time.data and field.data <= self.start_time.data:
            raise ValidationError("The end is not after the start.")

    def validate_article_url(self, field):
        field.data = article_link(field.data or "")


class NewSessionForm(KindChoiceMixin, SessionForm):
    kind = SelectField("Kind of session")


class CancelForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired(message="Say why."), Length(max=300)])


class ClosureForm(FlaskForm):
    starts_on = DateField(
        "From", validators=[InputRequired(message="Give a date."), WithinWindow()]
    )
    ends_on = DateField(
        "Until (inclusive)", validators=[InputRequired(message="Give a date."), WithinWindow()]
    )
    reason = StringField("Reason", validators=[DataRequired(), Length(max=200)])

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("The last day is before the first day.")


SLOT_LINE = re.compile(r"^\s*(?P<label>[^:]{1,60}?)\s*(:\s*(?P<who>\w+))?\s*$")


class KindForm(FlaskForm):
    label = StringField("Name", validators=[DataRequired(), Length(max=80)])
    colour = StringField("Colour", validators=[DataRequired(), Length(max=7)])
    default_duration_min = IntegerField(
        "Usual length (minutes)", validators=[NumberRange(min=5, max=720)]
    )
    default_slots = TextAreaField(
        "Presenter slots, one a line: label: fellow | faculty | anyone",
        validators=[Length(max=2000)],
    )
    is_attendance_tracked = BooleanField("Take attendance")
    is_counted = BooleanField("Counts toward fellows' attendance")
    capacity = IntegerField(
        "Places (empty: no registration)", validators=[Optional(), NumberRange(min=1, max=500)]
    )
    checkin_opens_min = IntegerField(
        "Check-in opens (minutes before)", validators=[NumberRange(min=0, max=240)]
    )
    checkin_grace_min = IntegerField(
        "Late after (minutes past the start)", validators=[NumberRange(min=0, max=240)]
    )
    yearly_target = IntegerField(
        "Presentations per fellow per year (target)",
        validators=[Optional(), NumberRange(min=0, max=100)],
    )
    yearly_limit = IntegerField(
        "Most presentations per person per year",
        validators=[Optional(), NumberRange(min=1, max=100)],
    )

    def validate_colour(self, field):
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", field.data or ""):
            raise ValidationError("A colour like #1f6fb2.")

    def validate_default_slots(self, field):
        slots = []
        for number, line in enumerate((field.data or "").splitlines(), start=1):
            if not line.strip():
                continue
            match = SLOT_LINE.match(line)
            who = (match.group("who") or "fellow").lower() if match else ""
            if not match or who not in {e.value for e in Eligibility}:
                raise ValidationError(
                    f"Line {number}: write 'Label: fellow', 'Label: faculty' or 'Label: anyone'."
                )
            slots.append({"label": match.group("label"), "eligibility": who})
        if len(slots) > 10:
            raise ValidationError("At most 10 presenter slots.")
        self.parsed_slots = slots
