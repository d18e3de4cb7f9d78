import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** ELF e_machine of the architectures these tests run on and stand for (Node's names). */
const E_MACHINE: Record<string, number> = { x64: 0x3e, arm64: 0xb7 };

/** The start of a little-endian 64-bit ELF executable for `arch`: all the installer reads of one. */
export function elfHeader(arch: string): Buffer {
  const machine = E_MACHINE[arch];
  if (machine === undefined) throw new Error(`no e_machine known for ${arch}`);
  const header = Buffer.alloc(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  header.writeUInt16LE(2, 16);
  header.writeUInt16LE(machine, 18);
  return header;
}

/**
 * A DESTDIR root that is an image of this machine's architecture, as far as scripts/install.sh
 * reads one (its bin/sh): the installer then has no architecture to warn about.
 */
export function imageRoot(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'bin/sh'), elfHeader(process.arch), { mode: 0o755 });
  return dir;
}
