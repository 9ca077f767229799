"""QmpSession: bytes in, exact bytes out, for the examples of spec §2-§5 and §9."""

from __future__ import annotations

import pytest

from hvballoond.qmp.errors import ErrorClass, QmpError
from hvballoond.qmp.session import (
    IN_BAND_QUEUE_MAX,
    QmpSession,
    Request,
    SessionState,
)
from hvballoond.wire.values import JSONObject
from tests.qmp.support import (
    GREETING,
    GREETING_LINE,
    STATUS,
    Catalog,
    Client,
    execute,
    lines,
    pump,
)

NEGOTIATE = "Expecting capabilities negotiation with 'qmp_capabilities'"


def generic(desc: str, request_id: str | None = None) -> str:
    prefix = "" if request_id is None else f'"id": {request_id}, '
    return f'{{{prefix}"error": {{"class": "GenericError", "desc": "{desc}"}}}}'


def not_found(desc: str, request_id: str | None = None) -> str:
    prefix = "" if request_id is None else f'"id": {request_id}, '
    return f'{{{prefix}"error": {{"class": "CommandNotFound", "desc": "{desc}"}}}}'


def status(request_id: str) -> str:
    return f'{{"return": {STATUS}, "id": {request_id}}}'


# ------------------------------------------------------------ §2, §3


def test_greeting_is_sent_at_once() -> None:
    client = Client()
    assert client.greeting == [GREETING_LINE]
    assert client.session.state is SessionState.NEGOTIATING


def test_commands_during_negotiation() -> None:
    client = Client()
    assert client.send(b'{"execute":"query-status"}') == [not_found(NEGOTIATE)]
    assert client.send(b'{"execute": "nonexist", "id": 3}') == [not_found(NEGOTIATE, "3")]
    # exec-oob is not a command member before OOB is enabled; not a replaced text.
    assert client.send(b'{"exec-oob":"query-status","id":1}') == [
        generic("QMP input member 'exec-oob' is unexpected", "1")
    ]
    # Request-shape errors are reported normally.
    assert client.send(b'{"execute": 1, "id": 2}') == [
        generic("QMP input member 'execute' must be a string", "2")
    ]


def test_capabilities_negotiation() -> None:
    client = Client()
    assert client.send(b'{"execute":"qmp_capabilities", "id": {"a":[1,2]}}') == [
        '{"return": {}, "id": {"a": [1, 2]}}'
    ]
    assert client.session.state is SessionState.COMMAND_MODE
    assert not client.session.oob_enabled
    assert client.send(b'{"execute":"qmp_capabilities", "id": 7}') == [
        not_found("Capabilities negotiation is already complete, command ignored", "7")
    ]
    assert client.send(b'{"execute":"query-status","id":1}') == [status("1")]


def test_capabilities_enable_oob_with_duplicates() -> None:
    client = Client()
    data = b'{"execute":"qmp_capabilities","arguments":{"enable":["oob","oob"]},"id":1}'
    assert client.send(data) == ['{"return": {}, "id": 1}']
    assert client.session.oob_enabled


def test_capability_not_offered() -> None:
    session = QmpSession(catalog=Catalog(), greeting={"QMP": {"version": {}, "capabilities": []}})
    with pytest.raises(QmpError) as raised:
        session.enable_capabilities(["oob", "oob"])
    assert raised.value.desc == "Capability oob, oob not available"
    assert raised.value.error_class is ErrorClass.GENERIC_ERROR
    before: SessionState = session.state
    session.enable_capabilities([])
    after: SessionState = session.state
    assert (before, after) == (SessionState.NEGOTIATING, SessionState.COMMAND_MODE)


def test_command_not_found_from_a_handler_is_replaced_while_negotiating() -> None:
    session = QmpSession(catalog=Catalog(), greeting=GREETING)
    session.data_to_send()
    session.receive_data(b'{"execute":"qmp_capabilities","id":1}')
    request = session.next_request()
    assert request is not None
    session.send_error(request, QmpError("gone", ErrorClass.COMMAND_NOT_FOUND))
    assert lines(session.data_to_send()) == [not_found(NEGOTIATE, "1")]


# ------------------------------------------------------------------ §4

