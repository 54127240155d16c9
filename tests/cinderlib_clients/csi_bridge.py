"""A CSI client speaking JSON lines, for tests that run outside the client virtualenv.

usage: csi_bridge.py ENDPOINT   (for example unix:///tmp/x/csi.sock)

Runs in the cinderlib-clients virtualenv (tests/functional/cinderlib_clients.py) and
calls the plugin at ENDPOINT over gRPC with Ember-CSI's own generated CSI 1.1.0 stubs
(``ember_csi.v1_1_0.csi_pb2``/``csi_pb2_grpc``). Each line read from stdin is one call,
``{"service": "Controller", "method": "CreateVolume", "request": {...}}`` with the
request in protobuf's JSON mapping (field names as in the .proto); each line written
to stdout is its outcome: ``{"ok": true, "response": {...}}`` or
``{"ok": false, "code": "NOT_FOUND", "details": "..."}``. EOF ends it.
"""

import json
import sys

import grpc
from google.protobuf import json_format

from ember_csi.v1_1_0 import csi_pb2, csi_pb2_grpc

TIMEOUT = 300


def main() -> None:
    channel = grpc.insecure_channel(sys.argv[1])
    stubs = {"Identity": csi_pb2_grpc.IdentityStub(channel),
             "Controller": csi_pb2_grpc.ControllerStub(channel),
             "Node": csi_pb2_grpc.NodeStub(channel)}
    for line in sys.stdin:
        call = json.loads(line)
        method = getattr(stubs[call["service"]], call["method"])
        request_type = getattr(csi_pb2, call["method"] + "Request")
        request = json_format.ParseDict(call.get("request") or {}, request_type())
        try:
            response = method(request, timeout=TIMEOUT)
            out = {"ok": True, "response": json_format.MessageToDict(
                response, preserving_proto_field_name=True)}
        except grpc.RpcError as e:
            out = {"ok": False, "code": e.code().name, "details": e.details()}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    channel.close()


if __name__ == "__main__":
    main()
