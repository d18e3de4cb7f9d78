/**
 * `cpctl selftest` for a technician: per connector a PASS / FAIL line and a table of the steps with
 * their measured times; a failed, skipped or refused test is one stderr line more (and exit 1).
 */
import type { SelfTestRefusal, SelfTestSummary } from './api.js';
import { table } from './render.js';

const STEP_NAMES = {
  pilot: 'pilot',
  faultInput: 'fault input',
  reader: 'card reader',
  meter: 'meter',
  lock: 'lock',
  unlock: 'unlock',
  contactorClose: 'contactor close',
  contactorOpen: 'contactor open',
} as const;

export function renderSelfTest(summary: SelfTestSummary): { out: string; error?: string } {
  const blocks = summary.connectors.map((c) => {
    if (isRefusal(c)) return `connector ${c.connectorId}: NOT TESTED: ${c.refused}`;
    const verdict = c.passed ? 'PASS' : c.aborted ? `ABORTED: ${c.aborted}` : 'FAIL';
    const rows = c.steps.map((s) => [
      `  ${STEP_NAMES[s.step]}`,
      s.device ?? '',
      s.result,
      `${s.ms} ms`,
      s.detail,
    ]);
    return `connector ${c.connectorId}: ${verdict} (${c.durationMs} ms)\n${table([
      ['  STEP', 'DEVICE', 'RESULT', 'TIME', 'DETAIL'],
      ...rows,
    ])}`;
  });
  if (summary.passed) return { out: blocks.join('\n\n') };
  const failed = summary.connectors.flatMap((c) => {
    if (isRefusal(c)) return [`connector ${c.connectorId} not tested`];
    if (c.passed) return [];
    const steps = c.steps
      .filter((s) => s.result === 'fail' || s.result === 'skipped')
      .map(
        (s) =>
          `${STEP_NAMES[s.step]}${s.device ? ` ${s.device}` : ''} ${s.result === 'fail' ? 'failed' : 'skipped'}`,
      );
    if (c.aborted) steps.push(`aborted (${c.aborted})`);
    return [`connector ${c.connectorId}: ${steps.join(', ')}`];
  });
  return { out: blocks.join('\n\n'), error: `self-test failed: ${failed.join('; ')}` };
}

function isRefusal(c: SelfTestSummary['connectors'][number]): c is SelfTestRefusal {
  return 'refused' in c;
}