ENVELOPE_ERRORS = [
    (
        b'{"id": 9, "foo": 1, "bar": 2, "execute": "x"}',
        generic("QMP input member 'bar' is unexpected", "9"),
    ),
    (b"[1,2]", generic("QMP input must be a JSON object")),
    (b"{}", generic("QMP input lacks member 'execute'")),
    (b'{"id": 1}', generic("QMP input lacks member 'execute'", "1")),
    (b'{"execute": 1, "id": 2}', generic("QMP input member 'execute' must be a string", "2")),
    (
        b'{"execute": "qmp_capabilities", "arguments": null, "id": 7}',
        generic("QMP input member 'arguments' must be an object", "7"),
    ),
    (
        b'{"execute": "qmp_capabilities", "arguments": [], "id": 7}',
        generic("QMP input member 'arguments' must be an object", "7"),
    ),
    (
        b'{"execute": "qmp_capabilities", "control": {}, "id": 8}',
        generic("QMP input member 'control' is unexpected", "8"),
    ),
    (
        b'{"execute": "nonexist", "id": 3}',
        not_found("The command nonexist has not been found", "3"),
    ),
    (
        b'{"execute": "query-status", "exec-oob": "query-status", "id": 10}',
        generic("QMP input member 'exec-oob' is unexpected", "10"),
    ),
    (b'{"execute":"x\\u0000y"}', not_found("The command x\\u0000y has not been found")),
    (b'{"execute":"\\u00e9"}', not_found("The command \\u00E9 has not been found")),
    (b'{"arguments": 1, "execute": 2}', generic("QMP input member 'execute' must be a string")),
]


@pytest.mark.parametrize(
    ("data", "reply"), ENVELOPE_ERRORS, ids=[d.decode() for d, _ in ENVELOPE_ERRORS]
)
def test_envelope_errors(data: bytes, reply: str) -> None:
    assert Client(negotiate=True).send(data) == [reply]


OOB_ENVELOPE_ERRORS = [
    (
        b'{"exec-oob":"query-status","execute":"query-status","id":"o7"}',
        generic("QMP input member 'execute' clashes with 'exec-oob'", '"o7"'),
    ),
    (b'{"exec-oob":5,"id":"o8"}', generic("QMP input member 'exec-oob' must be a string", '"o8"')),
    (
        b'{"exec-oob":"query-status","id":"o5"}',
        generic("The command query-status does not support OOB", '"o5"'),
    ),
    (
        b'{"exec-oob":"nonexist","id":"o6"}',
        not_found("The command nonexist has not been found", '"o6"'),
    ),
    (
        b'{"exec-oob":"qmp_capabilities"}',
        generic("The command qmp_capabilities does not support OOB"),
    ),
    (b'{"exec-oob":"x","execute":5}', generic("QMP input member 'execute' must be a string")),
    (b'{"exec-oob":5,"execute":"x"}', generic("QMP input member 'exec-oob' must be a string")),
]


@pytest.mark.parametrize(
    ("data", "reply"), OOB_ENVELOPE_ERRORS, ids=[d.decode() for d, _ in OOB_ENVELOPE_ERRORS]
)
def test_oob_envelope_errors(data: bytes, reply: str) -> None:
    assert Client(oob=True).send(data) == [reply]


def test_oob_command() -> None:
    client = Client(oob=True)
    assert client.send(b'{"exec-oob":"query-yank","id":"o1"}') == [
        '{"return": [{"type": "chardev", "id": "compat_monitor0"}, '
        '{"type": "chardev", "id": "compat_monitor1"}], "id": "o1"}'
    ]


def test_top_level_scalar_reply_waits_for_next_byte() -> None:
    client = Client(negotiate=True)
    assert client.send(b"42") == []
    assert client.send(b"null") == [generic("QMP input must be a JSON object")]
    assert client.send(b"{}") == [
        generic("QMP input must be a JSON object"),
        generic("QMP input lacks member 'execute'"),
    ]


ID_ECHO = [
    (b"1.5", "1.5"),
    (b"true", "true"),
    (b"null", "null"),
    (b'[1,{"x":null}]', '[1, {"x": null}]'),
    (b"1.0", "1"),
    (b"1e2", "100"),
    (b"1E+2", "100"),
    (b"0.1", "0.10000000000000001"),
    (b"18446744073709551615", "18446744073709551615"),
    (b"18446744073709551616", "1.8446744073709552e+19"),
    (b"-9223372036854775809", "-9.2233720368547758e+18"),
    (b"1e400", "inf"),
    (b"-1e400", "-inf"),
    ('"é\\u00e9"'.encode(), '"\\u00E9\\u00E9"'),
    (b"'it\\'s \"q\"'", '"it\'s \\"q\\""'),
    (b'{"c":3,"b":1,"a":2}', '{"a": 2, "b": 1, "c": 3}'),
    (b'{"aa":1,"aq":2}', '{"aq": 2, "aa": 1}'),
    (b'"\\ud83d\\ude00\\u007f\\u0080/"', '"\\uD83D\\uDE00\\u007F\\u0080/"'),
    (b'{"\\u0000":1,"a":2, "\xc3\xa9":3}', '{"\\u00E9": 3, "\\u0000": 1, "a": 2}'),
]


