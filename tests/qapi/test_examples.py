"""The qmp-examples of the schema: extraction, and consistency with the schema itself.

(Replaying them against the daemon is another part's test; here every request must pass
argument validation and every reply and event must fit the schema.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hvballoond.qapi.doc import DocLine, parse_doc
from hvballoond.qapi.examples import Direction, Example, examples_of, iter_examples
from hvballoond.qapi.generated.specs import COMMANDS
from hvballoond.qapi.generated.types import QapiErrorClass
from hvballoond.qapi.runtime import check_event, check_return
from hvballoond.qapi.source import SourceInfo
from hvballoond.qapi.validation import validate_arguments
from hvballoond.wire.values import JSONObject

EXAMPLES = list(iter_examples())


def _doc(lines: list[str]) -> list[Example]:
    info = SourceInfo("t.json", 1)
    feed: Iterator[DocLine] = iter(
        DocLine(text, SourceInfo("t.json", n + 2), 1) for n, text in enumerate(lines)
    )
    return examples_of(parse_doc(info, lambda: next(feed, None)))


def test_plain_example() -> None:
    (example,) = _doc(
        [
            "@foo:",
            "",
            ".. qmp-example::",
            "",
            '    -> { "execute": "foo",',
            '         "arguments": { "a": 1 } }',
            '    <- { "return": {} }',
        ]
    )
    assert example.definition == "foo"
    assert example.title is None and not example.annotated
    assert [m.direction for m in example.messages] == [Direction.REQUEST, Direction.REPLY]
    assert example.messages[0].value == {"execute": "foo", "arguments": {"a": 1}}
    assert example.messages[0].info.line == 6
    assert example.negotiated


def test_annotated_example_with_title_and_elision() -> None:
    (example,) = _doc(
        [
            "@foo:",
            "",
            ".. qmp-example::",
            "   :title: Shortened",
            "   :annotated:",
            "",
            "   Prose first::",
            "",
            '    -> { "execute": "foo" }',
            '    <- { "return": [ 1,',
            "                     ... ] }",
            "",
            "   Prose after, not a message.",
            "",
            "Back in the body.",
        ]
    )
    assert example.title == "Shortened" and example.annotated
    reply = example.messages[1]
    assert reply.partial and reply.text == '{ "return": [ 1,\n... ] }'
    assert len(example.messages) == 2


def test_qmp_capabilities_example_is_replayed_unnegotiated() -> None:
    (example,) = [e for e in EXAMPLES if e.definition == "qmp_capabilities"]
    assert not example.negotiated
    assert all(e.negotiated for e in EXAMPLES if e.definition != "qmp_capabilities")


def test_every_command_has_an_example() -> None:
    with_examples = {e.definition for e in EXAMPLES if e.requests}
    assert set(COMMANDS) <= with_examples


def _pairs() -> Iterator[tuple[str, JSONObject, list[JSONObject]]]:
    """(command, request, the server messages that follow it) for every request."""
    for example in EXAMPLES:
        messages = list(example.messages)
        for i, message in enumerate(messages):
            if message.direction is not Direction.REQUEST:
                continue
            assert isinstance(message.value, dict), message.text
            after: list[JSONObject] = []
            for reply in messages[i + 1 :]:
                if reply.direction is Direction.REQUEST:
                    break
                if isinstance(reply.value, dict):
                    after.append(reply.value)
            command = message.value["execute"]
            assert isinstance(command, str)
            yield command, message.value, after


PAIRS = list(_pairs())


@pytest.mark.parametrize(("command", "request_", "after"), PAIRS)
def test_example_requests_pass_validation(
    command: str, request_: JSONObject, after: list[JSONObject]
) -> None:
    arguments = request_.get("arguments", {})
    assert isinstance(arguments, dict)
    validate_arguments(command, arguments)


@pytest.mark.parametrize(("command", "request_", "after"), PAIRS)
def test_example_replies_fit_the_schema(
    command: str, request_: JSONObject, after: list[JSONObject]
) -> None:
    for message in after:
        if "event" in message:
            name = message["event"]
            data = message.get("data")
            assert isinstance(name, str) and (data is None or isinstance(data, dict))
            check_event(name, data, check_order=False)
        elif "error" in message:
            error = message["error"]
            assert isinstance(error, dict)
            assert error["class"] in {c.value for c in QapiErrorClass}
        else:
            check_return(command, message["return"], check_order=False)


def test_standalone_event_examples_fit_the_schema() -> None:
    events = [
        m.value for e in EXAMPLES if not e.requests for m in e.messages if isinstance(m.value, dict)
    ]
    assert len(events) >= 6
    for event in events:
        name, data = event["event"], event.get("data")
        assert isinstance(name, str) and (data is None or isinstance(data, dict))
        check_event(name, data, check_order=False)
