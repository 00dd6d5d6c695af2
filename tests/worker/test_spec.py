"""The task spec: what validates, and the messages a user gets when a spec does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from worker.spec import ACTIONS, SpecError, TaskSpec, json_schema, parse_spec
from worker.spec.steps import STEP_MODELS

EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
START = "https://example.org/"

# The smallest valid step of every kind.
MINIMAL: dict[str, dict] = {
    "goto": {"action": "goto", "url": "https://example.org/next"},
    "click": {"action": "click", "selector": "#go"},
    "fill": {"action": "fill", "selector": "#name", "value": "Ada"},
    "type": {"action": "type", "selector": "#name", "text": "Ada"},
    "press": {"action": "press", "key": "Enter"},
    "select": {"action": "select", "selector": "#topic", "value": "support"},
    "check": {"action": "check", "selector": "#subscribe"},
    "hover": {"action": "hover", "selector": "h1"},
    "scroll": {"action": "scroll", "to": "bottom"},
    "wait_for": {"action": "wait_for", "selector": "h1"},
    "sleep": {"action": "sleep", "seconds": 0.5},
    "screenshot": {"action": "screenshot", "name": "shot"},
    "pdf": {"action": "pdf", "name": "page"},
    "extract": {"action": "extract", "name": "title", "selector": "h1"},
    "evaluate": {"action": "evaluate", "script": "1 + 1"},
    "assert": {"action": "assert", "url": "example.org"},
}
# The fields each kind cannot do without (besides "action").
REQUIRED: dict[str, tuple[str, ...]] = {
    "goto": ("url",),
    "click": ("selector",),
    "fill": ("selector", "value"),
    "type": ("selector", "text"),
    "press": ("key",),
    "select": ("selector",),
    "check": ("selector",),
    "hover": ("selector",),
    "sleep": ("seconds",),
    "screenshot": ("name",),
    "pdf": ("name",),
    "extract": ("name", "selector"),
    "evaluate": ("script",),
}
NAMED_KINDS = ("screenshot", "pdf", "extract", "evaluate")


def task(*steps: dict, **options) -> dict:
    return {"version": 1, "start_url": START, **options, "steps": list(steps)}


def errors_of(data) -> list[dict[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return caught.value.errors


def message_of(data) -> str:
    """What a user reads: ``loc: message`` for each problem."""
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return str(caught.value)


# --- what validates -------------------------------------------------------------------------


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"hello.json", "contact_form.json", "products.json"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates(path: Path):
    """The examples use relative URLs and no base_url: ``worker.run`` supplies one (the demo site)."""
    raw = json.loads(path.read_text())
    assert "base_url" not in raw and raw["start_url"].startswith("/")
    spec = parse_spec({**raw, "base_url": "http://127.0.0.1:8000/"})
    assert [s.action for s in spec.steps] == [s["action"] for s in raw["steps"]]
    assert spec.resolve(spec.start_url).startswith("http://127.0.0.1:8000/")


def test_the_examples_use_many_step_kinds():
    used = {s["action"] for p in EXAMPLES for s in json.loads(p.read_text())["steps"]}
    assert len(used) >= 12, sorted(set(ACTIONS) - used)


def test_minimal_steps_cover_every_action():
    assert set(MINIMAL) == set(ACTIONS)


@pytest.mark.parametrize("action", ACTIONS)
def test_every_step_kind_accepts_a_minimal_step(action: str):
    spec = parse_spec(task(MINIMAL[action]))
    (step,) = spec.steps
    assert step.action == action
    assert step.timeout_s is None and step.continue_on_error is False


def test_the_task_and_step_defaults():
    spec = parse_spec({"version": 1, "start_url": START})
    assert (spec.viewport.width, spec.viewport.height) == (1280, 720)
    assert spec.timeout_s == 120 and spec.live_view is True and spec.trace is False
    assert spec.steps == []


def test_the_design_docs_example_validates():
    spec = parse_spec({
        "version": 1, "name": "find the docs title", "start_url": "https://example.org/",
        "viewport": {"width": 1280, "height": 720}, "timeout_s": 120, "live_view": True, "trace": True,
        "steps": [
            {"action": "click", "selector": "text=Docs"},
            {"action": "wait_for", "selector": "h1", "state": "visible"},
            {"action": "extract", "name": "title", "selector": "h1"},
            {"action": "screenshot", "name": "docs", "full_page": True},
        ],
    })
    assert [s.action for s in spec.steps] == ["click", "wait_for", "extract", "screenshot"]


def test_json_text_and_bytes_are_accepted():
    text = json.dumps(task(MINIMAL["click"]))
    assert parse_spec(text) == parse_spec(text.encode()) == parse_spec(json.loads(text))


def test_actions_match_the_engines_registered_step_kinds():
    from worker.steps import registered_actions

    assert len(ACTIONS) == len(set(ACTIONS)) == 16
    assert set(ACTIONS) == set(registered_actions())


# --- unknown and missing things -------------------------------------------------------------


def test_an_unknown_action_is_named_with_a_suggestion():
    errors = errors_of(task(MINIMAL["click"], {"action": "clik", "selector": "a"}))
    assert len(errors) == 1
    assert errors[0]["loc"] == "steps[1] (clik)"
    assert "unknown action 'clik'" in errors[0]["message"]
    assert "did you mean 'click'?" in errors[0]["message"]
    assert "wait_for" in errors[0]["message"], "lists the valid actions"


def test_an_unknown_action_without_a_close_match_lists_the_valid_ones():
    message = message_of(task({"action": "teleport"}))
    assert message.startswith("steps[0] (teleport): unknown action 'teleport'; valid actions: goto, click")
    assert "did you mean" not in message


def test_a_step_without_an_action_is_named():
    assert errors_of(task(MINIMAL["click"], {"selector": "a"})) == [
        {"loc": "steps[1]", "message": "each step needs an 'action'"}
    ]


def test_an_unknown_field_on_a_step_names_step_action_field_and_suggestion():
    message = message_of(task({"action": "click", "selector": "a", "buton": "left"}))
    assert message == "steps[0] (click): unknown field 'buton' (did you mean 'button'?)"


def test_a_misspelt_required_field_reports_both_problems():
    errors = errors_of(task({"action": "click", "selektor": "a"}))
    assert {"loc": "steps[0] (click)", "message": "'selector' is required"} in errors
    assert {"loc": "steps[0] (click)",
            "message": "unknown field 'selektor' (did you mean 'selector'?)"} in errors


def test_an_unknown_top_level_field_is_named_with_a_suggestion():
    data = task(MINIMAL["click"])
    data["stpes"] = data.pop("steps")
    assert errors_of(data) == [{"loc": "stpes", "message": "unknown field 'stpes' (did you mean 'steps'?)"}]


def test_an_unknown_field_without_a_close_match_has_no_suggestion():
    assert errors_of(task(MINIMAL["hover"], colour="red"))[0]["message"] == "unknown field 'colour'"


def test_an_unknown_viewport_field_suggests_the_viewport_field():
    assert errors_of(task(MINIMAL["hover"], viewport={"widht": 800})) == [
        {"loc": "viewport.widht", "message": "unknown field 'viewport.widht' (did you mean 'width'?)"}
    ]


@pytest.mark.parametrize(
    ("action", "field"), [(a, f) for a, fields in REQUIRED.items() for f in fields], ids=lambda v: v
)
def test_a_missing_required_field_is_named(action: str, field: str):
    step = {k: v for k, v in MINIMAL[action].items() if k != field}
    assert errors_of(task(MINIMAL["hover"], step)) == [
        {"loc": f"steps[1] ({action})", "message": f"'{field}' is required"}
    ]


def test_required_fields_match_the_models():
    required = {
        m.model_fields["action"].annotation.__args__[0]:
            tuple(n for n, f in m.model_fields.items() if f.is_required() and n != "action")
        for m in STEP_MODELS
    }
    assert {a: r for a, r in required.items() if r} == REQUIRED


def test_a_missing_version_is_named():
    assert errors_of({"start_url": START}) == [{"loc": "version", "message": "'version' is required"}]


@pytest.mark.parametrize("version", [0, 2, "2", None])
def test_an_unsupported_version_is_refused(version):
    assert errors_of({"version": version, "start_url": START}) == [
        {"loc": "version", "message": "unsupported spec version; use 1"}
    ]


# --- wrong types and numbers out of range ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (task({"action": "click", "selector": 5}), "steps[0] (click): 'selector' must be a valid string"),
        (task({"action": "click", "selector": "a", "continue_on_error": "maybe"}),
         "steps[0] (click): 'continue_on_error' must be a valid boolean"),
        (task({"action": "sleep", "seconds": "soon"}), "steps[0] (sleep): 'seconds' must be a valid number"),
        (task({"action": "select", "selector": "a", "value": 3}), "steps[0] (select): 'value"),
        ({"version": 1, "start_url": START, "steps": "click"}, "steps: must be a valid list"),
        ({"version": 1, "start_url": START, "steps": ["click"]}, "steps[0]: must be a valid dictionary"),
        (task(MINIMAL["hover"], viewport={"width": "big"}), "viewport.width: must be a valid integer"),
        (task(MINIMAL["hover"], viewport=[1280, 720]), "viewport: "),
        (task(MINIMAL["hover"], name=5), "name: must be a valid string"),
        (task(MINIMAL["hover"], trace="yes please"), "trace: must be a valid boolean"),
        ({"version": 1, "start_url": 5}, "start_url: must be a valid string"),
    ],
    ids=["selector", "continue_on_error", "seconds", "select-value", "steps", "step", "viewport.width",
         "viewport", "name", "trace", "start_url"],
)
def test_wrong_types_are_named(data, expected):
    assert message_of(data).startswith(expected)


@pytest.mark.parametrize(
    "data",
    [
        {"version": True, "start_url": START},
        task({"action": "click", "selector": "a", "timeout_s": "10"}),
        task({"action": "extract", "name": "n", "selector": "a", "all": "yes"}),
    ],
    ids=["version-true", "timeout-string", "all-string"],
)
def test_json_values_of_the_wrong_type_are_not_coerced(data):
    errors_of(data)


@pytest.mark.parametrize("timeout", [0, -1, 3600.5, 86400])
def test_step_timeouts_out_of_range_are_refused(timeout):
    message = message_of(task(MINIMAL["hover"], {"action": "click", "selector": "a", "timeout_s": timeout}))
    bound = "greater than 0" if timeout <= 0 else "less than or equal to 3600"
    assert message == f"steps[1] (click): 'timeout_s' must be {bound}"


@pytest.mark.parametrize("timeout", [0, -5, 3601])
def test_task_timeouts_out_of_range_are_refused(timeout):
    assert errors_of(task(MINIMAL["hover"], timeout_s=timeout))[0]["loc"] == "timeout_s"


@pytest.mark.parametrize("timeout", [0.1, 1, 3600])
def test_timeouts_in_range_are_accepted(timeout):
    spec = parse_spec(task({"action": "click", "selector": "a", "timeout_s": timeout}, timeout_s=timeout))
    assert spec.timeout_s == spec.steps[0].timeout_s == timeout


@pytest.mark.parametrize(
    ("step", "field", "bound"),
    [
        ({"action": "sleep", "seconds": 0}, "seconds", "greater than 0"),
        ({"action": "sleep", "seconds": 601}, "seconds", "less than or equal to 600"),
        ({"action": "click", "selector": "a", "click_count": 4}, "click_count", "less than or equal to 3"),
        ({"action": "type", "selector": "a", "text": "x", "delay_ms": -1}, "delay_ms",
         "greater than or equal to 0"),
        ({"action": "scroll", "y": 10**6}, "y", "less than or equal to 100000"),
    ],
    ids=["sleep-0", "sleep-601", "click_count", "delay_ms", "scroll-y"],
)
def test_other_numbers_out_of_range_are_named(step, field, bound):
    assert message_of(task(step)) == f"steps[0] ({step['action']}): '{field}' must be {bound}"


def test_a_viewport_out_of_range_is_named():
    assert message_of(task(MINIMAL["hover"], viewport={"width": 100, "height": 720})) == (
        "viewport.width: must be greater than or equal to 200"
    )


# --- URLs -----------------------------------------------------------------------------------

BAD_SCHEMES = {
    "file": "file:///etc/passwd",
    "javascript": "javascript:alert(1)",
    "chrome": "chrome://settings",
    "data": "data:text/html,<h1>hi</h1>",
}


@pytest.mark.parametrize("scheme", BAD_SCHEMES)
def test_start_url_must_be_http(scheme):
    assert errors_of({"version": 1, "start_url": BAD_SCHEMES[scheme]}) == [
        {"loc": "start_url", "message": f"scheme '{scheme}:' is not allowed; use http:// or https://"}
    ]


@pytest.mark.parametrize("scheme", BAD_SCHEMES)
def test_goto_url_must_be_http(scheme):
    message = message_of(task(MINIMAL["hover"], {"action": "goto", "url": BAD_SCHEMES[scheme]}))
    assert message == f"steps[1] (goto): 'url': scheme '{scheme}:' is not allowed; use http:// or https://"


@pytest.mark.parametrize("scheme", BAD_SCHEMES)
def test_base_url_must_be_http(scheme):
    errors = errors_of({"version": 1, "base_url": BAD_SCHEMES[scheme], "start_url": "/"})
    assert {"loc": "base_url",
            "message": f"scheme '{scheme}:' is not allowed; use http:// or https://"} in errors


@pytest.mark.parametrize("url", ["JavaScript:alert(1)", "  javascript:alert(1)", "java\tscript:alert(1)",
                                 "FILE:///etc/passwd", "ftp://example.org/", "ws://example.org/"])
def test_disguised_and_other_schemes_are_refused(url):
    assert "is not allowed; use http:// or https://" in message_of({"version": 1, "start_url": url})


def test_an_empty_url_is_refused():
    assert message_of(task({"action": "goto", "url": "  "})) == "steps[0] (goto): 'url' must not be empty"


def test_a_url_without_a_host_names_the_field():
    message = message_of(task({"action": "goto", "url": "http://"}))
    assert message == "steps[0] (goto): 'url': 'http://' has no host"


def test_a_start_url_without_a_host_is_refused():
    assert errors_of({"version": 1, "start_url": "https:example.org"}) == [
        {"loc": "start_url", "message": "'https:example.org' has no host"}
    ]


def test_a_relative_start_url_needs_a_base_url():
    message = message_of({"version": 1, "start_url": "/form.html"})
    assert message == "'start_url' '/form.html' is relative: add 'base_url'"


def test_a_relative_goto_needs_a_base_url_and_names_the_step():
    message = message_of(task(MINIMAL["hover"], {"action": "goto", "url": "list.html"}))
    assert message == "steps[1] (goto): url 'list.html' is relative: add 'base_url'"


def test_a_relative_base_url_is_refused():
    assert errors_of({"version": 1, "base_url": "/shop/", "start_url": "/"}) == [
        {"loc": "base_url", "message": "must be an absolute http:// or https:// URL"}
    ]


def test_relative_urls_resolve_against_the_base_url():
    spec = parse_spec({"version": 1, "base_url": "https://shop.example/en/", "start_url": "/form.html",
                       "steps": [{"action": "goto", "url": "list.html"}]})
    assert spec.resolve(spec.start_url) == "https://shop.example/form.html"
    assert spec.resolve(spec.steps[0].url) == "https://shop.example/en/list.html"
    assert spec.resolve("https://other.example/x") == "https://other.example/x"


def test_resolve_without_a_base_url_returns_the_url():
    spec = parse_spec(task(MINIMAL["hover"]))
    assert spec.resolve("https://other.example/x") == "https://other.example/x"
    assert spec.resolve(START) == START


# --- options that exclude each other --------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"action": "select", "selector": "s"}, "give exactly one of 'value' or 'label'"),
        ({"action": "select", "selector": "s", "value": "a", "label": "A"},
         "give exactly one of 'value' or 'label'"),
        ({"action": "scroll"}, "give exactly one of 'selector', 'to', or 'x'/'y'"),
        ({"action": "scroll", "to": "top", "y": 100}, "give exactly one of 'selector', 'to', or 'x'/'y'"),
        ({"action": "scroll", "selector": "h1", "to": "bottom"},
         "give exactly one of 'selector', 'to', or 'x'/'y'"),
        ({"action": "wait_for"}, "give exactly one of 'selector', 'url' or 'load_state'"),
        ({"action": "wait_for", "selector": "h1", "url": "**/done"},
         "give exactly one of 'selector', 'url' or 'load_state'"),
        ({"action": "wait_for", "url": "**/done", "load_state": "load"},
         "give exactly one of 'selector', 'url' or 'load_state'"),
        ({"action": "assert", "selector": "h1"}, "give at least one of 'text', 'url', 'title' or 'visible'"),
        ({"action": "assert", "text": "hi"}, "'text' and 'visible' need a 'selector'"),
        ({"action": "assert", "visible": True}, "'text' and 'visible' need a 'selector'"),
        ({"action": "extract", "name": "n", "selector": "a", "attribute": "href", "html": True},
         "give 'attribute' or 'html', not both"),
    ],
    ids=["select-none", "select-both", "scroll-none", "scroll-to-and-y", "scroll-selector-and-to",
         "wait-none", "wait-selector-and-url", "wait-url-and-load", "assert-nothing", "assert-text-alone",
         "assert-visible-alone", "extract-attribute-and-html"],
)
def test_exclusive_options_are_explained(step, expected):
    assert message_of(task(MINIMAL["hover"], step)) == f"steps[1] ({step['action']}): {expected}"


@pytest.mark.parametrize(
    "step",
    [
        {"action": "select", "selector": "s", "label": ["A", "B"]},
        {"action": "scroll", "selector": "#bottom"},
        {"action": "scroll", "x": 10, "y": -20},
        {"action": "wait_for", "url": "**/done"},
        {"action": "wait_for", "load_state": "networkidle"},
        {"action": "assert", "title": "Shop"},
        {"action": "assert", "selector": "h1", "text": "Shop", "visible": True, "exact": True},
        {"action": "extract", "name": "n", "selector": "a", "attribute": "href", "all": True},
        {"action": "extract", "name": "n", "selector": "a", "html": True},
    ],
    ids=lambda s: "-".join(k for k in s if k != "action") + f"-{s['action']}",
)
def test_each_single_option_is_accepted(step):
    assert parse_spec(task(step)).steps[0].action == step["action"]


# --- artifact names, sizes ------------------------------------------------------------------

NAME_RULE = "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"


@pytest.mark.parametrize("kind", NAMED_KINDS)
@pytest.mark.parametrize(
    "name", ["../x", "..", "a/b", "a\\b", "", ".hidden", "a b", "x" * 65],
    ids=["traversal", "dotdot", "slash", "backslash", "empty", "dotfile", "space", "long"],
)
def test_bad_artifact_names_are_refused(kind, name):
    step = {**MINIMAL[kind], "name": name}
    assert message_of(task(step)) == f"steps[0] ({kind}): 'name': {NAME_RULE}"


@pytest.mark.parametrize("name", ["a", "x" * 64, "shot-1.v2_final", "0"])
def test_good_artifact_names_are_accepted(name):
    assert parse_spec(task({"action": "screenshot", "name": name})).steps[0].name == name


def test_at_most_500_steps():
    assert len(parse_spec(task(*[MINIMAL["hover"]] * 500)).steps) == 500
    errors = errors_of(task(*[MINIMAL["hover"]] * 501))
    assert len(errors) == 1 and errors[0]["loc"] == "steps"
    assert "at most 500" in errors[0]["message"]


# --- the document as a whole ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["{not json", "", '{"version": 1,}', b"\xff\xfe"], ids=repr)
def test_invalid_json_text_is_refused(text):
    errors = errors_of(text)
    assert len(errors) == 1 and errors[0]["loc"] == ""
    assert errors[0]["message"].startswith("not valid JSON: ")


@pytest.mark.parametrize("data", ["[]", "[1, 2]", '"task"', "42", "null", [], None], ids=repr)
def test_a_spec_must_be_an_object(data):
    assert errors_of(data) == [{"loc": "", "message": "a task spec must be a JSON object"}]


def test_an_empty_task_is_refused():
    assert message_of({"version": 1}) == "a task needs a 'start_url' or at least one step"
    assert message_of({"version": 1, "steps": []}) == "a task needs a 'start_url' or at least one step"


def test_a_task_of_steps_only_is_fine():
    assert parse_spec({"version": 1, "steps": [MINIMAL["goto"]]}).start_url is None


def test_several_errors_are_reported_at_once():
    data = task(
        {"action": "clik", "selector": "a"},
        {"action": "fill", "selector": "#name"},
        {"action": "click", "selector": "a", "timeout_s": 0},
        timeout_s=-1,
        colour="red",
    )
    errors = errors_of(data)
    assert {e["loc"] for e in errors} == {
        "steps[0] (clik)", "steps[1] (fill)", "steps[2] (click)", "timeout_s", "colour"
    }
    text = message_of(data)
    assert "steps[1] (fill): 'value' is required" in text
    assert "steps[2] (click): 'timeout_s' must be greater than 0" in text
    assert text.count("; ") >= 4, "one message per problem, joined"


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)


# --- the JSON Schema ------------------------------------------------------------------------

JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def _walk(node, path="#"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def test_the_json_schema_is_well_formed():
    schema = json_schema()
    assert json.loads(json.dumps(schema, allow_nan=False)) == schema, "plain JSON, no NaN or infinity"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["version"] and schema["properties"]["version"]["const"] == 1
    defs = schema["$defs"]
    for path, node in _walk(schema):
        if "$ref" in node:
            assert node["$ref"].startswith("#/$defs/") and node["$ref"][8:] in defs, path
        if "type" in node and not path.endswith(("/properties", "/mapping")):
            assert node["type"] in JSON_TYPES, path
        if isinstance(node.get("required"), list):
            assert set(node["required"]) <= set(node["properties"]), path


def test_the_json_schema_lists_all_16_actions():
    schema = json_schema()
    items = schema["properties"]["steps"]["items"]
    assert schema["properties"]["steps"]["maxItems"] == 500
    assert set(items["discriminator"]["mapping"]) == set(ACTIONS)
    refs = [ref["$ref"].removeprefix("#/$defs/") for ref in items["oneOf"]]
    consts = [schema["$defs"][name]["properties"]["action"]["const"] for name in refs]
    assert consts == list(ACTIONS)
    for name in refs:
        step = schema["$defs"][name]
        assert step["additionalProperties"] is False, name
        assert "action" in step["required"], name
        assert step["properties"]["timeout_s"]["anyOf"][0] == {
            "exclusiveMinimum": 0, "maximum": 3600.0, "type": "number"}, name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_fit_the_schema(path: Path):
    """Each example's fields are ones the schema declares, with every required one present."""
    schema = json_schema()
    raw = json.loads(path.read_text())
    assert set(raw) <= set(schema["properties"])
    mapping = schema["properties"]["steps"]["items"]["discriminator"]["mapping"]
    for i, step in enumerate(raw["steps"]):
        model = schema["$defs"][mapping[step["action"]].removeprefix("#/$defs/")]
        assert set(step) <= set(model["properties"]), (i, step)
        assert set(model["required"]) <= set(step), (i, step)