@pytest.mark.parametrize(("sent", "echoed"), ID_ECHO, ids=[s.decode("latin-1") for s, _ in ID_ECHO])
def test_id_is_echoed_by_value(sent: bytes, echoed: str) -> None:
    client = Client(negotiate=True)
    assert client.send(b'{"execute":"query-status","id":' + sent + b"}") == [status(echoed)]
    assert client.send(b'{"execute":"nope","id":' + sent + b"}") == [
        not_found("The command nope has not been found", echoed)
    ]


def test_key_order_of_replies() -> None:
    client = Client(negotiate=True)
    assert client.send(b'{"execute":"query-kvm","id":{"c":3,"b":1,"a":2}}') == [
        '{"return": {"enabled": false, "present": true}, "id": {"a": 2, "b": 1, "c": 3}}'
    ]
    assert client.send(b'{"execute":"query-kvm","id":{"aa":1,"aq":2}}') == [
        '{"return": {"enabled": false, "present": true}, "id": {"aq": 2, "aa": 1}}'
    ]


def test_request_fields() -> None:
    session = QmpSession(catalog=Catalog(), greeting=GREETING)
    session.receive_data(b'{"execute":"qmp_capabilities","id":null}{"execute":"cont"}')
    first = session.next_request()
    assert first == Request("qmp_capabilities", {}, None, True, False)
    assert first is not None
    execute(session, first)
    second = session.next_request()
    assert second == Request("cont", {}, None, False, False)
    assert second is not None
    execute(session, second)
    assert lines(session.data_to_send())[1:] == ['{"return": {}, "id": null}', '{"return": {}}']


# ------------------------------------------------------------------ §5


def test_stream_of_messages() -> None:
    client = Client(negotiate=True)
    assert client.send(
        b'{"execute":"query-status","id":1}{"execute":"query-status","id":2} '
        b'{"execute":"query-status","id":3}\n'
    ) == [status("1"), status("2"), status("3")]
    assert client.send(b'{"execute":\n"query-status",\r\n\t"id"\n:\n4\n}') == [status("4")]


def test_swallowing_and_resync() -> None:
    client = Client(negotiate=True)
    assert client.send(b'{"execute":"query-status","id":[1,2}') == []
    assert client.send(b'{"execute":"query-status","id":10}') == []
    assert client.send(b"\x01") == [generic("JSON parse error, stray '\\u0001'")]
    assert client.send(b'{"execute":"query-status","id":11}') == [status("11")]


def test_cascade() -> None:
    client = Client(negotiate=True)
    assert client.send(b'{"execute": @ "query-status", "id": 2}') == [
        generic("JSON parse error, stray '@'"),
        generic("JSON parse error, expecting value"),
        generic("QMP input must be a JSON object"),
        generic("JSON parse error, expecting value"),
        generic("QMP input must be a JSON object"),
        generic("JSON parse error, expecting value"),
    ]


PARSE_ERRORS = [
    (b'{"execute" "query-status"}', "JSON parse error, missing : in object pair"),
    (b'"\\ud800"', "JSON parse error, \\\\ud800 is not a valid Unicode character"),
    (b'"\\u12"', 'JSON parse error, \\\\u12\\" is not a valid Unicode character'),
    (b'"a\tb"', "JSON parse error, stray '\\\"a\\t'"),
    (b'"unterminated\n', "JSON parse error, stray '\\\"unterminated\\n'"),
    (b"\xff", "JSON parse error, stray '\\uFFFD'"),
    (b"\xc3\xa9", "JSON parse error, stray '\\uFFFD'"),
    (b'"\xc3\xa9\t', "JSON parse error, stray '\\\"\\u00E9\\t'"),
    (b'"ab\x00', "JSON parse error, stray '\\\"ab'"),
]


@pytest.mark.parametrize(("data", "desc"), PARSE_ERRORS, ids=[repr(d) for d, _ in PARSE_ERRORS])
def test_parse_error_replies(data: bytes, desc: str) -> None:
    assert Client(negotiate=True).send(data) == [generic(desc)]


def test_nesting_limits() -> None:
    client = Client(negotiate=True)
    assert client.send(b"[" * 1024 + b"]" * 1024) == [generic("QMP input must be a JSON object")]
    assert (
        client.send(b"[" * 1025 + b"]" * 1025)
        == [generic("JSON nesting depth limit exceeded")]
        + [generic("JSON parse error, expecting value")] * 1025
    )


