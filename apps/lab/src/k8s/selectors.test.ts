import { describe, expect, it } from "vitest";
import { labelSelectorMatcher, parseFieldSelector, parseLabelSelector, SelectorError } from "./selectors.js";
import type { KObject } from "./types.js";

const obj = (labels: Record<string, string>, extra: Partial<KObject> = {}): KObject => ({
  metadata: { name: "web-0", namespace: "lab", labels },
  ...extra,
});

describe("label selectors", () => {
  it("supports equality, inequality, sets and existence", () => {
    const o = obj({ app: "web", tier: "front" });
    expect(parseLabelSelector("app=web")(o)).toBe(true);
    expect(parseLabelSelector("app==web,tier!=back")(o)).toBe(true);
    expect(parseLabelSelector("tier in (front, back),app")(o)).toBe(true);
    expect(parseLabelSelector("tier notin (front)")(o)).toBe(false);
    expect(parseLabelSelector("!canary")(o)).toBe(true);
    expect(parseLabelSelector("app=db")(o)).toBe(false);
    expect(
      parseLabelSelector("kubernetes.io/service-name=web")(obj({ "kubernetes.io/service-name": "web" })),
    ).toBe(true);
  });

  it("rejects what it cannot parse, naming the parameter", () => {
    expect(() => parseLabelSelector("a in b")).toThrow(SelectorError);
    expect(() => parseLabelSelector("a in b")).toThrow(/labelSelector/);
  });

  it("matches LabelSelector objects and selects nothing without one", () => {
    const m = labelSelectorMatcher({
      matchLabels: { app: "web" },
      matchExpressions: [{ key: "tier", operator: "In", values: ["front"] }],
    });
    expect(m(obj({ app: "web", tier: "front" }))).toBe(true);
    expect(m(obj({ app: "web" }))).toBe(false);
    expect(labelSelectorMatcher(undefined)(obj({}))).toBe(false);
  });
});

describe("field selectors", () => {
  it("matches dotted paths", () => {
    const o = obj({}, { status: { phase: "Running" } });
    expect(parseFieldSelector("metadata.name=web-0")(o)).toBe(true);
    expect(parseFieldSelector("metadata.name=web-1")(o)).toBe(false);
    expect(parseFieldSelector("status.phase!=Pending,metadata.namespace=lab")(o)).toBe(true);
  });
});
