import { AUTHORIZATION_STATUSES, type AuthorizeAnswers, isAuthorizationStatus } from './authorize.js';
import { RequestSchemas } from './schemas.js';
import { CallError, type DevCsms } from './server.js';

/** What a command printed, and the exit status `npm run csms -- <command>` ends with. */
export interface CommandOutcome {
  output: string;
  exitCode: number;
}

/**
 * Exit statuses of `npm run csms -- <command>`, as cpctl's: 1 the charge point answered with a
 * CALLERROR or not at all, 64 usage (a payload its schema refuses too), 69 nothing to talk to
 * (no central system, no charge point), 70 the command itself failed.
 */
export const COMMAND_EXIT = { ok: 0, callError: 1, usage: 64, unavailable: 69, failed: 70 } as const;

export const COMMANDS_HELP = `Commands (at the csms> prompt, or npm run csms -- <command>):
  send [--cp ID] <Action> [<json>]  send a CALL to the charge point (ID: the only one connected
                                    when not given) after checking the payload (default {})
                                    against the OCPP 1.6 schema; prints the CALLRESULT or
                                    CALLERROR. At the prompt "<Action> <json>" alone does the same.
  authorize [<Status> [<idTag>]]    answer Authorize, and the idTagInfo of StartTransaction and
                                    StopTransaction, with <Status>, for <idTag> only when given;
                                    alone: show the answers. <Status>: ${AUTHORIZATION_STATUSES.join(', ')}
  authorize reset                   Accepted for every idTag again
  charge-points                     the charge points connected now
  help                              this text (at the prompt)`;

const ok = (output: string): CommandOutcome => ({ output, exitCode: COMMAND_EXIT.ok });
const usage = (output: string): CommandOutcome => ({ output, exitCode: COMMAND_EXIT.usage });
const unavailable = (output: string): CommandOutcome => ({ output, exitCode: COMMAND_EXIT.unavailable });

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The first word of `text` and the text after it (leading blanks removed; the rest left as it is). */
function firstWord(text: string): [word: string, rest: string] {
  const match = /^\s*(\S*)\s*([\s\S]*)$/.exec(text);
  return [match?.[1] ?? '', match?.[2] ?? ''];
}

/**
 * The development central system's commands, one line each: the same text at the console prompt
 * and through `npm run csms -- <command>` (which hands its arguments over the control socket).
 */
export class CsmsCommands {
  private readonly schemas = new RequestSchemas();

  constructor(
    private readonly csms: DevCsms,
    private readonly answers: AuthorizeAnswers,
  ) {}

  /** Runs one command line; never throws (a bug in a command must not stop the central system). */
  async run(line: string): Promise<CommandOutcome> {
    try {
      return await this.dispatch(line);
    } catch (err) {
      return {
        output: `command failed: ${err instanceof Error ? err.stack : String(err)}`,
        exitCode: COMMAND_EXIT.failed,
      };
    }
  }

  private async dispatch(line: string): Promise<CommandOutcome> {
    const [command, rest] = firstWord(line);
    switch (command) {
      case '':
      case 'help':
        return ok(COMMANDS_HELP);
      case 'send':
        return this.send(rest);
      case 'authorize':
        return this.authorize(rest);
      case 'charge-points':
        return ok(this.csms.connectedChargePoints().join('\n') || '(none connected)');
      default:
        if (this.schemas.actions().includes(command)) return this.send(line);
        return usage(`unknown command: ${command} (help lists them)`);
    }
  }

  private async send(text: string): Promise<CommandOutcome> {
    let [word, rest] = firstWord(text);
    let named: string | undefined;
    if (word === '--cp') {
      [named, rest] = firstWord(rest);
      [word, rest] = firstWord(rest);
    }
    if (word === '') return usage('send: name the action, e.g. send Reset {"type":"Soft"}');
    const action = word;
    let payload: unknown = {};
    if (rest.trim() !== '') {
      try {
        payload = JSON.parse(rest);
      } catch (err) {
        return usage(`not sent: the ${action} payload is not JSON (${messageOf(err)})`);
      }
    }
    const problems = this.schemas.problems(action, payload);
    if (problems.length > 0) {
      return usage(`not sent: ${action} does not match its schema:\n  ${problems.join('\n  ')}`);
    }
    const chargePoint = this.chargePoint(named);
    if (typeof chargePoint !== 'string') return chargePoint;
    try {
      return ok(`CALLRESULT ${JSON.stringify(await this.csms.call(chargePoint, action, payload))}`);
    } catch (err) {
      if (!(err instanceof CallError)) return { output: messageOf(err), exitCode: COMMAND_EXIT.callError };
      return {
        output: `CALLERROR ${err.code} ${JSON.stringify(err.description)} ${JSON.stringify(err.details)}`,
        exitCode: COMMAND_EXIT.callError,
      };
    }
  }

  /** The charge point a CALL goes to: the one named, else the only one connected; or why there is none. */
  private chargePoint(named: string | undefined): string | CommandOutcome {
    const connected = this.csms.connectedChargePoints();
    if (named !== undefined) {
      return connected.includes(named) ? named : unavailable(`not sent: ${named} is not connected`);
    }
    const [only] = connected;
    if (only === undefined) return unavailable('not sent: no charge point is connected');
    if (connected.length === 1) return only;
    return usage(
      `not sent: ${connected.length} charge points are connected (${connected.join(', ')}): name one with --cp`,
    );
  }

  private authorize(text: string): CommandOutcome {
    const [status, rest] = firstWord(text);
    const [idTag, extra] = firstWord(rest);
    if (status === 'reset' && idTag === '') this.answers.reset();
    else if (status !== '') {
      if (!isAuthorizationStatus(status) || extra !== '') {
        return usage(
          `usage: authorize [<Status> [<idTag>]] | authorize reset; Status: ${AUTHORIZATION_STATUSES.join(', ')}`,
        );
      }
      this.answers.set(status, idTag === '' ? undefined : idTag);
    }
    const settings = this.answers.settings();
    const lines = [`Authorize: ${settings.status} for every idTag`];
    for (const [tag, tagStatus] of Object.entries(settings.idTags)) lines.push(`  ${tag}: ${tagStatus}`);
    return ok(lines.join('\n'));
  }
}