def test_token_count_limit_replies() -> None:
    client = Client(negotiate=True)
    assert client.send(b"[" + b"1," * 1048576 + b"1]") == [
        generic("JSON token count limit exceeded"),
        generic("QMP input must be a JSON object"),
        generic("JSON parse error, expecting value"),
    ]


def test_deeply_nested_id_is_echoed() -> None:
    client = Client(negotiate=True)
    depth = 1023  # plus the request object: 1024 levels
    reply = client.send(b'{"execute":"query-status","id":' + b"[" * depth + b"]" * depth + b"}")
    assert reply == [status("[" * depth + "]" * depth)]


def test_output_does_not_depend_on_chunking() -> None:
    script = (
        b'{"execute":"query-status","id":1}42 {"execute":"nonexist"}{"a":[1}]'
        b'\x01[1 2]"\\ud800"{"execute":"query-kvm","id":{"b":[1.0,"\xc3\xa9"],"a":null}}'
        b"{'execute':'query-status','id':'it\\'s'}{\"execute\": @ 1}\n0e5 "
    )
    whole = Client(negotiate=True).send(script)
    assert len(whole) == 14
    client = Client(negotiate=True)
    bytewise = [line for i in range(len(script)) for line in client.send(script[i : i + 1])]
    assert bytewise == whole


# ------------------------------------------------------- ordering, §9


def start(*, oob: bool) -> QmpSession:
    client = Client(oob=oob, negotiate=True)
    return client.session


def test_without_oob_reading_pauses_until_the_reply() -> None:
    session = start(oob=False)
    session.receive_data(b'{"execute":"cont","id":1}@{"execute":"cont","id":2}')
    first = session.next_request()
    assert first is not None
    assert first.id == 1
    assert session.input_paused
    assert session.next_request() is None
    session.send_reply(first, {})
    assert not session.input_paused
    second = session.next_request()
    assert second is not None
    assert second.id == 2
    assert lines(session.data_to_send()) == [
        '{"return": {}, "id": 1}',
        generic("JSON parse error, stray '@'"),
    ]


def test_with_oob_eight_requests_wait_behind_the_running_one() -> None:
    session = start(oob=True)
    session.receive_data(b"".join(b'{"execute":"cont","id":%d}' % i for i in range(12)))
    requests = []
    while (request := session.next_request()) is not None:
        requests.append(request)
    assert [r.id for r in requests] == list(range(IN_BAND_QUEUE_MAX + 1))
    assert session.input_paused
    session.send_reply(requests[0], {})
    more = session.next_request()
    assert more is not None
    assert more.id == IN_BAND_QUEUE_MAX + 1
    assert session.next_request() is None


