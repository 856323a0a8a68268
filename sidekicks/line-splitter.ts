import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a byte stream into lines. Chunks from a socket end anywhere, also
 * inside a multibyte UTF-8 character (a container name or label in Japanese,
 * an emoji): decoding each chunk on its own would turn both halves into
 * U+FFFD, so the bytes are decoded by one StringDecoder that holds the
 * incomplete tail back for the next chunk.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  /** The complete, non-blank lines this chunk finishes (without their newline). */
  push(chunk: Buffer | string): string[] {
    this.rest += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const parts = this.rest.split('\n');
    this.rest = parts.pop()!;
    return parts.filter((line) => line.trim() !== '');
  }
}
