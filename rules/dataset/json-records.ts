/**
 * JSON Lines and JSON arrays split into one text a row, incrementally: text goes in chunk by
 * chunk, the rows completed so far come out, and only the unfinished row is held. Each row's
 * text is then one `JSON.parse` (V8's parser is faster than any JavaScript one), so memory is
 * one chunk plus one row whatever the file's size.
 */
import { DatasetError } from "./errors.js";

/** One row's JSON text and the line it starts on. */
export interface JsonRecord {
  line: number;
  text: string;
}

/** One JSON value a non-blank line. */
export class JsonLinesSplitter {
  private pending = "";
  private line = 1;

  push(text: string, final = false): JsonRecord[] {
    const buffer = this.pending.length > 0 ? this.pending + text : text;
    const records: JsonRecord[] = [];
    let start = 0;
    while (start < buffer.length) {
      let end = buffer.indexOf("\n", start);
      if (end === -1) {
        if (!final) break;
        end = buffer.length;
      }
      const lineText = buffer.slice(start, end);
      if (lineText.trim() !== "") records.push({ line: this.line, text: lineText });
      this.line++;
      start = end + 1;
    }
    this.pending = start < buffer.length ? buffer.slice(start) : "";
    return records;
  }
}

const enum ArrayState {
  /** Before the opening `[`. */
  Start,
  /** After `[` or a `,`: a value or (after `[`) `]` comes next. */
  Value,
  /** Inside a value. */
  InValue,
  /** After a value: `,` or `]`. */
  Separator,
  /** After the closing `]`: only whitespace may follow. */
  End,
}

/**
 * The elements of one top-level JSON array, each as its text. The splitter tracks only what
 * finds an element's end (nesting depth, strings and escapes); the element's own syntax is left
 * to JSON.parse.
 */
export class JsonArraySplitter {
  private state = ArrayState.Start;
  private pending = "";
  /** Of the current element: line it starts on, nesting depth, inside a string, after a backslash. */
  private elementLine = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private line = 1;
  /** Scan position in `pending` when a chunk ended inside an element (not rescanned). */
  private scanned = 0;
  /** Right after `[`: a `]` here closes an empty array rather than following a `,`. */
  private afterOpen = false;

  push(text: string, final = false): JsonRecord[] {
    const buffer = this.pending + text;
    const records: JsonRecord[] = [];
    let i = this.state === ArrayState.InValue ? this.scanned : 0;
    let elementStart = 0;
    for (; i < buffer.length; i++) {
      const ch = buffer.charCodeAt(i);
      if (this.state === ArrayState.InValue) {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (ch === 92 /* \ */) this.escaped = true;
          else if (ch === 34 /* " */) this.inString = false;
          else if (ch === 10) this.line++;
          continue;
        }
        if (ch === 34) this.inString = true;
        else if (ch === 123 || ch === 91) this.depth++;
        else if (ch === 125 || ch === 93) {
          if (this.depth === 0) {
            // A `]` closing the array right after a bare value (`[1, 2]`).
            records.push({ line: this.elementLine, text: buffer.slice(elementStart, i) });
            this.state = ArrayState.End;
            continue;
          }
          this.depth--;
          if (this.depth === 0 && isContainer(buffer.charCodeAt(elementStart))) {
            records.push({ line: this.elementLine, text: buffer.slice(elementStart, i + 1) });
            this.state = ArrayState.Separator;
          }
        } else if (ch === 44 && this.depth === 0) {
          records.push({ line: this.elementLine, text: buffer.slice(elementStart, i) });
          this.state = ArrayState.Value;
        } else if (ch === 10) this.line++;
        continue;
      }
      if (ch === 10) {
        this.line++;
        continue;
      }
      if (ch === 32 || ch === 9 || ch === 13 || (ch === 0xfeff && i === 0 && this.state === ArrayState.Start)) continue;
      switch (this.state) {
        case ArrayState.Start:
          if (ch !== 91) throw new DatasetError(`line ${this.line}: expected a top-level JSON array of row objects, found ${JSON.stringify(buffer[i])}`);
          this.state = ArrayState.Value;
          this.afterOpen = true; // so `]` may follow at once: an empty array is valid
          break;
        case ArrayState.Value:
          if (ch === 93 && this.afterOpen) {
            this.state = ArrayState.End;
            break;
          }
          this.afterOpen = false;
          this.state = ArrayState.InValue;
          this.elementLine = this.line;
          elementStart = i;
          this.depth = 0;
          if (ch === 34) this.inString = true;
          else if (ch === 123 || ch === 91) this.depth = 1;
          break;
        case ArrayState.Separator:
          if (ch === 44) this.state = ArrayState.Value;
          else if (ch === 93) this.state = ArrayState.End;
          else throw new DatasetError(`line ${this.line}: expected "," or "]" after an array element, found ${JSON.stringify(buffer[i])}`);
          break;
        case ArrayState.End:
          throw new DatasetError(`line ${this.line}: unexpected ${JSON.stringify(buffer[i])} after the end of the top-level array`);
      }
    }
    if (this.state === ArrayState.InValue) {
      this.pending = buffer.slice(elementStart);
      this.scanned = buffer.length - elementStart;
    } else {
      this.pending = "";
      this.scanned = 0;
    }
    if (final && this.state !== ArrayState.End) {
      throw new DatasetError(
        this.state === ArrayState.Start ? "expected a top-level JSON array of row objects, found an empty file" : `line ${this.line}: the top-level array is never closed`,
      );
    }
    return records;
  }
}

function isContainer(ch: number): boolean {
  return ch === 123 || ch === 91;
}
