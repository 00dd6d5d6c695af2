"""Step kinds of task spec version 1: one pydantic model per ``action``."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Selector = Annotated[str, Field(min_length=1, max_length=2000, description="A Playwright selector.")]
ArtifactName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Letters, digits, '_', '.', '-' (max 64); names the value or file.",
    ),
]
MAX_STEP_TIMEOUT_S = 3600.0
ALLOWED_SCHEMES = ("http", "https")


def check_url(value: str) -> str:
    """Reject URLs whose scheme is not http(s); relative URLs pass (they need ``base_url``)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    scheme = urlsplit(value).scheme.lower()
    if scheme and scheme not in ALLOWED_SCHEMES:
        raise ValueError(f"scheme '{scheme}:' is not allowed; use http:// or https://")
    if scheme and not urlsplit(value).hostname:
        raise ValueError(f"'{value}' has no host")
    return value


def is_relative(url: str) -> bool:
    """True for a URL without a scheme, such as ``/form.html``."""
    return not urlsplit(url).scheme


class StepBase(BaseModel):
    """Options every step has."""

    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as the schema says

    timeout_s: float | None = Field(
        default=None, gt=0, le=MAX_STEP_TIMEOUT_S, description="Step timeout (default 30 s)."
    )
    continue_on_error: bool = Field(default=False, description="Keep going if this step fails.")
    description: str | None = Field(default=None, max_length=500)


class Goto(StepBase):
    action: Literal["goto"]
    url: str = Field(max_length=8000)
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = "load"

    _url = field_validator("url")(check_url)


class Click(StepBase):
    action: Literal["click"]
    selector: Selector
    button: Literal["left", "right", "middle"] = "left"
    click_count: int = Field(default=1, ge=1, le=3)


class Fill(StepBase):
    action: Literal["fill"]
    selector: Selector
    value: str = Field(max_length=100_000)


class Type(StepBase):
    """Types text key by key, as a person would (``fill`` sets it at once)."""

    action: Literal["type"]
    selector: Selector
    text: str = Field(max_length=10_000)
    delay_ms: int = Field(default=0, ge=0, le=1000, description="Pause between keys.")


class Press(StepBase):
    action: Literal["press"]
    key: str = Field(min_length=1, max_length=100, description="e.g. Enter, Tab, Control+A.")
    selector: Selector | None = Field(default=None, description="Focus this first; else the page.")


class Select(StepBase):
    action: Literal["select"]
    selector: Selector
    value: str | list[str] | None = None
    label: str | list[str] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Select:
        if (self.value is None) == (self.label is None):
            raise ValueError("give exactly one of 'value' or 'label'")
        return self


class Check(StepBase):
    action: Literal["check"]
    selector: Selector
    checked: bool = Field(default=True, description="false unchecks.")


class Hover(StepBase):
    action: Literal["hover"]
    selector: Selector


class Scroll(StepBase):
    """Scrolls the page by ``x``/``y`` pixels, to ``to``, or a ``selector`` into view."""

    action: Literal["scroll"]
    selector: Selector | None = None
    to: Literal["top", "bottom"] | None = None
    x: int = Field(default=0, ge=-100_000, le=100_000)
    y: int = Field(default=0, ge=-100_000, le=100_000)

    @model_validator(mode="after")
    def _something(self) -> Scroll:
        given = sum([self.selector is not None, self.to is not None, bool(self.x or self.y)])
        if given != 1:
            raise ValueError("give exactly one of 'selector', 'to', or 'x'/'y'")
        return self


class WaitFor(StepBase):
    """Waits for a selector to reach a state, for the URL to match, or for a load state."""

    action: Literal["wait_for"]
    selector: Selector | None = None
    state: Literal["attached", "detached", "visible", "hidden"] = "visible"
    url: str | None = Field(default=None, max_length=8000, description="Glob, e.g. **/done.")
    load_state: Literal["load", "domcontentloaded", "networkidle"] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> WaitFor:
        if sum(v is not None for v in (self.selector, self.url, self.load_state)) != 1:
            raise ValueError("give exactly one of 'selector', 'url' or 'load_state'")
        return self


class Sleep(StepBase):
    action: Literal["sleep"]
    seconds: float = Field(gt=0, le=600)


class Screenshot(StepBase):
    action: Literal["screenshot"]
    name: ArtifactName
    full_page: bool = False
    selector: Selector | None = Field(default=None, description="Only this element.")


class Pdf(StepBase):
    action: Literal["pdf"]
    name: ArtifactName
    format: Literal["A4", "Letter", "Legal", "A3", "A5", "Tabloid"] = "A4"
    landscape: bool = False
    print_background: bool = True


class Extract(StepBase):
    """Reads text (default), an attribute or inner HTML of the first or of all matches."""

    action: Literal["extract"]
    name: ArtifactName
    selector: Selector
    attribute: str | None = Field(default=None, min_length=1, max_length=200)
    html: bool = Field(default=False, description="inner HTML instead of text.")
    all: bool = Field(default=False, description="A list of every match instead of the first.")

    @model_validator(mode="after")
    def _not_both(self) -> Extract:
        if self.attribute is not None and self.html:
            raise ValueError("give 'attribute' or 'html', not both")
        return self


class Evaluate(StepBase):
    """Runs JavaScript in the page: an expression or a function, with an optional argument."""

    action: Literal["evaluate"]
    script: str = Field(min_length=1, max_length=100_000)
    arg: Any = None
    name: ArtifactName | None = Field(default=None, description="Store the result under this name.")


class Assert(StepBase):
    """Fails the step unless the page matches: element text, URL, title, or visibility."""

    action: Literal["assert"]
    selector: Selector | None = None
    text: str | None = Field(default=None, description="Element text (selector) contains this.")
    url: str | None = Field(default=None, description="Page URL contains this.")
    title: str | None = Field(default=None, description="Page title contains this.")
    visible: bool | None = Field(default=None, description="Element (selector) is/isn't visible.")
    exact: bool = Field(default=False, description="Equal instead of contains.")

    @model_validator(mode="after")
    def _coherent(self) -> Assert:
        checks = [self.text, self.url, self.title, self.visible]
        if all(c is None for c in checks):
            raise ValueError("give at least one of 'text', 'url', 'title' or 'visible'")
        if (self.text is not None or self.visible is not None) and self.selector is None:
            raise ValueError("'text' and 'visible' need a 'selector'")
        return self


STEP_MODELS: tuple[type[StepBase], ...] = (
    Goto, Click, Fill, Type, Press, Select, Check, Hover, Scroll,
    WaitFor, Sleep, Screenshot, Pdf, Extract, Evaluate, Assert,
)  # fmt: skip
ACTIONS: tuple[str, ...] = tuple(m.model_fields["action"].annotation.__args__[0] for m in STEP_MODELS)

Step = Annotated[Union[tuple(STEP_MODELS)], Field(discriminator="action")]  # noqa: UP007
