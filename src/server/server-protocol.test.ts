import { describe, expect, it } from "vitest";
import { encodeMessage, messageReader, type ServerMessage } from "./server-protocol.js";

describe("the kiln server's line protocol", () => {
  it("reads messages split anywhere, a character split across chunks included", () => {
    const messages: ServerMessage[] = [{ type: "out", text: "données ✓ 日本\nline two\n" }, { type: "err", text: "" }, { type: "exit", code: 130 }];
    const bytes = Buffer.from(messages.map(encodeMessage).join(""));
    for (const size of [1, 2, 3, 7, bytes.length]) {
      const got: ServerMessage[] = [];
      const read = messageReader<ServerMessage>((message) => got.push(message), (error) => {
        throw error;
      });
      for (let at = 0; at < bytes.length; at += size) read(bytes.subarray(at, at + size));
      expect(got, `chunks of ${size}`).toEqual(messages);
    }
  });

  it("stops at a line that is not JSON and says so", () => {
    const got: unknown[] = [];
    const errors: string[] = [];
    const read = messageReader((message) => got.push(message), (error) => errors.push(error.message));
    read(`${encodeMessage({ type: "exit", code: 0 })}HTTP/1.1 400 Bad Request\n${encodeMessage({ type: "exit", code: 1 })}`);
    expect(got).toEqual([{ type: "exit", code: 0 }]);
    expect(errors).toEqual(["not a kiln server message: HTTP/1.1 400 Bad Request"]);
  });
});
