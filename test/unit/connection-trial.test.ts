import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { TRIAL_ATTEMPTS, watchConnectionTrial } from '../../src/features/security/connection-trial.js';

function watched(onTrial: { value: boolean }) {
  const link = new EventEmitter();
  const calls: string[] = [];
  watchConnectionTrial(link, {
    onTrial: () => onTrial.value,
    confirm: () => calls.push('confirm'),
    giveUp: () => {
      calls.push('giveUp');
      onTrial.value = false;
    },
  });
  return { link, calls };
}

describe('watchConnectionTrial', () => {
  it('gives up after TRIAL_ATTEMPTS failed attempts in a row, once', () => {
    const trial = { value: true };
    const { link, calls } = watched(trial);
    for (let i = 1; i < TRIAL_ATTEMPTS; i++) link.emit('connectFailed');
    expect(calls).toEqual([]);
    link.emit('connectFailed');
    expect(calls).toEqual(['giveUp']);
    for (let i = 0; i < TRIAL_ATTEMPTS; i++) link.emit('connectFailed');
    expect(calls).toEqual(['giveUp']);
  });

  it('a connection that opens confirms the trial and starts the count again', () => {
    const trial = { value: true };
    const { link, calls } = watched(trial);
    link.emit('connectFailed');
    link.emit('connectFailed');
    link.emit('open');
    expect(calls).toEqual(['confirm']);
    link.emit('connectFailed');
    link.emit('connectFailed');
    expect(calls).toEqual(['confirm']);
  });

  it('failures while nothing is on trial do not count against the next trial', () => {
    const trial = { value: false };
    const { link, calls } = watched(trial);
    for (let i = 0; i < TRIAL_ATTEMPTS; i++) link.emit('connectFailed');
    link.emit('open');
    expect(calls).toEqual([]);
    trial.value = true;
    for (let i = 1; i < TRIAL_ATTEMPTS; i++) link.emit('connectFailed');
    expect(calls).toEqual([]);
  });
});
