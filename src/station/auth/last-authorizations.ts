import type { OcppTime } from '../../clock.js';
import type { AuthorizationSource, AuthorizationStatus } from '../auth-types.js';
import type { TransactionEngineEvents } from '../transactions.js';

/** The last decision on an id at a connector, and who made it. */
export interface AuthorizationRecord {
  idTag: string;
  status: AuthorizationStatus;
  source: AuthorizationSource;
  /** The verdict came in a StartTransaction.conf (source `central`), not an Authorize.conf. */
  via?: 'StartTransaction';
  /** Epoch ms (OCPP time). */
  at: number;
}

type AuthorizedListener = (...args: TransactionEngineEvents['authorized']) => void;

/**
 * Remembers, per connector, the last authorization the engine acted on: a technician asking why a
 * card did not start a session wants the answer and whether the list, the cache, the central system
 * or an offline rule gave it. A StartTransaction.conf that refuses the id of the transaction running
 * there replaces the decision that started it: the transaction then stops (or is held) for that
 * verdict. Kept in memory: a restart begins without one.
 */
export class LastAuthorizations {
  private readonly last = new Map<number, AuthorizationRecord>();

  constructor(
    engine: { on(event: 'authorized', listener: AuthorizedListener): unknown },
    private readonly time: Pick<OcppTime, 'nowMs'>,
  ) {
    engine.on('authorized', (connectorIds, decision) => {
      const record: AuthorizationRecord = {
        idTag: decision.idTag,
        status: decision.info.status,
        source: decision.source,
        ...(decision.via === undefined ? {} : { via: decision.via }),
        at: this.time.nowMs(),
      };
      for (const id of connectorIds) this.last.set(id, record);
    });
  }

  of(connectorId: number): AuthorizationRecord | undefined {
    return this.last.get(connectorId);
  }
}
