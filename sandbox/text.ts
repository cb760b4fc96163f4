// Captured bytes as text. utf8: invalid sequences become U+FFFD. escaped: text
// that is valid UTF-8 is kept as it is; otherwise every control byte (but tab,
// newline and carriage return) and every byte above 0x7e is written as \xNN —
// what Jobe answers, so that CodeRunner shows the same.
export type OutputText = 'utf8' | 'escaped';

const decoder = new TextDecoder('utf-8', { fatal: true });

export function decodeOutput(bytes: Uint8Array, mode: OutputText): string {
  if (mode === 'utf8') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  try {
    return decoder.decode(bytes);
  } catch {
    let text = '';
    for (const byte of bytes) {
      const plain = (byte >= 0x20 && byte <= 0x7e) || byte === 0x09 || byte === 0x0a || byte === 0x0d;
      text += plain ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
    }
    return text;
  }
}