def test_errors_wait_for_earlier_inband_replies_but_events_do_not() -> None:
    session = start(oob=True)
    session.receive_data(b'{"execute":"cont","id":"slow"}[1}{"execute":"nonexist"}')
    slow = session.next_request()
    assert slow is not None
    assert session.next_request() is None
    assert session.inband_pending == 3
    assert session.data_to_send() == b""
    session.send_event({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"})
    assert lines(session.data_to_send()) == [
        '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}'
    ]
    session.send_reply(slow, {})
    assert lines(session.data_to_send()) == [
        '{"return": {}, "id": "slow"}',
        generic("JSON parse error, expected separator in list"),
        not_found("The command nonexist has not been found"),
    ]
    assert session.inband_pending == 0


def test_oob_replies_overtake_inband_work() -> None:
    session = start(oob=True)
    session.receive_data(
        b'{"execute":"cont","id":0}{"execute":"cont","id":1}'
        b'{"exec-oob":"query-yank","id":"oob"}{"exec-oob":"nonexist","id":"bad"}'
        b'{"execute":"nonexist","id":2}'
    )
    first = session.next_request()
    second = session.next_request()
    oob = session.next_request()
    assert first is not None and second is not None and oob is not None
    assert oob.oob
    assert session.next_request() is None
    session.send_reply(oob, [])
    assert lines(session.data_to_send()) == [
        not_found("The command nonexist has not been found", '"bad"'),
        '{"return": [], "id": "oob"}',
    ]
    session.send_reply(second, {})  # answered out of order: held until the first
    assert session.data_to_send() == b""
    session.send_reply(first, {})
    assert lines(session.data_to_send()) == [
        '{"return": {}, "id": 0}',
        '{"return": {}, "id": 1}',
        not_found("The command nonexist has not been found", "2"),
    ]


def test_error_without_request_keeps_its_place() -> None:
    session = start(oob=True)
    session.receive_data(b'{"execute":"cont","id":1}')
    request = session.next_request()
    assert request is not None
    session.send_error(None, QmpError("out of band trouble"))
    assert session.data_to_send() == b""
    session.send_reply(request, {})
    assert lines(session.data_to_send()) == [
        '{"return": {}, "id": 1}',
        generic("out of band trouble"),
    ]


def test_reply_to_unknown_request_is_a_bug() -> None:
    session = start(oob=False)
    with pytest.raises(ValueError, match="no pending"):
        session.send_reply(Request("cont", {}, None, False, False), {})


def test_error_reply_keeps_id() -> None:
    session = start(oob=False)
    session.receive_data(b'{"execute":"cont","id":{"k":[1]}}')
    request = session.next_request()
    assert request is not None
    session.send_error(request, QmpError("Device 'x' not found", ErrorClass.DEVICE_NOT_FOUND))
    assert lines(session.data_to_send()) == [
        '{"id": {"k": [1]}, "error": {"class": "DeviceNotFound", "desc": "Device \'x\' not found"}}'
    ]


def test_events_only_in_command_mode() -> None:
    event: JSONObject = {
        "timestamp": {"seconds": 1795688540, "microseconds": 246307},
        "event": "RESET",
        "data": {"guest": False, "reason": "host-qmp-system-reset"},
    }
    session = QmpSession(catalog=Catalog(), greeting=GREETING)
    session.data_to_send()
    session.send_event(event)
    assert session.data_to_send() == b""
    session.enable_capabilities([])
    session.send_event(event)
    assert lines(session.data_to_send()) == [
        '{"timestamp": {"seconds": 1795688540, "microseconds": 246307}, "event": "RESET", '
        '"data": {"guest": false, "reason": "host-qmp-system-reset"}}'
    ]
    session.receive_eof()
    session.send_event(event)
    assert session.data_to_send() == b""


def test_disconnect_drops_input_and_pending_work() -> None:
    session = start(oob=True)
    session.receive_data(b'{"execute":"cont","id":1}{"execute":"cont","id":2}{"execute":"co')
    first = session.next_request()
    second = session.next_request()
    assert first is not None and second is not None
    session.send_reply(first, {})
    session.receive_eof()
    assert session.state is SessionState.CLOSED
    assert session.next_request() is None
    session.send_reply(second, {})  # lost (§9.4)
    session.receive_data(b'{"execute":"cont","id":3}')
    assert session.next_request() is None
    assert lines(session.data_to_send()) == ['{"return": {}, "id": 1}']


def test_pretty_output() -> None:
    # [observed] on a monitor with pretty=on.
    session = QmpSession(catalog=Catalog(), greeting=GREETING, pretty=True)
    assert session.data_to_send() == (
        b'{\r\n    "QMP": {\r\n        "version": {\r\n            "qemu": {\r\n'
        b'                "micro": 2,\r\n                "minor": 0,\r\n'
        b'                "major": 10\r\n            },\r\n'
        b'            "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"\r\n        },\r\n'
        b'        "capabilities": [\r\n            "oob"\r\n        ]\r\n    }\r\n}\r\n'
    )
    session.receive_data(b'{"execute":"qmp_capabilities","id":1}')
    pump(session)
    assert session.data_to_send() == b'{\r\n    "return": {\r\n    },\r\n    "id": 1\r\n}\r\n'
    session.receive_data(b'{"execute":"query-status","id":[1,{"a":[]},[[]],{}]}')
    pump(session)
    assert session.data_to_send() == (
        b'{\r\n    "return": {\r\n        "status": "prelaunch",\r\n'
        b'        "running": false\r\n    },\r\n    "id": [\r\n        1,\r\n'
        b'        {\r\n            "a": [\r\n            ]\r\n        },\r\n'
        b"        [\r\n            [\r\n            ]\r\n        ],\r\n"
        b"        {\r\n        }\r\n    ]\r\n}\r\n"
    )
    session.receive_data(b'"x"{"execute":"nonexist"}')
    pump(session)
    assert session.data_to_send() == (
        b'{\r\n    "error": {\r\n        "class": "GenericError",\r\n'
        b'        "desc": "QMP input must be a JSON object"\r\n    }\r\n}\r\n'
        b'{\r\n    "error": {\r\n        "class": "CommandNotFound",\r\n'
        b'        "desc": "The command nonexist has not been found"\r\n    }\r\n}\r\n'
    )
