// Incremental newline-delimited JSON parser for watch streams. Chunks may split an
// object (or a multi-byte character) anywhere; a large object spans many chunks, so
// pieces are kept as Buffers and joined once, when its newline arrives.

export class NdjsonParser {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly onValue: (v: unknown) => void) {}

  /** Feed one chunk; calls onValue for every complete line. Throws on malformed JSON. */
  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      let line: Buffer;
      if (this.size === 0) line = piece;
      else {
        this.parts.push(piece);
        line = Buffer.concat(this.parts, this.size + piece.length);
        this.parts = [];
        this.size = 0;
      }
      start = nl + 1;
      this.emit(line);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.parts.push(rest);
      this.size += rest.length;
    }
  }

  /** End of stream: a last line without a newline still counts. */
  end(): void {
    if (this.size === 0) return;
    const line = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.emit(line);
  }

  private emit(line: Buffer): void {
    // Skip blank lines (keep-alive newlines, CRLF leftovers).
    let i = 0;
    while (i < line.length && (line[i] === 0x20 || line[i] === 0x0d || line[i] === 0x09)) i++;
    if (i === line.length) return;
    this.onValue(JSON.parse(line.toString('utf8')));
  }
}
