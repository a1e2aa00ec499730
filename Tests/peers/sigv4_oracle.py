#!/usr/bin/env python3
"""botocore as an independent SigV4 oracle for the Swift EC2 client's tests.

Reads a JSON list of requests on stdin; for each, builds the request the way botocore does (its
form-body encoding, its SigV4Auth) at the given timestamp and prints the body and the headers
botocore adds. The Swift test compares them byte for byte with its own.
"""
import datetime
import json
import sys
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    # The time comes as epoch seconds, so botocore formats X-Amz-Date independently of the Swift code.
    when = datetime.datetime.fromtimestamp(case["epoch"], datetime.timezone.utc).replace(tzinfo=None)
    request = AWSRequest(method="POST", url=case["url"], data=dict(case["params"]), headers=dict(case["headers"]))
    credentials = Credentials(case["access_key"], case["secret_key"], case.get("token"))
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(credentials, case.get("service", "ec2"), case["region"]).add_auth(request)
    body = request.body
    added = {name: request.headers[name] for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token") if name in request.headers}
    return {"body": body.decode() if isinstance(body, bytes) else body, "headers": added}


if __name__ == "__main__":
    json.dump([sign(case) for case in json.load(sys.stdin)], sys.stdout)
