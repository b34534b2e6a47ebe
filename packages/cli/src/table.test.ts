import { describe, expect, it } from "vitest";
import { cell, formatPairs, formatTable } from "./table.js";

describe("formatTable", () => {
  it("aligns every column to its widest cell with two spaces between columns", () => {
    const out = formatTable(
      ["ID", "STATUS", "NODE"],
      [
        ["echo", "running", "node-1"],
        ["a-much-longer-id", "crashed", "n2"],
      ],
    );
    expect(out).toBe(
      "ID                STATUS   NODE\n" +
        "echo              running  node-1\n" +
        "a-much-longer-id  crashed  n2\n",
    );
  });

  it("right-aligns numeric columns when asked to", () => {
    const out = formatTable(["ID", { header: "RESTARTS", align: "right" }, "AGE"], [["x", 3, "5s"]]);
    expect(out.split("\n")[1]).toBe("x          3  5s");
  });

  it("never leaves trailing spaces, even when the last cell is the short one", () => {
    const out = formatTable(["A", "LONG HEADER"], [["1", "x"]]);
    for (const line of out.split("\n")) expect(line).toBe(line.trimEnd());
  });

  it("prints only the header row when there are no rows", () => {
    expect(formatTable(["ID", "STATUS"], [])).toBe("ID  STATUS\n");
  });

  it("shows an empty or missing cell as a dash so that columns keep their count", () => {
    const out = formatTable(["A", "B", "C"], [["", null, undefined]]);
    expect(out.split("\n")[1]).toBe("-  -  -");
  });

  it("counts characters, not UTF-16 units, when aligning", () => {
    const out = formatTable(["NAME", "X"], [["é😀", "1"]]);
    expect(out.split("\n")[1]).toBe("é😀    1");
  });
});

describe("cell", () => {
  it("turns newlines and tabs into single spaces so a cell stays on its row", () => {
    expect(cell("a\nb\t\tc")).toBe("a b c");
  });
});

describe("formatPairs", () => {
  it("aligns values after the longest key", () => {
    expect(
      formatPairs([
        ["ID", "echo"],
        ["STATUS", "running"],
      ]),
    ).toBe("ID      echo\nSTATUS  running\n");
  });
});
