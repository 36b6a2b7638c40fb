import { describe, expect, it } from "vitest";
import { OutputTail, TAIL_MAX_BYTES, TAIL_MAX_LINES } from "./output-tail.js";

describe("OutputTail", () => {
  it("keeps the last 64 lines", () => {
    const tail = new OutputTail();
    for (let i = 1; i <= 100; i++) tail.append(`line ${i}\n`);
    const lines = tail.toString().split("\n");
    expect(lines.at(-1)).toBe("");
    expect(lines.slice(0, -1)).toHaveLength(TAIL_MAX_LINES);
    expect(lines[0]).toBe("line 37");
  });

  it("keeps at most 16 KiB, never cutting a character in two", () => {
    const tail = new OutputTail();
    // 3-byte characters, so a byte cut lands inside one two times out of three.
    for (let i = 0; i < 20; i++) tail.append("€".repeat(1000));
    tail.append("END");
    const text = tail.toString();
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(TAIL_MAX_BYTES);
    expect(Buffer.byteLength(text)).toBeGreaterThan(TAIL_MAX_BYTES - 3);
    expect(text.endsWith("END")).toBe(true);
    expect(text.includes("\uFFFD")).toBe(false);
  });

  it("puts its own notes on a line of their own", () => {
    const tail = new OutputTail();
    tail.append("partial");
    tail.note("ebb: deadline passed");
    expect(tail.toString()).toBe("partial\nebb: deadline passed\n");
  });
});
