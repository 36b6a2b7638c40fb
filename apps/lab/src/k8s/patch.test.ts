import { describe, expect, it } from "vitest";
import { applyPatch, jsonPatch, mergePatch, PatchError, strategicMerge } from "./patch.js";

describe("merge patch (RFC 7386)", () => {
  it("merges objects, removes keys set to null and replaces lists whole", () => {
    const target = { a: 1, b: { c: 2, d: 3 }, list: [{ type: "A" }, { type: "B" }] };
    expect(mergePatch(target, { b: { c: null, e: 5 }, list: [{ type: "C" }] })).toEqual({
      a: 1,
      b: { d: 3, e: 5 },
      list: [{ type: "C" }],
    });
  });
});

describe("strategic merge patch", () => {
  const pod = {
    status: {
      conditions: [
        { type: "Ready", status: "True" },
        { type: "ebb.dev/serving", status: "True" },
      ],
    },
    spec: {
      containers: [
        { name: "web", image: "lab/web:1" },
        { name: "side", image: "envoy" },
      ],
    },
  };

  it("merges conditions by type, leaving the others alone", () => {
    const out = strategicMerge(pod, {
      status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] },
    });
    expect(out).toMatchObject({
      status: {
        conditions: [
          { type: "Ready", status: "True" },
          { type: "ebb.dev/serving", status: "False" },
        ],
      },
    });
  });

  it("appends an unknown condition, merges containers by name, honours $patch: delete", () => {
    const out = strategicMerge(pod, {
      status: { conditions: [{ type: "New", status: "True" }] },
      spec: {
        containers: [
          { name: "web", image: "lab/web:2" },
          { name: "side", $patch: "delete" },
        ],
      },
    }) as typeof pod;
    expect(out.status.conditions.map((c) => c.type)).toEqual(["Ready", "ebb.dev/serving", "New"]);
    expect(out.spec.containers).toEqual([{ name: "web", image: "lab/web:2" }]);
  });

  it("a merge patch of the same body replaces the conditions list (the difference kubectl users hit)", () => {
    const out = applyPatch(pod, "application/merge-patch+json", {
      status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] },
    }) as typeof pod;
    expect(out.status.conditions).toEqual([{ type: "ebb.dev/serving", status: "False" }]);
  });
});

describe("JSON patch (RFC 6902)", () => {
  it("adds, replaces, removes, tests", () => {
    const doc = { metadata: { labels: { a: "1" } }, list: [1, 2] };
    const out = jsonPatch(doc, [
      { op: "test", path: "/metadata/labels/a", value: "1" },
      { op: "add", path: "/metadata/labels/ebb.dev~1serving", value: "false" },
      { op: "replace", path: "/list/0", value: 9 },
      { op: "add", path: "/list/-", value: 3 },
      { op: "remove", path: "/metadata/labels/a" },
    ]);
    expect(out).toEqual({ metadata: { labels: { "ebb.dev/serving": "false" } }, list: [9, 2, 3] });
    expect(doc.list).toEqual([1, 2]);
  });

  it("fails a test op and names the operation", () => {
    expect(() => jsonPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }])).toThrow(/operation 0 \(test\)/);
    expect(() => applyPatch({}, "application/apply-patch+yaml", {})).toThrow(PatchError);
  });
});
