"""Every rule of the consistency-group status function, as a table."""

from __future__ import annotations

import pytest

from volumelib.objects.group_status import GroupOp, resolve

A, B = "a", "b"
OK_A, ERR_B = {"id": A, "status": "available"}, {"id": B, "status": "error"}

CASES = [
    # op, answer, error, (group status, {item: status}, failed)
    # rule 1 + 6: None means success, final statuses
    (GroupOp.CREATE, None, None, ("available", {}, False)),
    (GroupOp.CREATE_FROM_SRC, (None, None), None, ("available", {A: "available", B: "available"}, False)),
    (GroupOp.CREATE_FROM_SRC, None, None, ("available", {A: "available", B: "available"}, False)),
    (GroupOp.DELETE, (None, None), None, ("deleted", {A: "deleted", B: "deleted"}, False)),
    (GroupOp.CREATE_SNAPSHOT, (None, None), None, ("available", {A: "available", B: "available"}, False)),
    (GroupOp.DELETE_SNAPSHOT, (None, None), None, ("deleted", {A: "deleted", B: "deleted"}, False)),
    (GroupOp.UPDATE, (None, None, None), None, ("available", {A: None, B: None}, False)),
    # rule 6: a transitional status reported on success does not stick
    (GroupOp.CREATE_SNAPSHOT, ({"status": "creating"}, [{"id": A, "status": "creating"}]), None,
     ("available", {A: "available", B: "available"}, False)),
    (GroupOp.DELETE, ({"status": "deleting"}, None), None, ("deleted", {A: "deleted", B: "deleted"}, False)),
    # rule 2: error in model_update raises, group error (create-from-src honoured too)
    (GroupOp.CREATE, {"status": "error"}, None, ("error", {}, True)),
    (GroupOp.CREATE_FROM_SRC, ({"status": "error"}, None), None, ("error", {A: "error", B: "error"}, True)),
    (GroupOp.DELETE, ({"status": "error_deleting"}, None), None, ("error", {A: "error", B: "error"}, True)),
    (GroupOp.UPDATE, ({"status": "error"}, None, None), None, ("error", {A: "error", B: "error"}, True)),
    # rule 3: an item error lifts the group status and fails
    (GroupOp.CREATE_SNAPSHOT, (None, [OK_A, ERR_B]), None, ("error", {A: "available", B: "error"}, True)),
    (GroupOp.DELETE, (None, [{"id": A, "status": "deleted"}, {"id": B, "status": "error_deleting"}]),
     None, ("error", {A: "deleted", B: "error_deleting"}, True)),
    (GroupOp.DELETE_SNAPSHOT, ({"status": "available"}, [{"id": A, "status": "error_deleting"}]),
     None, ("error", {A: "error_deleting", B: "error"}, True)),
    (GroupOp.UPDATE, (None, [{"id": A, "status": "error"}], None), None, ("error", {A: "error", B: "error"}, True)),
    # rule 4: failure without a per-item list marks every item error
    (GroupOp.CREATE_SNAPSHOT, ({"status": "error"}, None), None, ("error", {A: "error", B: "error"}, True)),
    # rule 5: any exception, of any family, fails everything; nothing stays creating
    (GroupOp.CREATE_FROM_SRC, None, KeyError("x"), ("error", {A: "error", B: "error"}, True)),
    (GroupOp.CREATE_SNAPSHOT, None, RuntimeError("x"), ("error", {A: "error", B: "error"}, True)),
    (GroupOp.DELETE, None, OSError("x"), ("error", {A: "error", B: "error"}, True)),
    (GroupOp.CREATE, None, ValueError("x"), ("error", {}, True)),
    # rule 7: items the driver did not mention in a failed answer become error
    (GroupOp.CREATE_FROM_SRC, (None, [ERR_B]), None, ("error", {A: "error", B: "error"}, True)),
    # malformed answers are failures, never successes
    (GroupOp.CREATE_SNAPSHOT, ("garbage", None), None, ("error", {A: "error", B: "error"}, True)),
    (GroupOp.CREATE_SNAPSHOT, 42, None, ("error", {A: "error", B: "error"}, True)),
    # entries for ids that are not ours are ignored
    (GroupOp.CREATE_SNAPSHOT, (None, [{"id": "zz", "status": "error"}]), None,
     ("available", {A: "available", B: "available"}, False)),
]


@pytest.mark.parametrize("op, answer, error, expected", CASES,
                         ids=[f"{c[0].name}-{i}" for i, c in enumerate(CASES)])
def test_rules(op, answer, error, expected):
    items = [] if op is GroupOp.CREATE else [A, B]
    out = resolve(op, items, answer, error)
    assert (out.status, dict(out.items), out.failed) == expected
    assert bool(out.reason) == out.failed