def test_the_schema_matches_the_models():
    assert json_schema() == {**TaskSpec.model_json_schema(), "$schema": json_schema()["$schema"]}


# --- python -m worker.spec ------------------------------------------------------------------


def test_cli_prints_the_schema():
    done = run_cli("worker.spec", "--schema", timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json_schema()


def test_cli_says_ok_for_a_good_file(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(task(MINIMAL["click"])))
    done = run_cli("worker.spec", str(good), timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{good}: ok\n", "")


def test_cli_says_ok_for_the_examples():
    done = run_cli("worker.spec", *(str(p.relative_to(ROOT)) for p in EXAMPLES), timeout=30)
    assert done.stderr == ""
    assert done.stdout == "".join(f"examples/{p.name}: ok\n" for p in EXAMPLES)
    assert done.returncode == 0


def test_cli_names_the_problem_in_a_bad_file(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(task(MINIMAL["click"])))
    bad.write_text(json.dumps(task({"action": "click", "selektor": "#go"})))
    done = run_cli("worker.spec", str(good), str(bad), timeout=30)
    assert done.returncode == 1
    assert done.stdout == f"{good}: ok\n"
    assert f"{bad}: " in done.stderr
    assert "steps[0] (click): 'selector' is required" in done.stderr
    assert "steps[0] (click): unknown field 'selektor' (did you mean 'selector'?)" in done.stderr


def test_cli_reports_invalid_json_and_missing_files(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    done = run_cli("worker.spec", str(broken), str(tmp_path / "missing.json"), timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    assert f"{broken}: not valid JSON" in done.stderr
    assert "missing.json: [Errno 2] No such file or directory" in done.stderr


def test_cli_without_arguments_explains_usage():
    done = run_cli("worker.spec", timeout=30)
    assert done.returncode == 2
    assert "give --schema or at least one spec file" in done.stderr
