"""`ilpnet decode` on the shared spec vectors: every kind it recognises, JSON and readable
output, hex and base64 input, STREAM with a secret, and one-line errors for bad input."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ilpnet.cli.main import cli
from tests.spec_vectors import MISSING, Vector, load_vectors, spec_dir

PREPARE_KEYS = ("amount", "expiresAt", "executionCondition", "destination", "data")
FULFILL_KEYS = ("fulfillment", "data")
REJECT_KEYS = ("code", "triggeredBy", "message", "data")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["decode", *args], catch_exceptions=False)


def decode_json(hex_text: str, *extra: str) -> dict[str, Any]:
    result = run(hex_text, "--json", *extra)
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def assert_one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def first_vector(name: str, wanted: Callable[[Vector], bool]) -> Vector:
    """The first vector of a file that `wanted` accepts (skip when ../shared is absent)."""
    path = spec_dir() / "vectors" / name
    if not path.exists():
        pytest.skip(MISSING.format(path=path))
    vectors: list[Vector] = json.loads(path.read_text())
    return next(v for v in vectors if wanted(v))


def subset(fields: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: fields[k] for k in keys}


# ---- ILP packets -------------------------------------------------------------------------


@pytest.mark.parametrize("v", load_vectors("ilp_prepare.json"))
def test_prepare_vectors(v: Vector) -> None:
    if v.get("expect_error"):
        assert_one_line_error(run(v["hex"]), "cannot decode", "offset", "tried")
        return
    out = decode_json(v["hex"])
    peer_config = v["fields"]["destination"] == "peer.config"
    assert out["kind"] == ("ildcp_request" if peer_config else "ilp_prepare")
    assert subset(out, PREPARE_KEYS) == subset(v["fields"], PREPARE_KEYS)
    assert out["type"] == 12


@pytest.mark.parametrize("v", load_vectors("ilp_fulfill.json"))
def test_fulfill_vectors(v: Vector) -> None:
    if v.get("expect_error"):
        assert_one_line_error(run(v["hex"]), "cannot decode", "offset")
        return
    out = decode_json(v["hex"])
    assert out["kind"] in ("ilp_fulfill", "ildcp_response")
    assert subset(out, FULFILL_KEYS) == subset(v["fields"], FULFILL_KEYS)


@pytest.mark.parametrize("v", load_vectors("ilp_reject.json"))
def test_reject_vectors(v: Vector) -> None:
    if v.get("expect_error"):
        assert_one_line_error(run(v["hex"]), "cannot decode", "offset")
        return
    out = decode_json(v["hex"])
    assert out["kind"] == "ilp_reject"
    assert subset(out, REJECT_KEYS) == subset(v["fields"], REJECT_KEYS)
    assert out["errorClass"] == {"F": "final", "T": "temporary", "R": "relative"}[out["code"][0]]


def test_f08_reject_data_is_decoded() -> None:
    # F08 with received 255 and maximum 65535 (spec 02 §8.1)
    from ilpnet.wire.packet import Reject

    data = bytes.fromhex("00000000000000ff000000000000ffff")
    raw = Reject("F08", "test.connector", "too much", data).encode()
    out = decode_json(raw.hex())
    assert out["codeName"] == "Amount Too Large"
    assert out["amountTooLarge"] == {"receivedAmount": "255", "maximumAmount": "65535"}


# ---- BTP, ILDCP, CCP ---------------------------------------------------------------------


@pytest.mark.parametrize("v", load_vectors("btp.json"))
def test_btp_vectors(v: Vector) -> None:
    if v.get("expect_error"):
        assert_one_line_error(run(v["hex"]), "cannot decode", "offset")
        return
    out = decode_json(v["hex"])
    assert out["kind"] == "btp"
    assert out["title"] == f"BTP {v['fields']['typeName']}"
    for key, want in v["fields"].items():
        if key == "protocolData":
            got = [subset(e, ("protocolName", "contentType", "data")) for e in out[key]]
            assert got == want
        else:
            assert out[key] == want, key


def test_btp_message_shows_the_ilp_packet_inside() -> None:
    v = first_vector("btp.json", lambda v: "ILP Prepare" in v["description"])
    out = decode_json(v["hex"])
    ilp_entries = [e for e in out["protocolData"] if e["protocolName"] == "ilp"]
    assert ilp_entries[0]["ilpPacket"]["kind"] == "ilp_prepare"
    assert ilp_entries[0]["ilpPacket"]["type"] == 12


@pytest.mark.parametrize("v", load_vectors("ildcp.json"))
def test_ildcp_vectors(v: Vector) -> None:
    out = decode_json(v["hex"])
    fields = v["fields"]
    if fields["msg_type"] == "request":
        assert out["kind"] == "ildcp_request"
        assert subset(out, PREPARE_KEYS) == subset(fields, PREPARE_KEYS)
    elif fields["msg_type"] == "response":
        assert out["kind"] == "ildcp_response"
        assert subset(out, FULFILL_KEYS) == subset(fields, FULFILL_KEYS)
        assert out["ildcp"] == subset(fields, ("clientAddress", "assetScale", "assetCode"))
    else:
        assert out["kind"] == "ilp_reject"
        assert subset(out, REJECT_KEYS) == subset(fields, REJECT_KEYS)


CCP_META = ("msg_type", "layer", "ilp")


@pytest.mark.parametrize("v", load_vectors("ccp.json"))
def test_ccp_vectors(v: Vector) -> None:
    out = decode_json(v["hex"])
    fields = v["fields"]
    payload = {k: val for k, val in fields.items() if k not in CCP_META}
    if fields["layer"] == "ilp_fulfill":
        assert out["kind"] == "ilp_fulfill"
        assert subset(out, FULFILL_KEYS) == subset(fields, FULFILL_KEYS)
        return
    kind = "ccp_" + fields["msg_type"]
    if fields["layer"] == "payload":
        assert out["kind"] == kind + "_payload"
        assert "notes" in out  # says the label is a reading of bare bytes
    else:
        assert out["kind"] == kind
        assert subset(out, tuple(fields["ilp"])) == fields["ilp"]
    got = {k: val for k, val in out["ccp"].items() if k != "modeName"}
    assert got == payload


# ---- STREAM with --secret ----------------------------------------------------------------


def stream_ilp_vectors() -> list[Any]:
    return [
        p
        for p in load_vectors("stream_crypto.json")
        if p.values[0] is None or p.values[0]["fields"]["kind"].startswith("stream_ilp")
    ]


@pytest.mark.parametrize("v", stream_ilp_vectors())
def test_stream_inside_ilp_with_secret(v: Vector) -> None:
    fields = v["fields"]
    secret = bytes.fromhex(fields["sharedSecret"])
    # the secret as SPSP hands it out: base64
    out = decode_json(v["hex"], "--secret", base64.b64encode(secret).decode())
    assert out["stream"] == fields["stream_packet"]
    assert "streamWarning" not in out
    if fields["kind"] == "stream_ilp_prepare":
        assert out["streamConditionMatches"] is True
        assert out["streamFulfillment"] == fields["fulfillment"]


def test_wrong_secret_says_so_and_still_shows_the_packet() -> None:
    v = first_vector("stream_crypto.json", lambda v: v["fields"]["kind"] == "stream_ilp_prepare")
    out = decode_json(v["hex"], "--secret", "00" * 32)
    assert out["kind"] == "ilp_prepare"
    assert "stream" not in out
    assert "authentication" in out["streamError"]
    assert out["streamConditionMatches"] is False


def test_stream_data_is_not_decrypted_without_secret() -> None:
    v = first_vector("stream_crypto.json", lambda v: v["fields"]["kind"] == "stream_ilp_prepare")
    assert "stream" not in decode_json(v["hex"])


# ---- input forms and output forms --------------------------------------------------------

EXAMPLE_PREPARE = (
    "0c68000000000000006b323031373132323330313231343035343974e1136dc71c9e5f283bec83461cbf"
    "1261c4014f72d48f8dd65453a0b84e7de10d6578616d706c652e616c696365205db343fdc41898f6df42"
    "02329139dc242dd0f558a811b46b28918fdab37c6cb0"
)


def test_base64_input_reads_like_hex() -> None:
    raw = bytes.fromhex(EXAMPLE_PREPARE)
    want = decode_json(EXAMPLE_PREPARE)
    assert decode_json(base64.b64encode(raw).decode()) == want
    assert decode_json(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == want
    assert decode_json("0x" + EXAMPLE_PREPARE.upper()) == want


def test_input_from_stdin() -> None:
    result = CliRunner().invoke(cli, ["decode", "-", "--json"], input=EXAMPLE_PREPARE + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["destination"] == "example.alice"


def test_readable_output() -> None:
    result = run(EXAMPLE_PREPARE)
    assert result.exit_code == 0
    assert "ILP Prepare" in result.stdout
    assert "example.alice" in result.stdout
    assert "2017-12-23T01:21:40.549Z" in result.stdout


def test_text_that_is_neither_hex_nor_base64() -> None:
    assert_one_line_error(run("not a packet!"), "neither hex", "nor base64")


def test_bytes_no_decoder_accepts() -> None:
    assert_one_line_error(run("ff00ff00"), "cannot decode 4 bytes", "offset 0", "tried ILP, BTP")


def test_truncated_prepare_names_the_offset() -> None:
    result = run(EXAMPLE_PREPARE[:60])
    assert_one_line_error(result, "ILP Prepare", "offset 1", "read as hex")


def invalid_timestamps() -> list[Any]:
    return [
        p
        for p in load_vectors("timestamps.json")
        if p.values[0] is None
        or (p.values[0].get("expect_error") and len(p.values[0]["fields"]["wire"]) == 17)
    ]


@pytest.mark.parametrize("v", invalid_timestamps())
def test_prepare_with_invalid_expiry_names_field_and_offset(v: Vector) -> None:
    # the expiry sits at offset 10: type, length, 8-byte amount
    raw = bytes.fromhex(EXAMPLE_PREPARE)
    bad = raw[:10] + v["fields"]["wire"].encode("ascii") + raw[27:]
    assert_one_line_error(run(bad.hex()), "ILP Prepare", "timestamp", "at offset 10")


def test_bad_secret() -> None:
    assert_one_line_error(run(EXAMPLE_PREPARE, "--secret", "!!"), "--secret")


# ---- the installed command ---------------------------------------------------------------


def test_console_command_in_a_subprocess() -> None:
    cmd = [sys.executable, "-m", "ilpnet.cli.main", "decode"]
    done = subprocess.run([*cmd, EXAMPLE_PREPARE, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["amount"] == "107"
    bad = subprocess.run([*cmd, "0c01"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr
