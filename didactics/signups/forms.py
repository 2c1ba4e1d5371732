"""Forms for claiming, assigning and editing presenter slots."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from didactics.people.forms import strip
from didactics.schedule.forms import article_link
from didactics.schedule.models import Eligibility
from didactics.signups.services import Topic

TITLE_MAX = 300


class TopicForm(FlaskForm):
    """What the presenter will talk about; journal club adds the article."""

    title = StringField(
        "Title or topic (optional)",
        validators=[Length(max=TITLE_MAX, message="Keep the title under %(max)d characters.")],
        filters=[strip],
    )
    article_citation = TextAreaField(
        "Article (journal club)",
        validators=[Length(max=1000, message="Keep the citation under %(max)d characters.")],
        filters=[strip],
    )
    article_url = StringField(
        "DOI, PubMed ID or link",
        validators=[Length(max=500, message="Keep the link under %(max)d characters.")],
        filters=[strip],
    )

    def validate_article_url(self, field):
        field.data = article_link(field.data or "")

    @property
    def topic(self) -> Topic:
        return Topic(
            title=self.title.data or "",
            article_citation=self.article_citation.data or "",
            article_url=self.article_url.data or "",
        )


class AssignForm(FlaskForm):
    person = SelectField("Person", coerce=str, validators=[Optional()])
    external_name = StringField(
        "…or a speaker without an account",
        validators=[Length(max=200, message="Keep the name under %(max)d characters.")],
        filters=[strip],
    )

    def set_people(self, people) -> None:
        self.person.choices = [SelectChoice("", "—")] + [
            SelectChoice(str(p.id), f"{p.name} ({p.role.label.lower()})") for p in people
        ]

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if bool(self.person.data) == bool(self.external_name.data):
            self.person.errors.append("Choose a person or type a speaker's name (one of the two).")
            return False
        return True


class SwapForm(FlaskForm):
    other = IntegerField(
        "Swap with", validators=[InputRequired(message="Choose the slot to swap with.")]
    )


class SlotForm(FlaskForm):
    label = StringField(
        "Slot",
        validators=[DataRequired(message="Name the slot (Presenter, Moderator…)."), Length(max=60)],
        filters=[strip],
    )
    eligibility = SelectField(
        "Who may take it",
        choices=[SelectChoice(e.value, e.label) for e in Eligibility],
        default=Eligibility.FELLOW.value,
    )
