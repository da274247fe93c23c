"""Which failures of one student's launch the fleet tries again, and which it reports at once."""

from __future__ import annotations

import botocore.exceptions
import botocore.parsers

from tm351vce.ami.fleet import _passing


def test_an_error_page_instead_of_an_aws_answer_is_tried_again():
    # What an overloaded endpoint gives: HTTP 500 with an HTML body, which botocore cannot parse.
    page = botocore.parsers.ResponseParserError("Unable to parse response, invalid XML received: b'<!doctype html>'")
    assert _passing(page)


def test_throttling_and_lost_connections_are_tried_again_and_a_refusal_is_not():
    throttled = botocore.exceptions.ClientError({"Error": {"Code": "RequestLimitExceeded"}}, "RunInstances")
    refused = botocore.exceptions.ClientError({"Error": {"Code": "UnauthorizedOperation"}}, "RunInstances")
    lost = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert _passing(throttled) and _passing(lost)
    assert not _passing(refused)
