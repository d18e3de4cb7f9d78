import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The daemon as its own process, from source through tsx, as systemd would run the build. */
export class DaemonProcess {
  readonly lines: Array<Record<string, unknown>> = [];
  stderr = '';
  private constructor(readonly child: ChildProcess) {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) this.lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  /** `as` runs it as another user (only root can). */
  static spawn(args: string[], as?: { uid: number; gid: number }): DaemonProcess {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/bin/chargepointd.ts'), ...args],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...as,
      },
    );
    return new DaemonProcess(child);
  }

  static withConfig(dir: string, config: Record<string, unknown>): DaemonProcess {
    const file = join(dir, 'chargepoint.json');
    writeFileSync(file, JSON.stringify(config));
    return DaemonProcess.spawn(['--config', file]);
  }

  async exitCode(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const [code] = (await once(this.child, 'exit')) as [number | null];
    return code;
  }
}
